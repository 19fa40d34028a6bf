using System.Globalization;

namespace Workbench.Papers.OrgEval;

/// <summary>One edge end: the neighbour's node index and the rendered weight A_ij.</summary>
public readonly record struct Edge(int To, string Weight);

/// <summary>
/// The weighted bipartite variable–constraint graph (spec §2 step 3). Nodes 0..n−1 are variables with feature
/// (c_j, type, l_j, u_j), nodes n..n+m−1 are constraints with feature (b_i, sense); edge (i, j) iff A_ij ≠ 0, weight A_ij.
/// c is the minimisation form's cost (a maximisation's costs negated: the graph has no objective sense, spec §7).
/// Every number is cast to float32 and rendered with 6 decimals: that rendering decides numeric equality.
/// </summary>
public sealed record ModelGraph(int NumVars, int NumRows, string[] Features, Edge[][] Adjacency, string[] Names)
{
    public int NumNodes => NumVars + NumRows;
    public int NumEdges => Adjacency.Take(NumVars).Sum(a => a.Length);
    public bool IsVariable(int node) => node < NumVars;

    /// <summary>float32, then 6 decimals, as the official code renders every feature and weight.</summary>
    public static string Render(double x)
    {
        float f = (float)x;
        if (float.IsPositiveInfinity(f)) return "inf";
        if (float.IsNegativeInfinity(f)) return "-inf";
        var s = f.ToString("F6", CultureInfo.InvariantCulture);
        return s == "-0.000000" ? "0.000000" : s;
    }

    public static ModelGraph Build(LpModel m)
    {
        int n = m.NumVars, r = m.NumRows;
        var feats = new string[n + r];
        var costs = m.MinCosts();
        for (int j = 0; j < n; j++)
        {
            var v = m.Variables[j];
            feats[j] = $"V|{Render(costs[j])}|{(int)v.Type}|{Render(v.Lower)}|{Render(v.Upper)}";
        }
        var adj = new List<Edge>[n + r];
        for (int k = 0; k < n + r; k++) adj[k] = [];
        for (int i = 0; i < r; i++)
        {
            var c = m.Constraints[i];
            feats[n + i] = $"C|{Render(c.Rhs)}|{(int)c.Sense}";
            foreach (var t in c.Terms)
            {
                if (t.Coef == 0) continue;
                var w = Render(t.Coef);
                adj[n + i].Add(new Edge(t.Var, w));
                adj[t.Var].Add(new Edge(n + i, w));
            }
        }
        var names = m.Variables.Select(v => v.Name).Concat(m.Constraints.Select(c => c.Name)).ToArray();
        return new ModelGraph(n, r, feats, adj.Select(a => a.ToArray()).ToArray(), names);
    }

    /// <summary>The same graph with its nodes renumbered: node k of the result is node order[k] of this graph (variables stay first).</summary>
    public ModelGraph Permute(int[] order)
    {
        if (order.Length != NumNodes) throw new ArgumentException("order must list every node once");
        var inv = new int[order.Length];
        for (int k = 0; k < order.Length; k++) inv[order[k]] = k;
        var feats = order.Select(o => Features[o]).ToArray();
        var adj = order.Select(o => Adjacency[o].Select(e => new Edge(inv[e.To], e.Weight)).ToArray()).ToArray();
        return new ModelGraph(NumVars, NumRows, feats, adj, order.Select(o => Names[o]).ToArray());
    }
}
