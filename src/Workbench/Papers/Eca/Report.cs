using System.Globalization;
using Plotly.NET;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Eca;

/// <summary>The ECA report and the charts a notebook shows.</summary>
public static class EcaReport
{
    static string F(double v, string f = "F3") => v.ToString(f, CultureInfo.InvariantCulture);

    /// <summary>Which operand blocks enter which product: rows = products (m1…m24, then the triangular ones), columns =
    /// left blocks then right blocks; +1 / −1 coefficients, 0 absent.</summary>
    public static GenericChart CoefficientHeatmap(Schemes.Scheme s)
    {
        int nl = s.Name.StartsWith('B') ? 10 : 16;
        var left = s.Products[0].Left.Letter; var right = s.Products[0].Right.Letter;
        var z = s.Products.Select(p => Enumerable.Range(1, nl).Select(i => (double)p.Left.Terms.GetValueOrDefault(i))
            .Concat(Enumerable.Range(1, 16).Select(i => (double)p.Right.Terms.GetValueOrDefault(i))).ToArray()).ToArray();
        var x = Enumerable.Range(1, nl).Select(i => $"{left}{i}").Concat(Enumerable.Range(1, 16).Select(i => $"{right}{i}")).ToArray();
        var y = s.Products.Select(p => p.Name + (p.Triangular ? " (tri)" : "")).ToArray();
        return Charts.Heatmap(z, $"Scheme {s.Name}: operand coefficients of the products", "block", "product", x, y);
    }

    /// <summary>Which blocks of the output come from where: 4×4 grid, 2 = triangular sub-problem, 1 = sum of dense products, 0 = zero.</summary>
    public static GenericChart BlockDiagram(Schemes.Scheme s)
    {
        var z = new double[4][];
        for (int r = 0; r < 4; r++) z[r] = new double[4];
        bool isA = s.Name.StartsWith('A');
        foreach (var o in s.Outputs) z[o.Row][o.Col] = o.Terms.Any(t => t.Product.StartsWith('r') || t.Product.StartsWith('h') || t.Product.StartsWith('T')) ? 1.5 : 1;
        if (isA) { z[0][0] = 2; z[3][3] = 2; }
        else { for (int c = 0; c < 4; c++) z[0][c] = 2; }
        var labels = Enumerable.Range(0, 4).Select(i => i.ToString()).ToArray();
        return Charts.Heatmap(z, $"Output blocks of {s.Name.Split(':')[0]}: 2 triangular sub-problem, 1.5 dense + triangular, 1 dense",
            "block column", "block row", labels, labels);
    }

    public static GenericChart RatioChart(Func<long, long> d, string family, int maxDepth)
    {
        var ls = Enumerable.Range(4, 13).Select(i => 1L << i).ToArray();
        var series = Enumerable.Range(1, maxDepth).Select(k => new Series($"depth {k}", ls.Select(l => Math.Log2(l)).ToArray(),
            ls.Select(l => OpCounts.RatioA(l, d(l), k)).ToArray()));
        return Charts.Lines(series.Append(new Series("naive = 1", [4, 16], [1, 1])), $"ECA ops / naive masked ops, Step A, {family}", "log2 L", "ratio");
    }

    public static GenericChart ErrorChart(IReadOnlyList<ErrorRow> rows) =>
        Charts.Lines([new Series("ECA (float32)", rows.Select(r => (double)r.Depth).ToArray(), rows.Select(r => r.EcaRelError).ToArray()),
            new Series("plain matmul (float32)", rows.Select(r => (double)r.Depth).ToArray(), rows.Select(r => r.MatmulRelError).ToArray())],
            "Relative error against float64 vs recursion depth", "depth", "max |err| / max |ref|");

    public static GenericChart BlockErrorHeatmap(double[][] errors, int n) =>
        Charts.Heatmap(errors, $"float32 max |ECA − float64| per output block (L = d = {n}, one level; upper blocks are zero)",
            "block column", "block row", ["0", "1", "2", "3"], ["0", "1", "2", "3"]);

    public static GenericChart BaselineChart(long l, long d)
    {
        var rows = EcaSteps.BaselineMults(l, d);
        return Charts.Bar(rows.Select(r => r.Method).ToArray(), rows.Select(r => r.Ratio).ToArray(),
            $"Multiplications relative to a full matmul, L = {l}, d = {d}", null, "fraction of L²d");
    }

    public static GenericChart LmChart(LmComparison lm)
    {
        var x = Enumerable.Range(1, lm.Steps).Select(i => (double)i).ToArray();
        return Charts.Lines([new Series("standard attention", x, lm.StandardLoss), new Series("ECA attention", x, lm.EcaLoss)],
            $"Training loss, {lm.Dtype}, max |Δ| = {lm.MaxAbsDiff:E1}", "step", "cross-entropy", markers: false);
    }

    public static HtmlReport Build(EcaResults r)
    {
        var rep = new HtmlReport(EcaExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); {F(r.WallSeconds, "F0")} s.");
        rep.Para("ECA computes every matrix product of causal attention — a masked output tril(Q Kᵀ) (Step A) or a triangular operand P V " +
                 "(Step B) — from a 4×4 block grid with 24 dense block products and 10 triangular ones (instead of 24 + 16), recursively.");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Heading("The schemes");
        rep.Chart(BlockDiagram(Schemes.A)); rep.Chart(CoefficientHeatmap(Schemes.A));
        rep.Chart(BlockDiagram(Schemes.B)); rep.Chart(CoefficientHeatmap(Schemes.B));
        rep.Heading("Exactness");
        rep.Table(new Table(["scheme", "L", "d", "depth", "max |ECA − ref|", "inputs"],
            r.Exactness.Select(x => new[] { x.Scheme, x.L.ToString(), x.D.ToString(), x.Depth.ToString(), x.MaxAbsError.ToString("G3", CultureInfo.InvariantCulture), x.Inputs }).ToList()));
        rep.Heading("Counted operations");
        rep.Table(new Table(["scheme", "L", "d", "depth", "ECA mults", "ECA adds", "naive mults", "naive adds", "mults ratio", "total ratio"],
            r.Ratios.Select(x => new[] { x.Scheme, x.L.ToString(), x.D.ToString(), x.Depth.ToString(), x.EcaMults.ToString("G4", CultureInfo.InvariantCulture),
                x.EcaAdds.ToString("G4", CultureInfo.InvariantCulture), x.NaiveMults.ToString("G4", CultureInfo.InvariantCulture), x.NaiveAdds.ToString("G4", CultureInfo.InvariantCulture),
                F(x.MultRatio), F(x.TotalRatio) }).ToList()));
        rep.Chart(RatioChart(l => l, "d = L", r.Config.MaxDepth));
        rep.Chart(RatioChart(_ => 128, "d = 128", r.Config.MaxDepth));
        rep.Chart(RatioChart(_ => 64, "d = 64", r.Config.MaxDepth));
        rep.Table(new Table(["family", "pays off from L", "ratio there", "ratio one step below"],
            r.Crossovers.Select(c => new[] { c.Family, c.FromL?.ToString() ?? "never", F(c.RatioAtFromL), F(c.RatioBelow) }).ToList()));
        rep.Para("Which baseline ECA is compared with changes the story: against a full matmul followed by tril, most of the saving is the " +
                 "skipped upper triangle; only the comparison with the ideal masked product isolates the algebra.");
        rep.Chart(BaselineChart(8192, 8192));
        rep.Heading("float32 error");
        rep.Chart(ErrorChart(r.Float32Error));
        rep.Chart(BlockErrorHeatmap(r.BlockErrors, r.Config.ErrorSize));
        rep.Heading("Attention");
        var a = r.Attention;
        rep.Para($"B={a.Batch}, H={a.Heads}, L={a.L}, d={a.D}, depth {a.Depth}, float64: max |Δ| O {a.MaxO:E1}, dQ {a.MaxDQ:E1}, dK {a.MaxDK:E1}, dV {a.MaxDV:E1}; " +
                 $"counted operations {F(a.EcaOps / a.NaiveOps)}× the naive masked ones.");
        if (r.Lm is { } lm)
        {
            rep.Heading("Training a causal LM with both attentions");
            rep.Chart(LmChart(lm));
        }
        rep.Heading("Timing of tril(Q Kᵀ)");
        rep.Table(new Table(["L", "method", "ms (median)", "executed GEMM GFLOP", "device"],
            r.Timing.Select(t => new[] { t.L.ToString(), t.Method, F(t.Milliseconds, "F2"), F(t.GFlopCount, "F2"), t.Device }).ToList()));
        rep.Para("Relative to a full matmul followed by tril, most of any gain comes from skipping the upper triangle (the blocked masked product " +
                 "does that with 40 block GEMMs); ECA's algebra takes it from 40 to 34, and its extra block additions and launches cost time at small sizes.");
        return rep;
    }
}
