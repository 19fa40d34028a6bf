using System.Net;
using Microsoft.DotNet.Interactive.Formatting;
using Workbench.Claims;
using Workbench.Papers.Parvts;
using Workbench.Papers.Vtw;

namespace Workbench.Notebooks;

/// <summary>HTML for the multimodal papers' records (VTW, ParVTS).</summary>
public static class MultimodalFormatters
{
    public static void Register()
    {
        Formatter.Register<VtwResults>((r, w) =>
        {
            w.Write($"<p>VTW, preset <code>{r.Preset}</code> on {WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s; chosen K = {r.ChosenK}</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(VtwClaims.SweepTable(r).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<VtwResults>((r, w) => w.Write(VtwClaims.SweepTable(r).ToString()), PlainTextFormatter.MimeType);
        Formatter.Register<ParvtsResults>((r, w) =>
        {
            w.Write($"<p>ParVTS, preset <code>{r.Preset}</code> on {WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s; r = {r.Config.R:G3}, K = {r.Config.K}</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(ParvtsClaims.PointsTable(r).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<ParvtsResults>((r, w) => w.Write(ParvtsClaims.PointsTable(r).ToString()), PlainTextFormatter.MimeType);
    }
}
