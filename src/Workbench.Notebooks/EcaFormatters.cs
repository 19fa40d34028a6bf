using Microsoft.DotNet.Interactive.Formatting;
using Workbench.Claims;
using Workbench.Papers.Eca;

namespace Workbench.Notebooks;

/// <summary>HTML for ECA's records.</summary>
public static class EcaFormatters
{
    public static void Register()
    {
        Formatter.Register<OpCount>((c, w) => w.Write($"<p><code>{System.Net.WebUtility.HtmlEncode(c.ToString())}</code> " +
            $"({c.DenseProducts} dense and {c.TriangularProducts} triangular base products)</p>"), HtmlFormatter.MimeType);
        Formatter.Register<OpCount>((c, w) => w.Write(c.ToString()), PlainTextFormatter.MimeType);
        Formatter.Register<EcaResults>((r, w) =>
        {
            w.Write($"<p>ECA, preset <code>{r.Preset}</code> on {System.Net.WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<EcaResults>((r, w) => w.Write(ClaimsTable.ToTable(r.Claims).ToString()), PlainTextFormatter.MimeType);
    }
}
