using System.Net;
using System.Text;
using Plotly.NET;
using Workbench.Runtime;

namespace Workbench.Display;

/// <summary>
/// A standalone HTML page: headings, paragraphs, tables and Plotly charts. <see cref="Save"/> writes
/// <c>plotly.min.js</c> beside the page (the page works from file:// with no network) and writes atomically.
/// </summary>
public sealed class HtmlReport(string title)
{
    readonly StringBuilder body = new();
    public string Title { get; } = title;
    /// <summary>Whether the page starts with the title as a heading (a notebook's own first heading may replace it).</summary>
    public bool ShowTitle { get; init; } = true;

    public HtmlReport Heading(string text, int level = 2)
    {
        body.Append($"<h{level}>{Enc(text)}</h{level}>\n");
        return this;
    }

    /// <summary>A paragraph; <c>`code`</c> and <c>**bold**</c> are rendered, everything else is escaped.</summary>
    public HtmlReport Para(string text)
    {
        body.Append("<p>").Append(Inline(text)).Append("</p>\n");
        return this;
    }

    public HtmlReport Pre(string text)
    {
        body.Append("<pre>").Append(Enc(text)).Append("</pre>\n");
        return this;
    }

    public HtmlReport Raw(string html)
    {
        body.Append(html).Append('\n');
        return this;
    }

    public HtmlReport Chart(GenericChart chart)
    {
        body.Append("<div class=\"chart\">").Append(Charts.Div(chart)).Append("</div>\n");
        return this;
    }

    public HtmlReport Table(Table table)
    {
        body.Append(table.ToHtml()).Append('\n');
        return this;
    }

    public string ToHtml(string plotlySrc = "plotly.min.js") =>
        $$"""
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>{{Enc(Title)}}</title>
        <script src="{{plotlySrc}}"></script>
        <style>
        body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
        table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
        th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
        th { background: #f3f3f3; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .verdict-reproduced { color: #176a1d; font-weight: 600; }
        .verdict-partly { color: #9a6700; font-weight: 600; }
        .verdict-not { color: #b3261e; font-weight: 600; }
        .verdict-pending { color: #666; font-weight: 600; }
        pre { background: #f7f7f7; padding: 8px; overflow-x: auto; }
        .chart { margin: 1em 0; }
        </style></head>
        <body>{{(ShowTitle ? $"<h1>{Enc(Title)}</h1>" : "")}}
        {{body}}</body></html>
        """;

    /// <summary>Writes the page and plotly.min.js beside it; returns the page's path.</summary>
    public string Save(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var js = Path.Combine(dir, "plotly.min.js");
        if (!File.Exists(js)) AtomicFile.WriteAllText(js, Charts.PlotlyJs());
        AtomicFile.WriteAllText(path, ToHtml());
        return path;
    }

    internal static string Enc(string s) => WebUtility.HtmlEncode(s);

    internal static string Inline(string text)
    {
        var s = Enc(text);
        s = System.Text.RegularExpressions.Regex.Replace(s, "`([^`]+)`", "<code>$1</code>");
        s = System.Text.RegularExpressions.Regex.Replace(s, @"\*\*([^*]+)\*\*", "<b>$1</b>");
        return s;
    }
}
