using System.Text;

namespace Workbench.Papers.OrgEval;

/// <summary>Exact isomorphism of two graphs through bliss: Isomorphic is null when the tool was skipped or timed out.</summary>
public sealed record ExactRecord(bool? Isomorphic, string Method, double Seconds, string? Skipped = null);

/// <summary>
/// Ground truth with Debian's bliss 0.73: each graph is written as DIMACS (<c>p edge N E</c>, <c>n v colour</c>, <c>e u v</c>),
/// node features become vertex colours and every weighted edge becomes a subdivision vertex coloured by its weight; both graphs
/// share one colour numbering. <c>bliss -ocan=FILE</c> writes the canonical form; the two are isomorphic iff the files are equal.
/// </summary>
public static class Exact
{
    public const string Binary = "bliss";
    public const string Package = "bliss";

    /// <summary>The DIMACS text of a graph under a colour numbering shared by the graphs being compared.</summary>
    public static string Dimacs(ModelGraph g, Dictionary<string, int> palette)
    {
        int Color(string key) { if (!palette.TryGetValue(key, out var c)) { c = palette.Count; palette[key] = c; } return c; }
        int n = g.NumNodes;
        var edges = new List<(int U, int V, string W)>();
        for (int v = 0; v < g.NumVars; v++) foreach (var e in g.Adjacency[v]) edges.Add((v, e.To, e.Weight));
        var sb = new StringBuilder();
        sb.Append($"p edge {n + edges.Count} {2 * edges.Count}\n");
        for (int v = 0; v < n; v++) sb.Append($"n {v + 1} {Color("node " + g.Features[v])}\n");
        for (int k = 0; k < edges.Count; k++) sb.Append($"n {n + k + 1} {Color("edge " + edges[k].W)}\n");
        for (int k = 0; k < edges.Count; k++)
            sb.Append($"e {edges[k].U + 1} {n + k + 1}\ne {n + k + 1} {edges[k].V + 1}\n");
        return sb.ToString();
    }

    /// <summary>Isomorphic (with features and weights) or not, by comparing bliss canonical forms.</summary>
    public static ExactRecord Isomorphic(ModelGraph a, ModelGraph b, string workDir, double limitSeconds = 30)
    {
        if (a.NumVars != b.NumVars || a.NumRows != b.NumRows || a.NumEdges != b.NumEdges)
            return new ExactRecord(false, "sizes differ", 0);
        if (Tools.Which(Binary) is null) return new ExactRecord(null, "bliss", 0, new ToolMissingException(Binary, Package).Message);
        Directory.CreateDirectory(workDir);
        var palette = new Dictionary<string, int>(StringComparer.Ordinal);
        string tag = Guid.NewGuid().ToString("N")[..12];
        var files = new[] { Path.Combine(workDir, $"{tag}-a"), Path.Combine(workDir, $"{tag}-b") };
        try
        {
            File.WriteAllText(files[0] + ".dimacs", Dimacs(a, palette));
            File.WriteAllText(files[1] + ".dimacs", Dimacs(b, palette));
            double secs = 0;
            foreach (var f in files)
            {
                var run = Tools.Run(Binary, Package, ["-v=0", $"-ocan={f}.can", f + ".dimacs"], limitSeconds, workDir);
                secs += run.Seconds;
                if (run.TimedOut) return new ExactRecord(null, "bliss", secs, $"bliss timed out after {limitSeconds} s");
                if (run.ExitCode != 0 || !File.Exists(f + ".can"))
                    throw new InvalidOperationException($"bliss failed (exit {run.ExitCode}): {run.Stderr.Trim()} {run.Stdout.Trim()}");
            }
            bool same = File.ReadAllText(files[0] + ".can") == File.ReadAllText(files[1] + ".can");
            return new ExactRecord(same, "bliss canonical form", secs);
        }
        finally
        {
            foreach (var f in files) foreach (var ext in new[] { ".dimacs", ".can" }) try { File.Delete(f + ext); } catch (IOException) { }
        }
    }
}
