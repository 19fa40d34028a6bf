namespace Workbench.Papers.OrgEval;

/// <summary>The sufficient-condition check on one graph's stable colouring (spec §2 step 5).</summary>
/// <param name="WlDeterminable">every colour class is a singleton</param>
/// <param name="SymmetricDecomposable">not WL-determinable, and after deleting the uniquely coloured nodes every connected
/// component of the remaining (ambiguous) nodes holds at most one node of each colour</param>
/// <param name="UniqueNodes">nodes whose colour class is a singleton</param>
/// <param name="AmbiguousNodes">nodes in classes of two or more</param>
/// <param name="Reason">"WL-determinable", "symmetric decomposable" or "distinctness: …" naming the failing component</param>
/// <param name="Components">the ambiguous components (node indices), largest first</param>
/// <param name="FailingComponent">index into Components of the first component that repeats a colour</param>
public sealed record SdRecord(bool WlDeterminable, bool SymmetricDecomposable, string Reason, int UniqueNodes, int AmbiguousNodes,
    IReadOnlyList<int[]> Components, int? FailingComponent)
{
    /// <summary>WL provably decides isomorphism for this graph.</summary>
    public bool Certified => WlDeterminable || SymmetricDecomposable;
    public string Kind => WlDeterminable ? "WL-determinable" : SymmetricDecomposable ? "SD" : "not certified";
}

public static class Certify
{
    public static SdRecord Check(ModelGraph g, string[] colors)
    {
        var size = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var c in colors) size[c] = size.GetValueOrDefault(c) + 1;
        var ambiguous = Enumerable.Range(0, g.NumNodes).Where(v => size[colors[v]] > 1).ToArray();
        int unique = g.NumNodes - ambiguous.Length;
        if (ambiguous.Length == 0) return new SdRecord(true, false, "WL-determinable", unique, 0, [], null);
        var comp = new int[g.NumNodes];
        Array.Fill(comp, -1);
        var comps = new List<int[]>();
        var stack = new Stack<int>();
        foreach (var s in ambiguous)
        {
            if (comp[s] >= 0) continue;
            var members = new List<int>();
            comp[s] = comps.Count; stack.Push(s);
            while (stack.Count > 0)
            {
                int v = stack.Pop(); members.Add(v);
                foreach (var e in g.Adjacency[v])
                    if (comp[e.To] < 0 && size[colors[e.To]] > 1) { comp[e.To] = comps.Count; stack.Push(e.To); }
            }
            members.Sort();
            comps.Add(members.ToArray());
        }
        var ordered = comps.OrderByDescending(c => c.Length).ThenBy(c => c[0]).ToList();
        for (int k = 0; k < ordered.Count; k++)
        {
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var v in ordered[k])
            {
                if (seen.TryGetValue(colors[v], out var other))
                    return new SdRecord(false, false,
                        $"distinctness: component {k} ({ordered[k].Length} nodes) holds {g.Names[other]} and {g.Names[v]} with the same colour",
                        unique, ambiguous.Length, ordered, k);
                seen[colors[v]] = v;
            }
        }
        return new SdRecord(false, true, $"symmetric decomposable: {ordered.Count} ambiguous components", unique, ambiguous.Length, ordered, null);
    }
}
