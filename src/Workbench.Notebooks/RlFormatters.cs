using System.Net;
using Microsoft.DotNet.Interactive.Formatting;
using Workbench.Blocks.Rl;
using Workbench.Claims;
using Workbench.Papers.Cppo;
using Workbench.Papers.Remax;

namespace Workbench.Notebooks;

/// <summary>HTML for the RL papers' records (CPPO, ReMax) and the shared evaluation record.</summary>
public static class RlFormatters
{
    public static void Register()
    {
        Formatter.Register<EvalResult>((e, w) =>
        {
            w.Write($"<p>Greedy accuracy <b>{100 * e.Accuracy:F1}%</b> on {e.Problems} problems (well-formed {100 * e.WellFormed:F1}%, mean reward {e.MeanReward:F3}); by operations: " +
                    string.Join(", ", e.AccuracyByOps.OrderBy(k => k.Key).Select(k => $"{k.Key}: {100 * k.Value:F1}%")) + "</p><ul>");
            foreach (var x in e.Examples) w.Write($"<li><code>{WebUtility.HtmlEncode(x)}</code></li>");
            w.Write("</ul>");
        }, HtmlFormatter.MimeType);
        Formatter.Register<EvalResult>((e, w) => w.Write($"accuracy {100 * e.Accuracy:F1}% on {e.Problems} problems"), PlainTextFormatter.MimeType);
        Formatter.Register<CppoResults>((r, w) =>
        {
            w.Write($"<p>CPPO, preset <code>{r.Preset}</code> on {WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(CppoClaims.SummaryTable(r).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<CppoResults>((r, w) => w.Write(CppoClaims.SummaryTable(r).ToString()), PlainTextFormatter.MimeType);
        Formatter.Register<RemaxResults>((r, w) =>
        {
            w.Write($"<p>ReMax, preset <code>{r.Preset}</code> on {WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(RemaxClaims.RunsTable(r).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<RemaxResults>((r, w) => w.Write(RemaxClaims.RunsTable(r).ToString()), PlainTextFormatter.MimeType);
    }
}
