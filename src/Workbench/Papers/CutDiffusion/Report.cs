using Plotly.NET;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.CutDiffusion;

/// <summary>The CutDiffusion views (each callable from a notebook) and the HTML report.</summary>
public static class CutReport
{
    /// <summary>Patch id per canvas pixel: the periodic s×s pattern of the relocation.</summary>
    public static GenericChart OwnerMap(CutOutput o) =>
        Charts.Heatmap(To(o.Owner), $"{o.Method} {o.Scale}×: owner map (patch id per canvas pixel)", "x", "y");

    /// <summary>How often patch k landed in slot j at the first structure step (flat = uniform interaction).</summary>
    public static GenericChart PermutationStats(CutOutput o) =>
        Charts.Heatmap(To(o.PermutationCounts), $"{o.Method} {o.Scale}×: P(patch k in slot j), first step", "slot j", "patch k");

    /// <summary>x̂0 of every patch after each structure step (rows = steps).</summary>
    public static ImageGrid PatchX0(CutOutput o) =>
        Images.Grid($"{o.Method} {o.Scale}×: x̂0 of the {o.Scale * o.Scale} patches per structure step",
            o.PatchX0.SelectMany((row, i) => row.Select((im, k) => ($"step {i + 1}, patch {k}", im))), cols: o.Scale * o.Scale, px: 72);

    /// <summary>Canvas x̂0 right after relocation beside the final image.</summary>
    public static ImageGrid Relocation(CutOutput o) =>
        Images.Grid($"{o.Method} {o.Scale}×: relocated x̂0 (cut step {o.CutStep}) → final", [("relocated x̂0", o.Relocated), ("final", o.Image)], cols: 2, px: 192);

    public static GenericChart Similarity(double[] with, double[] without) =>
        Charts.Lines([new Series("pixel interaction", Enumerable.Range(1, with.Length).Select(i => (double)i).ToArray(), with),
                new Series("no interaction", Enumerable.Range(1, without.Length).Select(i => (double)i).ToArray(), without)],
            "Mean pairwise correlation of the patches' x̂0 during the structure phase", "structure step", "correlation");

    public static GenericChart Coverage(int[,] cov, string title) => Charts.Heatmap(To(cov), title, "x", "y");

    /// <summary>Evaluations and seconds of the two phases of one CutDiffusion run.</summary>
    public static GenericChart Phases(CutOutput o) =>
        Charts.StackedBars(["evaluations", "seconds ×100"], [("structure", [o.PhaseEvals[0], 100 * o.PhaseSeconds[0]]), ("detail", [o.PhaseEvals[1], 100 * o.PhaseSeconds[1]])],
            $"{o.Method} {o.Scale}×: cost per phase");

    internal static double[][] To(int[,] a) => Enumerable.Range(0, a.GetLength(0)).Select(y => Enumerable.Range(0, a.GetLength(1)).Select(x => (double)a[y, x]).ToArray()).ToArray();
    internal static double[][] To(double[,] a) => Enumerable.Range(0, a.GetLength(0)).Select(y => Enumerable.Range(0, a.GetLength(1)).Select(x => a[y, x]).ToArray()).ToArray();

    public static HtmlReport Build(CutResults r)
    {
        var rep = new HtmlReport(CutExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); {r.WallSeconds:F0} s. CutDiffusion denoises K = s² base-size patches made of " +
                 "interleaved canvas pixels with a random per-element exchange between patches (structure), relocates them onto the canvas after ⌈p·N⌉ steps, " +
                 "and refines with jittered overlapping windows (detail).");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Table(BenchViews.MetricsTable(r.Metrics));
        rep.Chart(BenchViews.CountError(r.Metrics));
        rep.Chart(BenchViews.Evaluations(r.Metrics)); rep.Chart(BenchViews.Seconds(r.Metrics));
        rep.Table(BenchViews.FormulaTable(r.Formulas));
        rep.Table(CutClaims.ViewBatchTable(r.ViewBatches));
        if (r.MemoryProbes.Length > 0) rep.Table(CutClaims.MemoryProbeTable(r.MemoryProbes));
        if (r.Examples.Length > 0)
        {
            rep.Heading("Images (first prompt)");
            rep.Raw(BenchViews.Outputs(r.Examples, string.Join(", ", r.Prompts[0].Where(t => t < 28).Select(Data.ShapeScenes.Word))).Html);
            var cut = r.Examples.OfType<CutOutput>().FirstOrDefault(o => o.InteractionOn);
            if (cut is not null)
            {
                rep.Heading("Inside one CutDiffusion run");
                rep.Chart(OwnerMap(cut)); rep.Chart(PermutationStats(cut));
                rep.Raw(PatchX0(cut).Html); rep.Raw(Relocation(cut).Html);
                rep.Chart(Coverage(cut.FirstDetailCoverage, "Window overlap count, first detail step"));
                rep.Chart(Phases(cut));
            }
        }
        if (r.PatchSimilarityWith.Length > 0) rep.Chart(Similarity(r.PatchSimilarityWith, r.PatchSimilarityWithout));
        return rep;
    }
}
