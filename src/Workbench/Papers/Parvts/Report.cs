using Plotly.NET;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Parvts;

/// <summary>ParVTS views (each callable from a notebook) and the HTML report.</summary>
public static class ParvtsReport
{
    /// <summary>Accuracy against the formula MACs saving, one line per method family (each r of ParVTS over K).</summary>
    public static GenericChart AccuracyVsMacs(ParvtsResults r)
    {
        var series = r.Points.GroupBy(p => p.Method == "ParVTS" || p.Method == "subject-only pruning" ? $"ParVTS r = {p.R:G3} (K = 0 … L)" : p.Method)
            .Select(g => new Series(g.Key, g.Select(p => 100 * p.MacsSaving).ToArray(), g.Select(p => 100 * p.Accuracy).ToArray()))
            .Append(new Series("full model", [0], [100 * r.Full.Accuracy]));
        return Charts.Lines(series, "Accuracy against prefill MACs saved", "MACs saved (%)", "accuracy (%)");
    }

    /// <summary>Accuracy per question type: full model, subject-only pruning, ParVTS and no-fusion at the headline (r, K).</summary>
    public static GenericChart ByType(ParvtsResults r)
    {
        int k = Math.Min(r.Config.K, r.Config.Model.Lm.Layers);
        var types = r.Full.ByType.Keys.Order().ToArray();
        var pick = new[] { ("full model", (ParvtsPoint?)r.Full) }
            .Concat(new[] { ("subject-only pruning", 0), ("ParVTS", k), ("drop path N without fusion", k), ($"FastV at layer {r.Config.FastVLayer}", r.Config.FastVLayer) }
                .Select(x => (x.Item1, r.Points.FirstOrDefault(p => p.Method == x.Item1 && Math.Abs(p.R - r.Config.R) < 1e-12 && p.K == x.Item2))))
            .Where(x => x.Item2 is not null);
        return Charts.GroupedBars(types, pick.Select(x => (x.Item1, types.Select(t => 100 * x.Item2!.ByType.GetValueOrDefault(t)).ToArray())),
            $"Accuracy per question type at r = {r.Config.R:G3}, K = {k}", "accuracy (%)");
    }

    /// <summary>The encoder's [CLS] saliency over the patch grid and the subject patches it selects, for a few samples.</summary>
    public static GenericChart Partition(ParvtsResults r)
    {
        int side = (int)Math.Round(Math.Sqrt(r.Visual));
        double[][] Grid(double[] v) => Enumerable.Range(0, side).Select(i => v.Skip(i * side).Take(side).ToArray()).ToArray();
        var tiles = r.SaliencyExamples.Zip(r.SubjectMasks).SelectMany(p => new[] { Grid(p.First), Grid(p.Second) }).ToList();
        return Charts.ImageGrid(tiles, 2, "Saliency ([CLS] attention) and the subject patches, per sample");
    }

    public static HtmlReport Build(ParvtsResults r)
    {
        var rep = new HtmlReport(ParvtsExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); {r.WallSeconds:F0} s. ParVTS splits the visual tokens into a " +
                 "subject group (the most salient r·Nv) and the rest, runs the two as parallel paths through the first K layers, fuses the text " +
                 "states, then drops the non-subject path.");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Chart(AccuracyVsMacs(r));
        rep.Chart(ByType(r));
        rep.Chart(Partition(r));
        rep.Table(ParvtsClaims.PointsTable(r));
        return rep;
    }
}
