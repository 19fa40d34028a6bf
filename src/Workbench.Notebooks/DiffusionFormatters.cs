using System.Net;
using Microsoft.DotNet.Interactive.Formatting;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Claims;
using Workbench.Papers.AccDiffusion;
using Workbench.Papers.AccDiffusionV2;
using Workbench.Papers.CutDiffusion;

namespace Workbench.Notebooks;

/// <summary>HTML for the diffusion-extrapolation records: colour image grids, sampler outputs, training records and results.</summary>
public static class DiffusionFormatters
{
    static string Cost(HighResOutput o) =>
        $"{WebUtility.HtmlEncode(o.Method)} {o.Scale}×: {o.Image.W}×{o.Image.H} px, {o.Evals.Samples} UNet sample-evaluations ({o.Evals.Forwards} forward rows, " +
        $"{o.Evals.Calls} calls), {o.Seconds:F3} s, peak memory {BenchViews.Mb(o.PeakBytes)}";

    public static void Register()
    {
        Formatter.Register<ImageGrid>((g, w) => w.Write(g.Html), HtmlFormatter.MimeType);
        Formatter.Register<ImageGrid>((g, w) => w.Write($"[image grid: {g.Title}]"), PlainTextFormatter.MimeType);
        Formatter.Register<HighResOutput>((o, w) =>
        {
            w.Write(Images.Grid(Cost(o), [("output", o.Image)], cols: 1, px: 192).Html);
        }, HtmlFormatter.MimeType);
        Formatter.Register<HighResOutput>((o, w) => w.Write(Cost(o)), PlainTextFormatter.MimeType);
        Formatter.Register<TrainResult>((t, w) => w.Write($"<p>{t.What}: {t.Parameters:N0} parameters, " +
            (t.FromCache ? "loaded from the cache" : $"trained {t.Steps} steps in {t.Seconds:F1} s, final loss {(t.Loss.Length > 0 ? t.Loss[^1] : double.NaN):F4}") + "</p>"), HtmlFormatter.MimeType);
        Formatter.Register<TrainResult>((t, w) => w.Write($"{t.What}: {t.Parameters:N0} parameters, {(t.FromCache ? "from cache" : $"{t.Steps} steps, {t.Seconds:F1} s")}"), PlainTextFormatter.MimeType);
        Formatter.Register<CutResults>((r, w) =>
        {
            w.Write($"<p>CutDiffusion, preset <code>{r.Preset}</code> on {WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(BenchViews.MetricsTable(r.Metrics).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<CutResults>((r, w) => w.Write(BenchViews.MetricsTable(r.Metrics).ToString()), PlainTextFormatter.MimeType);
        Formatter.Register<AccResults>((r, w) =>
        {
            w.Write($"<p>AccDiffusion, preset <code>{r.Preset}</code> on {WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(BenchViews.MetricsTable(r.Metrics).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<AccResults>((r, w) => w.Write(BenchViews.MetricsTable(r.Metrics).ToString()), PlainTextFormatter.MimeType);
        Formatter.Register<V2Results>((r, w) =>
        {
            w.Write($"<p>AccDiffusion v2, preset <code>{r.Preset}</code> on {WebUtility.HtmlEncode(r.Runtime.DeviceName)}, {r.WallSeconds:F0} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(BenchViews.MetricsTable(r.Metrics).ToHtml());
            w.Write(V2Experiment.DistortionTable(r.Distortion).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<V2Results>((r, w) => w.Write(BenchViews.MetricsTable(r.Metrics).ToString()), PlainTextFormatter.MimeType);
    }
}
