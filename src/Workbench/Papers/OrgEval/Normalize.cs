namespace Workbench.Papers.OrgEval;

/// <summary>What normalisation did to one instance (spec §2 step 2).</summary>
/// <param name="Model">the normalised instance</param>
/// <param name="CodeCompatible">whether the official code's sign behaviour was used</param>
/// <param name="RowsToBounds">single-variable rows turned into bounds</param>
/// <param name="LeZeroFlipped">`expr ≤ 0` rows rewritten as `−expr ≥ 0`</param>
/// <param name="EqNegated">`expr = 0` rows negated because their coefficient sum was negative</param>
/// <param name="ZeroSumEqualities">`expr = 0` rows left alone because their coefficient sum is exactly 0 (normalisation cannot
/// pick a sign for them, so a negated copy is a different graph)</param>
/// <param name="Notes">flagged rows and empty bound intervals</param>
public sealed record NormalizeRecord(LpModel Model, bool CodeCompatible, int RowsToBounds, int LeZeroFlipped, int EqNegated,
    int ZeroSumEqualities, IReadOnlyList<string> Notes);

/// <summary>
/// ORGEval's normalisation, then the graph sees the result. (a) Every single-variable row a·x (sense) b becomes a bound on x.
/// Design choice (default): the sense flips when a &lt; 0 and the implied bound is intersected with the declared one.
/// <c>codeCompatible</c>: the official code's behaviour — bound = b / a with the row's sense kept even when a &lt; 0 (so
/// −x ≥ −5 gives lb = 5), and the implied bounds replace the declared ones (lb = max of implied lower bounds, ub = min of implied
/// upper bounds; x ≥ −5 on a default lb 0 loosens lb to −5). (b) `expr ≤ 0` rows become `−expr ≥ 0`. (c) `expr = 0` rows whose
/// coefficient sum is negative are negated (sum exactly 0: left unchanged and counted). Idempotent in both modes.
/// </summary>
public static class Normalizer
{
    public static NormalizeRecord Run(LpModel m, bool codeCompatible = false)
    {
        var vars = m.Variables.ToArray();
        var impliedLo = new Dictionary<int, double>(); var impliedUp = new Dictionary<int, double>();
        var rows = new List<Constraint>();
        var notes = new List<string>();
        int toBounds = 0, flipped = 0, negated = 0, zeroSum = 0;
        foreach (var c in m.Constraints)
        {
            if (c.Terms.Length == 1)
            {
                var (j, a) = (c.Terms[0].Var, c.Terms[0].Coef);
                double v = c.Rhs / a;
                var s = c.Sense;
                if (!codeCompatible && a < 0) s = s == RowSense.Le ? RowSense.Ge : s == RowSense.Ge ? RowSense.Le : s;
                if (s is RowSense.Ge or RowSense.Eq) impliedLo[j] = impliedLo.TryGetValue(j, out var l) ? Math.Max(l, v) : v;
                if (s is RowSense.Le or RowSense.Eq) impliedUp[j] = impliedUp.TryGetValue(j, out var u) ? Math.Min(u, v) : v;
                toBounds++;
                continue;
            }
            var row = c;
            if (row.Sense == RowSense.Le && row.Rhs == 0)
            {
                row = row with { Sense = RowSense.Ge, Terms = row.Terms.Select(t => t with { Coef = -t.Coef }).ToArray() };
                flipped++;
            }
            else if (row.Sense == RowSense.Eq && row.Rhs == 0)
            {
                double sum = row.Terms.Sum(t => t.Coef);
                if (sum < 0) { row = row with { Terms = row.Terms.Select(t => t with { Coef = -t.Coef }).ToArray() }; negated++; }
                else if (sum == 0 && row.Terms.Length > 0) { zeroSum++; notes.Add($"row {row.Name}: = 0 with coefficient sum 0, sign left as written"); }
            }
            rows.Add(row);
        }
        for (int j = 0; j < vars.Length; j++)
        {
            var v = vars[j];
            double lo = v.Lower, up = v.Upper;
            if (impliedLo.TryGetValue(j, out var l)) lo = codeCompatible ? l : Math.Max(lo, l);
            if (impliedUp.TryGetValue(j, out var u)) up = codeCompatible ? u : Math.Min(up, u);
            if (lo > up) notes.Add($"variable {v.Name}: bounds [{lo}, {up}] are empty (the instance is infeasible)");
            var type = v.Type == VarType.Binary && (lo != 0 || up != 1) ? VarType.Integer
                : v.Type == VarType.Integer && lo == 0 && up == 1 ? VarType.Binary : v.Type;
            vars[j] = v with { Lower = lo, Upper = up, Type = type };
        }
        return new NormalizeRecord(m with { Variables = vars, Constraints = rows.ToArray() }, codeCompatible, toBounds, flipped, negated, zeroSum, notes);
    }
}
