using System.Globalization;
using Microsoft.DotNet.Interactive.Formatting;
using Workbench.Claims;
using Workbench.Display;
using Workbench.Papers.Lbc;

namespace Workbench.Notebooks;

/// <summary>HTML for LBC's records.</summary>
public static class LbcFormatters
{
    static string F(double v, string f = "F4") => v.ToString(f, CultureInfo.InvariantCulture);

    public static Table EpochTable(IEnumerable<EpochTrace> epochs) => new(
        ["epoch", "train loss", "test top-1", "k", "surviving", "density", "flip rate", "GFLOPs", "s"],
        epochs.Select(e => new[] { e.Epoch.ToString(CultureInfo.InvariantCulture), F(e.TrainLoss), F(e.TestAccuracy), e.K.ToString(CultureInfo.InvariantCulture),
            e.SurvivingCombinations.ToString(CultureInfo.InvariantCulture), F(e.Density), F(e.FlipRate), F(e.TrainGFlops, "F1"), F(e.Seconds, "F2") }).ToList());

    public static void Register()
    {
        Formatter.Register<CombinationTable>((t, w) => w.Write(new Table(["c", "subset", .. Enumerable.Range(0, t.M).Select(j => $"j={j}")],
            Enumerable.Range(0, t.C).Select(c => new[] { c.ToString(CultureInfo.InvariantCulture), t.Label(c) }.Concat(t.B[c].Select(v => v.ToString(CultureInfo.InvariantCulture))).ToArray()).ToList(),
            $"Combination table B for {t.N}:{t.M}: C = {t.C} rows").ToHtml()), HtmlFormatter.MimeType);
        Formatter.Register<MethodRun>((r, w) =>
        {
            w.Write($"<p><b>{r.Model} {r.Method} {r.Pattern}</b>, seed {r.Seed}: top-1 {F(100 * r.FinalAccuracy, "F2")} %, exact N:M {(r.ExactNm ? "yes" : "no")}, " +
                    $"{F(r.TotalTrainGFlops, "F0")} GFLOPs, {F(r.Seconds, "F1")} s</p>");
            w.Write(EpochTable(r.Epochs).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<IEnumerable<EpochTrace>>((es, w) => w.Write(EpochTable(es).ToHtml()), HtmlFormatter.MimeType);
        Formatter.Register<LbcResults>((r, w) =>
        {
            w.Write($"<p>LBC, preset <code>{r.Preset}</code> on {System.Net.WebUtility.HtmlEncode(r.Runtime.DeviceName)}, seeds {string.Join(", ", r.Config.SeedList)}, {F(r.WallSeconds, "F0")} s</p>");
            w.Write(ClaimsTable.ToTable(r.Claims).ToHtml());
            w.Write(LbcReport.SummaryTable(r).ToHtml());
        }, HtmlFormatter.MimeType);
        Formatter.Register<LbcResults>((r, w) => w.Write(ClaimsTable.ToTable(r.Claims).ToString() + "\n" + LbcReport.SummaryTable(r)), PlainTextFormatter.MimeType);
    }
}
