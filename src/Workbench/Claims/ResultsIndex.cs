using System.Text.Json;
using System.Text.Json.Nodes;
using Workbench.Display;
using Workbench.Runtime;

namespace Workbench.Claims;

/// <summary>One paper's committed results, as read from results/&lt;paper&gt;/results.json.</summary>
public sealed record PaperResults(string Slug, string Paper, string Preset, string Device, double WallSeconds, IReadOnlyList<Claim> Claims, string Folder);

/// <summary>
/// The index page across papers (<c>papers report</c>): every results/&lt;paper&gt;/results.json with its claims table.
/// Reads only the fields every paper's results file shares (paper, preset, runtime, wallSeconds, claims).
/// </summary>
public static class ResultsIndex
{
    public static IReadOnlyList<PaperResults> Read(string resultsDir)
    {
        if (!Directory.Exists(resultsDir))
            throw new DirectoryNotFoundException($"No results folder at {resultsDir}: run from the repository root or pass --results DIR.");
        var list = new List<PaperResults>();
        foreach (var dir in Directory.GetDirectories(resultsDir).Order())
        {
            var f = Path.Combine(dir, "results.json");
            if (!File.Exists(f)) continue;
            JsonNode? n;
            try { n = JsonNode.Parse(File.ReadAllText(f)); }
            catch (JsonException e) { throw new InvalidDataException($"{f} is not valid JSON: {e.Message}"); }
            var claims = n?["claims"]?.Deserialize<List<Claim>>(AtomicFile.Json) ?? [];
            list.Add(new PaperResults(Path.GetFileName(dir), n?["paper"]?.GetValue<string>() ?? Path.GetFileName(dir),
                n?["preset"]?.GetValue<string>() ?? "?", n?["runtime"]?["deviceName"]?.GetValue<string>() ?? "?",
                n?["wallSeconds"]?.GetValue<double>() ?? 0, claims, dir));
        }
        return list;
    }

    public static HtmlReport Build(IReadOnlyList<PaperResults> papers)
    {
        var rep = new HtmlReport("Papers — measured results");
        rep.Para("Each paper's headline claims beside what this workbench measured at toy scale, with honest verdicts. " +
                 "Numbers come from the committed `results/<paper>/results.json`; `claims.md` beside each gives the full tables.");
        var counts = papers.SelectMany(p => p.Claims).GroupBy(c => c.Verdict).ToDictionary(g => g.Key, g => g.Count());
        rep.Table(new Table(["paper", "preset", "device", "wall time", "reproduced", "partly", "not", "pending"],
            papers.Select(p => new[] { p.Paper, p.Preset, p.Device, $"{p.WallSeconds:F0} s",
                p.Claims.Count(c => c.Verdict == Verdict.Reproduced).ToString(), p.Claims.Count(c => c.Verdict == Verdict.Partly).ToString(),
                p.Claims.Count(c => c.Verdict == Verdict.NotReproduced).ToString(), p.Claims.Count(c => c.Verdict == Verdict.Pending).ToString() }).ToList()));
        foreach (var p in papers)
        {
            rep.Heading($"{p.Paper} ({p.Slug})");
            rep.Table(ClaimsTable.ToTable(p.Claims));
        }
        return rep;
    }
}
