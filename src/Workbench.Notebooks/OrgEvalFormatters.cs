using System.Net;
using Microsoft.DotNet.Interactive.Formatting;
using Workbench.Claims;
using Workbench.Papers.OrgEval;

namespace Workbench.Notebooks;

/// <summary>HTML for ORGEval's records.</summary>
public static class OrgEvalFormatters
{
    static string E(string s) => WebUtility.HtmlEncode(s);

    static string EvaluationHtml(Evaluation e)
    {
        var rows = new List<string[]>
        {
            new[] { "verdict", e.Verdict.ToString() },
            new[] { "reason", e.Reason },
            new[] { "reference after normalisation", $"{e.Reference.Model} (rows→bounds {e.Reference.RowsToBounds}, ≤0 flipped {e.Reference.LeZeroFlipped}, =0 negated {e.Reference.EqNegated})" },
            new[] { "candidate after normalisation", $"{e.Candidate.Model} (rows→bounds {e.Candidate.RowsToBounds}, ≤0 flipped {e.Candidate.LeZeroFlipped}, =0 negated {e.Candidate.EqNegated})" },
        };
        if (e.ReferenceWl is { } wr && e.CandidateWl is { } wc)
            rows.Add(["WL classes per round", $"reference {string.Join(" → ", wr.Classes)}; candidate {string.Join(" → ", wc.Classes)}"]);
        if (e.ReferenceSd is { } sr && e.CandidateSd is { } sc) rows.Add(["certificate", $"reference {sr.Reason}; candidate {sc.Reason}"]);
        rows.Add(["time", $"{e.Seconds * 1000:F2} ms"]);
        return new Workbench.Display.Table(["", ""], rows).ToHtml();
    }

    public static void Register()
    {
        Formatter.Register<Evaluation>((e, w) => w.Write(EvaluationHtml(e)), HtmlFormatter.MimeType);
        Formatter.Register<Evaluation>((e, w) => w.Write($"{e.Verdict}: {e.Reason}"), PlainTextFormatter.MimeType);
        Formatter.Register<SdRecord>((s, w) => w.Write($"<p><b>{E(s.Kind)}</b>: {E(s.Reason)} — {s.UniqueNodes} uniquely coloured nodes, {s.AmbiguousNodes} ambiguous in {s.Components.Count} components</p>"), HtmlFormatter.MimeType);
        Formatter.Register<SdRecord>((s, w) => w.Write($"{s.Kind}: {s.Reason}"), PlainTextFormatter.MimeType);
        Formatter.Register<Confusion>((c, w) => w.Write($"<p><b>{E(c.Name)}</b> ({c.Total} instances)</p>" + OrgEvalReport.ConfusionTable(c).ToHtml()), HtmlFormatter.MimeType);
        Formatter.Register<Confusion>((c, w) => w.Write(c.Name + "\n" + OrgEvalReport.ConfusionTable(c)), PlainTextFormatter.MimeType);
        Formatter.Register<OrgEvalResults>((r, w) =>
        {
            w.Write($"<p>ORGEval, preset <code>{E(r.Preset)}</code> on {E(r.Machine)}, {r.WallSeconds:F0} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<OrgEvalResults>((r, w) => w.Write(ClaimsTable.ToTable(r.Claims).ToString()), PlainTextFormatter.MimeType);
    }
}
