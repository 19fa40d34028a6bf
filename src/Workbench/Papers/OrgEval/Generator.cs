namespace Workbench.Papers.OrgEval;

/// <summary>A problem family: a model template whose data (and random structure) come from a seeded RNG (spec §5 "OptGen").</summary>
/// <param name="Name">family name</param>
/// <param name="Milp">has integer variables</param>
/// <param name="Description">the model, and what the size parameter N counts (products, foods, nodes, items, sets, ...)</param>
/// <param name="Build">(N, data RNG) → instance</param>
/// <param name="WlHard">built so that WL cannot certify it (cycles, equal-weight bin packing)</param>
public sealed record Family(string Name, bool Milp, string Description, Func<int, Random, LpModel> Build, bool WlHard = false);

/// <summary>
/// The spec's families with parameter domains (integers, so that rendering never blurs them). LP: production planning, diet,
/// transportation, min-cost flow, blending; MILP: knapsack, multi-knapsack, set cover, facility location, bin packing and
/// identical-machine scheduling (symmetric on purpose). WL-hard: the 2n-cycle (x_i + x_{i+1} ≤ b, identical data) and bin packing
/// with equal item weights. Random data can make an instance infeasible (supply below demand, an element no set covers): that
/// is part of the solver baseline's trouble, kept on purpose.
/// </summary>
public static class Generator
{
    static int U(Random r, int lo, int hi) => r.Next(lo, hi + 1);
    static string X(int j) => $"x{j}";

    public static readonly Family[] Families =
    [
        new("production", false, "max Σ p_j x_j, resources Σ a_ij x_j ≤ b_i, 0 ≤ x_j ≤ demand_j; N products, N/2 resources", (n, r) =>
        {
            var b = new ModelBuilder("production", ObjSense.Maximize);
            int m = Math.Max(2, n / 2);
            var x = Enumerable.Range(0, n).Select(j => b.Var(X(j), U(r, 5, 50), up: U(r, 5, 40))).ToArray();
            for (int i = 0; i < m; i++) b.Row($"res{i}", x.Select(j => (j, (double)U(r, 1, 9))), RowSense.Le, U(r, 20, 30) * n);
            return b.Build();
        }),
        new("diet", false, "min Σ c_j x_j, nutrients Σ a_ij x_j ≥ r_i, 0 ≤ x_j ≤ u_j; N foods, N/2 nutrients", (n, r) =>
        {
            var b = new ModelBuilder("diet");
            int m = Math.Max(2, n / 2);
            var x = Enumerable.Range(0, n).Select(j => b.Var(X(j), U(r, 1, 20), up: U(r, 1, 4))).ToArray();
            for (int i = 0; i < m; i++)
                b.Row($"nut{i}", x.Where(_ => r.NextDouble() < 0.6).Select(j => (j, (double)U(r, 1, 10))), RowSense.Ge, U(r, 10, 9 * n));
            return b.Build();
        }),
        new("transport", false, "min Σ c_st x_st, supply Σ_t x_st ≤ a_s, demand Σ_s x_st ≥ d_t; N/2 sources × N/2 sinks", (n, r) =>
        {
            var b = new ModelBuilder("transport");
            int s = Math.Max(2, n / 2), t = Math.Max(2, n - s);
            var x = new int[s, t];
            for (int i = 0; i < s; i++) for (int k = 0; k < t; k++) x[i, k] = b.Var($"x{i}_{k}", U(r, 1, 20));
            for (int i = 0; i < s; i++) b.Row($"sup{i}", Enumerable.Range(0, t).Select(k => (x[i, k], 1.0)), RowSense.Le, U(r, 10, 50));
            for (int k = 0; k < t; k++) b.Row($"dem{k}", Enumerable.Range(0, s).Select(i => (x[i, k], 1.0)), RowSense.Ge, U(r, 10, 40));
            return b.Build();
        }),
        new("mincostflow", false, "min Σ c_a f_a, conservation out − in = b_v, 0 ≤ f_a ≤ cap_a; N nodes, a ring plus N random arcs", (n, r) =>
        {
            var b = new ModelBuilder("mincostflow");
            int nodes = Math.Max(3, n);
            var arcs = new List<(int From, int To)>();
            for (int v = 0; v < nodes; v++) arcs.Add((v, (v + 1) % nodes));
            var rs = new Random(nodes * 7919);           // the arc set is part of the model (same for every data configuration)
            while (arcs.Count < 2 * nodes) { int a = rs.Next(nodes), c = rs.Next(nodes); if (a != c && !arcs.Contains((a, c))) arcs.Add((a, c)); }
            var f = arcs.Select((a, k) => b.Var($"f{a.From}_{a.To}", U(r, 1, 10), up: U(r, 5, 20))).ToArray();
            int supply = U(r, 5, 15);
            for (int v = 0; v < nodes; v++)
            {
                var terms = arcs.Select((a, k) => (f[k], a.From == v ? 1.0 : a.To == v ? -1.0 : 0.0)).Where(t => t.Item2 != 0);
                b.Row($"node{v}", terms, RowSense.Eq, v == 0 ? supply : v == nodes - 1 ? -supply : 0);
            }
            return b.Build();
        }),
        new("blending", false, "min Σ c_i x_i, Σ x_i = 1, quality Σ (q_ik − lo_k) x_i ≥ 0 and Σ (q_ik − hi_k) x_i ≤ 0; N ingredients, N/3 qualities", (n, r) =>
        {
            var b = new ModelBuilder("blending");
            int k = Math.Max(2, n / 3);
            var x = Enumerable.Range(0, n).Select(j => b.Var(X(j), U(r, 1, 30), up: U(r, 2, 10) / 10.0)).ToArray();
            var q = x.Select(_ => Enumerable.Range(0, k).Select(_ => U(r, 0, 10)).ToArray()).ToArray();
            b.Row("total", x.Select(j => (j, 1.0)), RowSense.Eq, 1);
            for (int c = 0; c < k; c++)
            {
                int lo = U(r, 2, 5), hi = lo + U(r, 1, 4);
                b.Row($"qlo{c}", x.Select(j => (j, (double)(q[j][c] - lo))), RowSense.Ge, 0);
                b.Row($"qhi{c}", x.Select(j => (j, (double)(q[j][c] - hi))), RowSense.Le, 0);
            }
            return b.Build();
        }),
        new("knapsack", true, "max Σ v_j x_j, Σ w_j x_j ≤ C, x binary; N items", (n, r) =>
        {
            var b = new ModelBuilder("knapsack", ObjSense.Maximize);
            var x = Enumerable.Range(0, n).Select(j => b.Var(X(j), U(r, 5, 50), VarType.Binary)).ToArray();
            var w = x.Select(_ => U(r, 3, 30)).ToArray();
            b.Row("cap", x.Select(j => (j, (double)w[j])), RowSense.Le, Math.Max(1, (int)(0.4 * w.Sum())));
            return b.Build();
        }),
        new("multiknapsack", true, "max Σ v_i x_ik, Σ_k x_ik ≤ 1, Σ_i w_i x_ik ≤ C_k; N items, N/4 knapsacks of different capacities", (n, r) =>
        {
            var b = new ModelBuilder("multiknapsack", ObjSense.Maximize);
            int kn = Math.Max(2, n / 4);
            var v = Enumerable.Range(0, n).Select(_ => U(r, 5, 50)).ToArray(); var w = Enumerable.Range(0, n).Select(_ => U(r, 3, 30)).ToArray();
            var x = new int[n, kn];
            for (int i = 0; i < n; i++) for (int k = 0; k < kn; k++) x[i, k] = b.Var($"x{i}_{k}", v[i], VarType.Binary);
            for (int i = 0; i < n; i++) b.Row($"once{i}", Enumerable.Range(0, kn).Select(k => (x[i, k], 1.0)), RowSense.Le, 1);
            for (int k = 0; k < kn; k++) b.Row($"cap{k}", Enumerable.Range(0, n).Select(i => (x[i, k], (double)w[i])), RowSense.Le, U(r, 20, 60));
            return b.Build();
        }),
        new("setcover", true, "min Σ c_j x_j, Σ_{j covers e} x_j ≥ 1, x binary; N sets, N/2 elements, each set covers an element w.p. min(0.25, 8/elements)", (n, r) =>
        {
            var b = new ModelBuilder("setcover");
            int m = Math.Max(3, n / 2);
            var x = Enumerable.Range(0, n).Select(j => b.Var(X(j), U(r, 1, 20), VarType.Binary)).ToArray();
            double pc = Math.Min(0.25, 8.0 / m);             // about 8 elements per set at large sizes
            var cover = x.Select(_ => Enumerable.Range(0, m).Where(_ => r.NextDouble() < pc).ToHashSet()).ToArray();
            for (int e = 0; e < m; e++) b.Row($"e{e}", x.Where(j => cover[j].Contains(e)).Select(j => (j, 1.0)), RowSense.Ge, 1);
            return b.Build();
        }),
        new("facility", true, "min Σ f_k y_k + Σ c_ki x_ki, Σ_k x_ki = 1, Σ_i d_i x_ki − cap_k y_k ≤ 0, y binary, 0 ≤ x ≤ 1; N/4 sites, 3N/4 customers", (n, r) =>
        {
            var b = new ModelBuilder("facility");
            int fs = Math.Max(2, n / 4), cs = Math.Max(2, n - fs);
            var y = Enumerable.Range(0, fs).Select(k => b.Var($"y{k}", U(r, 20, 80), VarType.Binary)).ToArray();
            var x = new int[fs, cs];
            for (int k = 0; k < fs; k++) for (int i = 0; i < cs; i++) x[k, i] = b.Var($"x{k}_{i}", U(r, 1, 30), up: 1);
            var d = Enumerable.Range(0, cs).Select(_ => U(r, 5, 15)).ToArray();
            for (int i = 0; i < cs; i++) b.Row($"serve{i}", Enumerable.Range(0, fs).Select(k => (x[k, i], 1.0)), RowSense.Eq, 1);
            for (int k = 0; k < fs; k++)
                b.Row($"cap{k}", Enumerable.Range(0, cs).Select(i => (x[k, i], (double)d[i])).Append((y[k], -(double)U(r, 5, 12) * cs / fs * 2)), RowSense.Le, 0);
            return b.Build();
        }),
        new("binpacking", true, "min Σ y_b, Σ_b x_ib = 1, Σ_i w_i x_ib − C y_b ≤ 0; N items with distinct weights, N/2+1 identical bins (symmetric)", (n, r) =>
            BinPacking(n, r, equalWeights: false)),
        new("scheduling", true, "min T, Σ_m x_jm = 1, Σ_j p_j x_jm − T ≤ 0; N jobs with distinct times, N/4 identical machines (symmetric)", (n, r) =>
        {
            var b = new ModelBuilder("scheduling");
            int ms = Math.Max(2, n / 4);
            var p = Distinct(r, n, 1, 40);
            var x = new int[n, ms];
            for (int j = 0; j < n; j++) for (int k = 0; k < ms; k++) x[j, k] = b.Var($"x{j}_{k}", 0, VarType.Binary);
            int t = b.Var("T", 1);
            for (int j = 0; j < n; j++) b.Row($"assign{j}", Enumerable.Range(0, ms).Select(k => (x[j, k], 1.0)), RowSense.Eq, 1);
            for (int k = 0; k < ms; k++) b.Row($"load{k}", Enumerable.Range(0, n).Select(j => (x[j, k], (double)p[j])).Append((t, -1.0)), RowSense.Le, 0);
            return b.Build();
        }),
        new("cycle", false, "max c Σ x_i, x_i + x_{i+1} ≤ b around one 2N-cycle, identical data (WL-hard: every graph of this kind is 2-regular)", (n, r) =>
            Cycles(n, r, split: false), WlHard: true),
        new("binpacking-equal", true, "bin packing with all item weights equal (WL-hard: two same-coloured x in one bin component)", (n, r) =>
            BinPacking(n, r, equalWeights: true), WlHard: true),
    ];

    public static Family Find(string name) => Families.FirstOrDefault(f => f.Name == name)
        ?? throw new ArgumentException($"unknown family '{name}' (known: {string.Join(", ", Families.Select(f => f.Name))})");

    static int[] Distinct(Random r, int n, int lo, int hi)
    {
        var pool = Enumerable.Range(lo, hi - lo + 1).ToList();
        var res = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (pool.Count == 0) pool = Enumerable.Range(lo, hi - lo + 1).ToList();      // more items than values: repeats
            int k = r.Next(pool.Count); res[i] = pool[k]; pool.RemoveAt(k);
        }
        return res;
    }

    /// <summary>Bin packing with identical bins: x_ib (item i in bin b), y_b (bin used).</summary>
    public static LpModel BinPacking(int n, Random r, bool equalWeights)
    {
        var b = new ModelBuilder(equalWeights ? "binpacking-equal" : "binpacking");
        int bins = n / 2 + 1, cap = 40;
        int w0 = U(r, 5, 15);
        var w = equalWeights ? Enumerable.Repeat(w0, n).ToArray() : Distinct(r, n, 3, 30);
        var x = new int[n, bins];
        for (int i = 0; i < n; i++) for (int k = 0; k < bins; k++) x[i, k] = b.Var($"x{i}_{k}", 0, VarType.Binary);
        var y = Enumerable.Range(0, bins).Select(k => b.Var($"y{k}", 1, VarType.Binary)).ToArray();
        for (int i = 0; i < n; i++) b.Row($"assign{i}", Enumerable.Range(0, bins).Select(k => (x[i, k], 1.0)), RowSense.Eq, 1);
        for (int k = 0; k < bins; k++) b.Row($"cap{k}", Enumerable.Range(0, n).Select(i => (x[i, k], (double)w[i])).Append((y[k], -(double)cap)), RowSense.Le, 0);
        return b.Build();
    }

    /// <summary>One 2n-cycle (split = false) or two n-cycles (split = true) of rows x_i + x_j ≤ b with identical data.</summary>
    public static LpModel Cycles(int n, Random r, bool split)
    {
        var b = new ModelBuilder(split ? "two-cycles" : "cycle", ObjSense.Maximize);
        int c = U(r, 1, 9), rhs = U(r, 1, 3);
        var x = Enumerable.Range(0, 2 * n).Select(j => b.Var(X(j), c, up: rhs)).ToArray();
        if (!split) for (int i = 0; i < 2 * n; i++) b.Row($"r{i}", [(x[i], 1.0), (x[(i + 1) % (2 * n)], 1.0)], RowSense.Le, rhs);
        else
            for (int h = 0; h < 2; h++)
                for (int i = 0; i < n; i++) b.Row($"r{h}_{i}", [(x[h * n + i], 1.0), (x[h * n + (i + 1) % n], 1.0)], RowSense.Le, rhs);
        return b.Build();
    }
}
