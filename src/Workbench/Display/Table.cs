using System.Globalization;
using System.Text;
using Microsoft.Data.Analysis;

namespace Workbench.Display;

/// <summary>A small table of strings with a header, rendered as HTML, Markdown or plain text.</summary>
public sealed record Table(string[] Header, IReadOnlyList<string[]> Rows, string? Caption = null)
{
    public static Table FromDataFrame(DataFrame df, string? caption = null, string numberFormat = "G4")
    {
        var header = df.Columns.Select(c => c.Name).ToArray();
        var rows = new List<string[]>();
        for (long r = 0; r < df.Rows.Count; r++)
            rows.Add(df.Columns.Select(c => Format(c[r], numberFormat)).ToArray());
        return new Table(header, rows, caption);
    }

    static string Format(object? v, string fmt) => v switch
    {
        null => "",
        double d => d.ToString(fmt, CultureInfo.InvariantCulture),
        float f => f.ToString(fmt, CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    public string ToHtml()
    {
        var sb = new StringBuilder("<table>");
        if (Caption is not null) sb.Append("<caption>").Append(HtmlReport.Inline(Caption)).Append("</caption>");
        sb.Append("<tr>");
        foreach (var h in Header) sb.Append("<th>").Append(HtmlReport.Enc(h)).Append("</th>");
        sb.Append("</tr>");
        foreach (var row in Rows)
        {
            sb.Append("<tr>");
            foreach (var cell in row)
            {
                var num = double.TryParse(cell.TrimEnd('%', '×', 'x'), NumberStyles.Float, CultureInfo.InvariantCulture, out _);
                var cls = cell.StartsWith("reproduced", StringComparison.Ordinal) ? " class=\"verdict-reproduced\""
                    : cell.StartsWith("partly", StringComparison.Ordinal) ? " class=\"verdict-partly\""
                    : cell.StartsWith("not reproduced", StringComparison.Ordinal) ? " class=\"verdict-not\""
                    : cell.StartsWith("pending", StringComparison.Ordinal) ? " class=\"verdict-pending\""
                    : num ? " class=\"num\"" : "";
                sb.Append("<td").Append(cls).Append('>').Append(HtmlReport.Inline(cell)).Append("</td>");
            }
            sb.Append("</tr>");
        }
        return sb.Append("</table>").ToString();
    }

    public string ToMarkdown()
    {
        static string Esc(string s) => s.Replace("|", "\\|").Replace("\n", " ");
        var sb = new StringBuilder();
        if (Caption is not null) sb.Append(Caption).Append("\n\n");
        sb.Append("| ").Append(string.Join(" | ", Header.Select(Esc))).Append(" |\n");
        sb.Append('|').Append(string.Concat(Header.Select(_ => "---|"))).Append('\n');
        foreach (var r in Rows) sb.Append("| ").Append(string.Join(" | ", r.Select(Esc))).Append(" |\n");
        return sb.ToString();
    }

    public override string ToString()
    {
        var widths = Header.Select((h, i) => Math.Max(h.Length, Rows.Count == 0 ? 0 : Rows.Max(r => i < r.Length ? r[i].Length : 0))).ToArray();
        var sb = new StringBuilder();
        if (Caption is not null) sb.AppendLine(Caption);
        sb.AppendLine(string.Join("  ", Header.Select((h, i) => h.PadRight(widths[i]))));
        sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var r in Rows) sb.AppendLine(string.Join("  ", r.Select((c, i) => c.PadRight(widths[i]))));
        return sb.ToString();
    }
}
