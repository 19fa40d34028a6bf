namespace Workbench.Papers.OrgEval;

/// <summary>A labelled edit turning a reference instance into a candidate (a stand-in for an LLM's output).</summary>
/// <param name="Name">short name used in records</param>
/// <param name="Description">what the edit does</param>
/// <param name="Equivalent">the label: equivalent under ORGEval's definition (equal up to a permutation of variables and rows
/// after normalisation)</param>
public sealed record EditKind(string Name, bool Equivalent, string Description);

/// <summary>
/// The spec's edits (§5). Equivalence-preserving: permute and rename, bound ↔ single-variable row (also written negated,
/// −x ≥ −u, where the official code's sign handling goes wrong), `≤ 0` ↔ `−(·) ≥ 0`, negate a zero-rhs equality (only one whose
/// coefficient sum is not 0: normalisation cannot fix the sign of a zero-sum row). Errors: drop or duplicate a row, perturb one
/// coefficient, flip a sense, drop integrality, add a variable, change one cost, swap min/max, scale a row by 2 (feasible set
/// unchanged, but not equivalent under ORGEval's definition). WL-hard: split the 2n-cycle into two n-cycles. Every candidate is
/// also permuted and renamed. Random choices come from the pair's own RNG, so every data configuration gets the same edit.
/// </summary>
public static class Edits
{
    public static readonly EditKind[] All =
    [
        new("permute", true, "permute and rename variables and rows"),
        new("bound-to-row", true, "move a variable's upper bound into a row x ≤ u"),
        new("bound-to-row-negated", true, "move a variable's upper bound into a row −x ≥ −u"),
        new("flip-zero-row", true, "rewrite a rhs-0 inequality e ≤ 0 as −e ≥ 0 (or back)"),
        new("negate-equality", true, "negate a rhs-0 equality (nonzero coefficient sum)"),
        new("drop-row", false, "drop a constraint"),
        new("duplicate-row", false, "duplicate a constraint"),
        new("perturb-coef", false, "multiply one coefficient by 1 ± (0.1 … 0.5)"),
        new("flip-sense", false, "flip one row's sense (≤ ↔ ≥, = → ≤)"),
        new("drop-integrality", false, "make one integer variable continuous"),
        new("add-variable", false, "add a continuous variable with a cost and one coefficient"),
        new("change-cost", false, "change one objective coefficient"),
        new("swap-sense", false, "swap min and max"),
        new("scale-row", false, "multiply one row (coefficients and rhs) by 2"),
        new("split-cycle", false, "two n-cycles instead of one 2n-cycle (identical data)"),
    ];

    public static EditKind Find(string name) => All.FirstOrDefault(e => e.Name == name) ?? throw new ArgumentException($"unknown edit '{name}'");

    /// <summary>The edits that make sense for a family (all of them apply to any instance of it).</summary>
    public static IReadOnlyList<EditKind> For(Family f)
    {
        if (f.Name == "cycle") return [Find("permute"), Find("split-cycle")];
        var names = new List<string> { "permute", "bound-to-row", "bound-to-row-negated", "drop-row", "duplicate-row", "perturb-coef", "flip-sense", "add-variable", "change-cost", "swap-sense", "scale-row" };
        if (f.Name is "blending" or "facility" or "binpacking" or "scheduling" or "binpacking-equal") names.Add("flip-zero-row");
        if (f.Name == "mincostflow") names.Add("negate-equality");
        if (f.Milp) names.Add("drop-integrality");
        return names.Select(Find).ToList();
    }

    /// <summary>Applies the edit (choices from <paramref name="r"/>), then permutes and renames everything (from <paramref name="r"/> too).
    /// Returns the candidate and a note on what was changed.</summary>
    public static (LpModel Candidate, string Note) Apply(LpModel m, EditKind edit, Random r, Func<LpModel>? splitCycle = null)
    {
        var vars = m.Variables.ToList(); var rows = m.Constraints.ToList(); var sense = m.Sense;
        string note = edit.Name;
        int Pick(int count) => count == 0 ? -1 : r.Next(count);
        switch (edit.Name)
        {
            case "permute": break;
            case "bound-to-row": case "bound-to-row-negated":
            {
                var finite = Enumerable.Range(0, vars.Count).Where(j => double.IsFinite(vars[j].Upper) && vars[j].Upper != vars[j].Lower).ToList();
                int k = Pick(finite.Count);
                if (k < 0) { note = "permute (no finite upper bound to move)"; break; }
                int j = finite[k]; var v = vars[j];
                vars[j] = v with { Upper = double.PositiveInfinity, Type = v.Type == VarType.Binary ? VarType.Integer : v.Type };
                bool neg = edit.Name.EndsWith("negated");
                rows.Add(new Constraint($"ub_{v.Name}", neg ? RowSense.Ge : RowSense.Le, neg ? -v.Upper : v.Upper, [new Term(j, neg ? -1 : 1)]));
                note = $"{edit.Name}: {v.Name} ≤ {v.Upper}";
                break;
            }
            case "flip-zero-row":
            {
                var cand = Enumerable.Range(0, rows.Count).Where(i => rows[i].Rhs == 0 && rows[i].Sense != RowSense.Eq && rows[i].Terms.Length > 1).ToList();
                int k = Pick(cand.Count);
                if (k < 0) { note = "permute (no rhs-0 inequality)"; break; }
                var c = rows[cand[k]];
                rows[cand[k]] = c with { Sense = c.Sense == RowSense.Le ? RowSense.Ge : RowSense.Le, Terms = Neg(c.Terms) };
                note = $"flip-zero-row: {c.Name}";
                break;
            }
            case "negate-equality":
            {
                var cand = Enumerable.Range(0, rows.Count).Where(i => rows[i].Rhs == 0 && rows[i].Sense == RowSense.Eq && rows[i].Terms.Length > 1 && rows[i].Terms.Sum(t => t.Coef) != 0).ToList();
                int k = Pick(cand.Count);
                if (k < 0) { note = "permute (no rhs-0 equality with a nonzero coefficient sum)"; break; }
                rows[cand[k]] = rows[cand[k]] with { Terms = Neg(rows[cand[k]].Terms) };
                note = $"negate-equality: {rows[cand[k]].Name}";
                break;
            }
            case "drop-row": { int i = Pick(rows.Count); note = $"drop-row: {rows[i].Name}"; rows.RemoveAt(i); break; }
            case "duplicate-row": { int i = Pick(rows.Count); note = $"duplicate-row: {rows[i].Name}"; rows.Add(rows[i] with { Name = rows[i].Name + "_dup" }); break; }
            case "perturb-coef":
            {
                var nz = rows.SelectMany((c, i) => c.Terms.Select((t, k) => (i, k))).ToList();
                var (i, k) = nz[Pick(nz.Count)];
                double f = 1 + (r.Next(2) == 0 ? -1 : 1) * (0.1 + 0.4 * r.NextDouble());
                var terms = rows[i].Terms.ToArray(); terms[k] = terms[k] with { Coef = terms[k].Coef * f };
                rows[i] = rows[i] with { Terms = terms };
                note = $"perturb-coef: {rows[i].Name} × {f:F3}";
                break;
            }
            case "flip-sense":
            {
                int i = Pick(rows.Count); var c = rows[i];
                rows[i] = c with { Sense = c.Sense == RowSense.Le ? RowSense.Ge : RowSense.Le };
                note = $"flip-sense: {c.Name}";
                break;
            }
            case "drop-integrality":
            {
                var ints = Enumerable.Range(0, vars.Count).Where(j => vars[j].Type != VarType.Continuous).ToList();
                int k = Pick(ints.Count);
                if (k < 0) { note = "permute (no integer variable)"; break; }
                vars[ints[k]] = vars[ints[k]] with { Type = VarType.Continuous };
                note = $"drop-integrality: {vars[ints[k]].Name}";
                break;
            }
            case "add-variable":
            {
                int i = Pick(rows.Count);
                vars.Add(new Variable("extra", VarType.Continuous, 0, double.PositiveInfinity, r.Next(1, 10)));
                if (i >= 0) rows[i] = rows[i] with { Terms = [.. rows[i].Terms, new Term(vars.Count - 1, r.Next(1, 5))] };
                note = "add-variable";
                break;
            }
            case "change-cost":
            {
                int j = Pick(vars.Count);
                vars[j] = vars[j] with { Cost = vars[j].Cost + (r.Next(2) == 0 ? -1 : 1) * r.Next(1, 6) };
                note = $"change-cost: {vars[j].Name}";
                break;
            }
            case "swap-sense": sense = sense == ObjSense.Minimize ? ObjSense.Maximize : ObjSense.Minimize; break;
            case "scale-row":
            {
                int i = Pick(rows.Count);
                rows[i] = rows[i] with { Rhs = 2 * rows[i].Rhs, Terms = rows[i].Terms.Select(t => t with { Coef = 2 * t.Coef }).ToArray() };
                note = $"scale-row: {rows[i].Name}";
                break;
            }
            case "split-cycle":
                var split = splitCycle?.Invoke() ?? throw new ArgumentException("split-cycle needs the two-cycle instance");
                vars = split.Variables.ToList(); rows = split.Constraints.ToList();
                break;
            default: throw new ArgumentException($"unknown edit '{edit.Name}'");
        }
        var edited = new LpModel(m.Name + "-cand", sense, vars.ToArray(), rows.ToArray()).Validate();
        return (PermuteAndRename(edited, r), note);
    }

    static Term[] Neg(Term[] t) => t.Select(x => x with { Coef = -x.Coef }).ToArray();

    static int[] Shuffle(int n, Random r)
    {
        var p = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int k = r.Next(i + 1); (p[i], p[k]) = (p[k], p[i]); }
        return p;
    }

    /// <summary>A random permutation of variables, rows and the terms inside rows, with fresh names (v…, c…).</summary>
    public static LpModel PermuteAndRename(LpModel m, Random r)
    {
        var pv = Shuffle(m.NumVars, r); var pc = Shuffle(m.NumRows, r);
        var inv = new int[m.NumVars];
        for (int k = 0; k < pv.Length; k++) inv[pv[k]] = k;
        var vars = pv.Select((old, k) => m.Variables[old] with { Name = $"v{k}" }).ToArray();
        var rows = pc.Select((old, k) =>
        {
            var c = m.Constraints[old];
            var terms = c.Terms.Select(t => new Term(inv[t.Var], t.Coef)).ToArray();
            var order = Shuffle(terms.Length, r);
            return new Constraint($"c{k}", c.Sense, c.Rhs, order.Select(o => terms[o]).ToArray());
        }).ToArray();
        return new LpModel(m.Name, m.Sense, vars, rows);
    }
}
