using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Data.Analysis;
using Microsoft.DotNet.Interactive.Formatting;
using Plotly.NET;
using TorchSharp;
using Workbench.Claims;
using Workbench.Display;
using Workbench.Runtime;

namespace Workbench.Notebooks;

/// <summary>
/// Turns any value into a Jupyter mime bundle: text/plain always, text/html through formatters registered with
/// Microsoft.DotNet.Interactive.Formatting (Workbench records, tables, DataFrames, claims, tensors, charts; other
/// objects get the library's default property table), and charts also as <c>application/vnd.plotly.v1+json</c>,
/// which VS Code and JupyterLab draw natively and offline.
/// </summary>
public static class Formatters
{
    public const string PlotlyMime = "application/vnd.plotly.v1+json";
    static readonly object Gate = new();
    static bool registered;

    static string Enc(string s) => WebUtility.HtmlEncode(s);
    static string Pre(string s) => $"<pre>{Enc(s)}</pre>";

    public static void Register()
    {
        lock (Gate)
        {
            if (registered) return;
            registered = true;
            Formatter.Register<GenericChart>((c, w) => w.Write(Charts.Div(c)), HtmlFormatter.MimeType);
            Formatter.Register<GenericChart>((c, w) => w.Write("[Plotly chart]"), PlainTextFormatter.MimeType);
            Formatter.Register<Table>((t, w) => w.Write(t.ToHtml()), HtmlFormatter.MimeType);
            Formatter.Register<Table>((t, w) => w.Write(t.ToString()), PlainTextFormatter.MimeType);
            Formatter.Register<DataFrame>((df, w) => w.Write(Table.FromDataFrame(df).ToHtml()), HtmlFormatter.MimeType);
            Formatter.Register<DataFrame>((df, w) => w.Write(Table.FromDataFrame(df).ToString()), PlainTextFormatter.MimeType);
            Formatter.Register<IEnumerable<Claim>>((cs, w) => w.Write(ClaimsTable.ToTable(cs).ToHtml()), HtmlFormatter.MimeType);
            Formatter.Register<IEnumerable<Claim>>((cs, w) => w.Write(ClaimsTable.ToTable(cs).ToString()), PlainTextFormatter.MimeType);
            Formatter.Register<RuntimeInfo>((r, w) => w.Write(Pre(r.ToString())), HtmlFormatter.MimeType);
            Formatter.Register<RuntimeInfo>((r, w) => w.Write(r.ToString()), PlainTextFormatter.MimeType);
            Formatter.Register<torch.Tensor>((t, w) => w.Write(TensorHtml(t)), HtmlFormatter.MimeType);
            Formatter.Register<torch.Tensor>((t, w) => w.Write(TensorText(t)), PlainTextFormatter.MimeType);
            Formatter.Register<double[][]>((m, w) => w.Write(MatrixHtml(m)), HtmlFormatter.MimeType);
            foreach (var f in PaperFormatters.All) f();
        }
    }

    static string TensorHead(torch.Tensor t) => $"tensor [{string.Join("×", t.shape)}] {t.dtype} on {t.device}";

    static string TensorText(torch.Tensor t)
    {
        if (t.IsInvalid) return "[disposed tensor]";
        if (SmallMatrix(t) is { } rows)
            return TensorHead(t) + "\n" + string.Join("\n", rows.Select(r => string.Join("  ", r.Select(v => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture).PadLeft(8)))));
        return t.numel() <= 400 ? TensorHead(t) + "\n" + t.cpu().ToString(TorchSharp.TensorStringStyle.Numpy) : TensorHead(t);
    }

    /// <summary>Rows of a real 0-, 1- or 2-D tensor of at most 24×24 (else null).</summary>
    static double[][]? SmallMatrix(torch.Tensor t)
    {
        if (t.dim() > 2 || t.numel() == 0 || t.is_complex()) return null;
        var m = t.dim() == 2 ? t : t.reshape(1, -1);
        if (m.shape[0] > 24 || m.shape[1] > 24) return null;
        return TensorView.Rows(m.to_type(torch.ScalarType.Float64));
    }

    static string TensorHtml(torch.Tensor t)
    {
        if (t.IsInvalid) return "<pre>[disposed tensor]</pre>";
        return SmallMatrix(t) is { } rows ? $"<div><code>{Enc(TensorHead(t))}</code>{MatrixHtml(rows)}</div>" : Pre(TensorText(t));
    }

    /// <summary>A small numeric matrix as an HTML table (larger ones are cut to 24×24).</summary>
    public static string MatrixHtml(double[][] m)
    {
        var sb = new System.Text.StringBuilder("<table>");
        foreach (var row in m.Take(24))
        {
            sb.Append("<tr>");
            foreach (var v in row.Take(24)) sb.Append("<td class=\"num\">").Append(v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture)).Append("</td>");
            sb.Append("</tr>");
        }
        sb.Append("</table>");
        if (m.Length > 24 || m.Any(r => r.Length > 24)) sb.Append($"<p>(showing 24×24 of {m.Length}×{m.Max(r => r.Length)})</p>");
        return sb.ToString();
    }

    /// <summary>The mime bundle of a value: text/plain, text/html and, for charts, the Plotly figure.</summary>
    public static Dictionary<string, JsonNode> Bundle(object? value)
    {
        Register();
        var d = new Dictionary<string, JsonNode>();
        if (value is null) { d["text/plain"] = "null"; return d; }
        if (value is string s) { d["text/plain"] = s; return d; }
        d["text/plain"] = value.ToDisplayString(PlainTextFormatter.MimeType);
        d["text/html"] = value.ToDisplayString(HtmlFormatter.MimeType);
        if (value is GenericChart c) d[PlotlyMime] = JsonNode.Parse(GenericChart.toFigureJson(c))!;
        return d;
    }
}

/// <summary>Per-paper HTML formatters (each paper registers its records here).</summary>
public static class PaperFormatters
{
    public static IReadOnlyList<Action> All { get; } = [LbcFormatters.Register, EcaFormatters.Register, RlFormatters.Register, OrgEvalFormatters.Register, MultimodalFormatters.Register, DiffusionFormatters.Register];
}
