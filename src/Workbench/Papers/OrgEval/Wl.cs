using System.Security.Cryptography;
using System.Text;

namespace Workbench.Papers.OrgEval;

/// <summary>WL colour refinement on one graph: colours after every round (round 0 = hashed features) and the class counts.</summary>
/// <param name="Rounds">colours per round; the last entry is the stable colouring</param>
/// <param name="Classes">number of colour classes per round (non-decreasing)</param>
public sealed record WlRecord(IReadOnlyList<string[]> Rounds, IReadOnlyList<int> Classes)
{
    public string[] Stable => Rounds[^1];
    public int RoundCount => Rounds.Count - 1;

    /// <summary>Colour → class size of the stable colouring.</summary>
    public Dictionary<string, int> Histogram(int round = -1)
    {
        var h = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var c in round < 0 ? Stable : Rounds[Math.Min(round, Rounds.Count - 1)]) h[c] = h.GetValueOrDefault(c) + 1;
        return h;
    }
}

/// <summary>
/// Feature-aware 1-WL (spec §2 step 4): colour_{t+1}(v) = H(colour_t(v) ‖ sorted[(colour_t(u), w_uv) for neighbours u]),
/// all nodes at once; stop when the number of classes stops growing (at most |V| rounds). H is MD5 over UTF-8, as in the
/// official code — never string.GetHashCode, which changes per process — so two graphs coloured separately are comparable.
/// </summary>
public static class Wl
{
    public static string Hash(string s) => Convert.ToHexString(MD5.HashData(Encoding.UTF8.GetBytes(s)));

    public static WlRecord Refine(ModelGraph g, int? maxRounds = null)
    {
        int nv = g.NumNodes;
        var colors = g.Features.Select(Hash).ToArray();
        var rounds = new List<string[]> { colors };
        var classes = new List<int> { colors.Distinct().Count() };
        int limit = maxRounds ?? Math.Max(1, nv);
        var parts = new List<string>();
        var sb = new StringBuilder();
        for (int t = 0; t < limit; t++)
        {
            var next = new string[nv];
            for (int v = 0; v < nv; v++)
            {
                parts.Clear();
                foreach (var e in g.Adjacency[v]) parts.Add(colors[e.To] + ":" + e.Weight);
                parts.Sort(StringComparer.Ordinal);
                sb.Clear().Append(colors[v]).Append('|');
                sb.AppendJoin(',', parts);
                next[v] = Hash(sb.ToString());
            }
            int k = next.Distinct().Count();
            rounds.Add(next);
            classes.Add(k);
            colors = next;
            if (k <= classes[^2]) break;
        }
        return new WlRecord(rounds, classes);
    }

    /// <summary>Equal colour multisets (class sizes, not just the key set) of the two stable colourings, and the first round whose
    /// histograms differ (null when none does).</summary>
    public static (bool Equal, int? FirstDivergentRound) Compare(WlRecord a, WlRecord b)
    {
        int rounds = Math.Max(a.Rounds.Count, b.Rounds.Count);
        for (int t = 0; t < rounds; t++)
        {
            var ha = a.Histogram(t); var hb = b.Histogram(t);
            if (ha.Count != hb.Count || ha.Any(kv => hb.GetValueOrDefault(kv.Key) != kv.Value)) return (false, t);
        }
        return (true, null);
    }
}
