namespace Workbench.Papers.OrgEval;

/// <summary>Variable type, numbered as ORGEval's graph feature: 0 continuous, 1 binary, 2 general integer.</summary>
public enum VarType { Continuous = 0, Binary = 1, Integer = 2 }

/// <summary>Constraint sense, numbered as ORGEval's graph feature: −1 for ≤, 0 for =, +1 for ≥.</summary>
public enum RowSense { Le = -1, Eq = 0, Ge = 1 }

public enum ObjSense { Minimize, Maximize }

/// <summary>One variable: bounds may be ±∞; a binary always has bounds [0, 1].</summary>
public sealed record Variable(string Name, VarType Type, double Lower, double Upper, double Cost);

/// <summary>One nonzero A_ij of a row: variable index and coefficient.</summary>
public readonly record struct Term(int Var, double Coef);

/// <summary>One row: Σ coef·x (sense) rhs, stored sparsely (at most one term per variable).</summary>
public sealed record Constraint(string Name, RowSense Sense, double Rhs, Term[] Terms);

/// <summary>
/// An in-memory LP/MILP instance: min or max cᵀx subject to rows, bounds and integrality. Names and orders carry no meaning
/// for ORGEval (it compares instances up to a permutation of variables and constraints).
/// </summary>
public sealed record LpModel(string Name, ObjSense Sense, Variable[] Variables, Constraint[] Constraints)
{
    public int NumVars => Variables.Length;
    public int NumRows => Constraints.Length;
    public int Nnz => Constraints.Sum(c => c.Terms.Length);
    public bool IsMilp => Variables.Any(v => v.Type != VarType.Continuous);

    /// <summary>Costs of the equivalent minimisation (a maximisation's costs negated): how the writers and the graph see c.</summary>
    public double[] MinCosts() => Variables.Select(v => Sense == ObjSense.Maximize ? -v.Cost : v.Cost).ToArray();

    /// <summary>The same instance as a minimisation (costs negated when it was a maximisation); optimal values change sign.</summary>
    public LpModel ToMinimization() => Sense == ObjSense.Minimize ? this
        : this with { Sense = ObjSense.Minimize, Variables = Variables.Select(v => v with { Cost = -v.Cost }).ToArray() };

    /// <summary>Throws when indices are out of range, a row names a variable twice, or a binary has bounds other than [0, 1].</summary>
    public LpModel Validate()
    {
        for (int i = 0; i < Constraints.Length; i++)
        {
            var seen = new HashSet<int>();
            foreach (var t in Constraints[i].Terms)
            {
                if (t.Var < 0 || t.Var >= Variables.Length) throw new FormatException($"{Name}: row {Constraints[i].Name} names variable {t.Var} of {Variables.Length}.");
                if (!seen.Add(t.Var)) throw new FormatException($"{Name}: row {Constraints[i].Name} names {Variables[t.Var].Name} twice.");
            }
        }
        foreach (var v in Variables)
            if (v.Type == VarType.Binary && (v.Lower != 0 || v.Upper != 1)) throw new FormatException($"{Name}: binary {v.Name} has bounds [{v.Lower}, {v.Upper}].");
        return this;
    }

    public override string ToString() => $"{Name}: {(Sense == ObjSense.Minimize ? "min" : "max")}, {NumVars} variables ({Variables.Count(v => v.Type != VarType.Continuous)} integer), {NumRows} rows, {Nnz} nonzeros";
}

/// <summary>A model under construction: add variables and rows by name, then <see cref="Build"/>.</summary>
public sealed class ModelBuilder(string name, ObjSense sense = ObjSense.Minimize)
{
    readonly List<Variable> vars = [];
    readonly List<Constraint> rows = [];
    readonly Dictionary<string, int> index = new(StringComparer.Ordinal);

    public int Var(string n, double cost, VarType type = VarType.Continuous, double lo = 0, double up = double.PositiveInfinity)
    {
        if (index.ContainsKey(n)) throw new ArgumentException($"variable {n} defined twice");
        if (type == VarType.Binary) { lo = 0; up = 1; }
        index[n] = vars.Count;
        vars.Add(new Variable(n, type, lo, up, cost));
        return vars.Count - 1;
    }

    public void Row(string n, IEnumerable<(int Var, double Coef)> terms, RowSense s, double rhs)
    {
        var merged = new SortedDictionary<int, double>();
        foreach (var (v, c) in terms) merged[v] = merged.GetValueOrDefault(v) + c;
        rows.Add(new Constraint(n, s, rhs, merged.Where(kv => kv.Value != 0).Select(kv => new Term(kv.Key, kv.Value)).ToArray()));
    }

    public LpModel Build() => new LpModel(name, sense, vars.ToArray(), rows.ToArray()).Validate();
}
