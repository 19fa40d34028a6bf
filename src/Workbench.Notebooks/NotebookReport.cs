using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Markdig;
using Workbench.Display;

namespace Workbench.Notebooks;

/// <summary>A standalone HTML page of an executed notebook: markdown rendered, code, and every output (HTML, charts, text, errors).</summary>
public static class NotebookReport
{
    static readonly MarkdownPipeline Md = new MarkdownPipelineBuilder().UsePipeTables().UseEmphasisExtras().UseAutoLinks().Build();

    static string Enc(string s) => WebUtility.HtmlEncode(s);

    public static HtmlReport Build(NotebookDocument doc, string name, IReadOnlyList<CellRun> runs, CellError? error,
        IReadOnlyDictionary<string, object> parameters, double seconds)
    {
        var heading = doc.Cells.FirstOrDefault(c => c.CellType == "markdown" && c.Source.TrimStart().StartsWith("# ", StringComparison.Ordinal))?
            .Source.TrimStart()[2..].Split('\n')[0].Trim();
        var rep = new HtmlReport(heading ?? name) { ShowTitle = heading is null };   // the notebook's own heading is shown with its cell
        var status = error is null
            ? $"<p class=\"status ok\">All code cells ran in {seconds:F1} s.</p>"
            : $"<p class=\"status failed\">Failed at {Enc(error.Located)} — the cells before it ran and their outputs are kept below.</p>";
        rep.Raw(status);
        rep.Raw($"<p class=\"meta\">Notebook <code>{Enc(name)}.ipynb</code>; parameters: {Enc(string.Join(", ", parameters.Select(kv => $"{kv.Key} = {kv.Value}")))}" +
                $"{(Workbench.Runtime.TorchRuntime.Current is { } rt ? "; " + Enc(rt.ToString().Split('\n')[0]) : "")}</p>");
        rep.Raw("""
            <style>
            .cell { margin: 1.2em 0; } .code { background: #f6f8fa; border-left: 3px solid #8ab; padding: 6px 10px; font-size: 13px; white-space: pre-wrap; }
            .out { margin: 4px 0 4px 14px; } .stream { font-size: 13px; background: none; padding: 0 6px; white-space: pre-wrap; }
            .stderr { color: #9a3b00; } .error { background: #fde8e8; border-left: 3px solid #b3261e; padding: 6px 10px; white-space: pre-wrap; }
            .status.ok { color: #176a1d; } .status.failed { color: #b3261e; font-weight: 600; } .meta { color: #555; font-size: 13px; }
            .count { color: #888; font-size: 12px; }
            </style>
            """);
        for (int i = 0; i < doc.Cells.Count; i++)
        {
            var c = doc.Cells[i];
            var sb = new StringBuilder($"<div class=\"cell\" id=\"cell-{i + 1}\">");
            if (c.CellType == "markdown") sb.Append(Markdown.ToHtml(c.Source, Md));
            else if (c.IsCode)
            {
                sb.Append($"<div class=\"count\">[{(c.ExecutionCount?.ToString() ?? " ")}] cell {i + 1}{(c.HasTag(NotebookRunner.InjectedTag) ? " (injected parameters)" : "")}</div>");
                sb.Append("<pre class=\"code\">").Append(Enc(c.Source)).Append("</pre>");
                foreach (var o in c.Outputs.OfType<JsonObject>()) sb.Append("<div class=\"out\">").Append(OutputHtml(o)).Append("</div>");
            }
            sb.Append("</div>");
            rep.Raw(sb.ToString());
        }
        return rep;
    }

    /// <summary>HTML for one nbformat output: text/html as is, else text/plain escaped; streams and errors escaped.</summary>
    public static string OutputHtml(JsonObject o)
    {
        switch (o["output_type"]?.GetValue<string>())
        {
            case "stream":
                var name = o["name"]?.GetValue<string>() ?? "stdout";
                return $"<pre class=\"stream {name}\">{Enc(NotebookDocument.TextOf(o["text"]))}</pre>";
            case "error":
                return $"<pre class=\"error\"><b>{Enc(o["evalue"]?.GetValue<string>() ?? "")}</b>\n{Enc(string.Join("\n", (o["traceback"] as JsonArray ?? []).Select(x => x?.GetValue<string>() ?? "")))}</pre>";
            default:
                var data = o["data"] as JsonObject;
                if (data?["text/html"] is { } html) return NotebookDocument.TextOf(html);
                return $"<pre class=\"stream\">{Enc(NotebookDocument.TextOf(data?["text/plain"]))}</pre>";
        }
    }
}
