using Plotly.NET;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.AccDiffusion;

/// <summary>The AccDiffusion views (each callable from a notebook) and the HTML report.</summary>
public static class AccReport
{
    static double[][] To(double[,] a) => Enumerable.Range(0, a.GetLength(0)).Select(y => Enumerable.Range(0, a.GetLength(1)).Select(x => a[y, x]).ToArray()).ToArray();
    static double[,] B(bool[,] m) { var o = new double[m.GetLength(0), m.GetLength(1)]; for (int y = 0; y < m.GetLength(0); y++) for (int x = 0; x < m.GetLength(1); x++) o[y, x] = m[y, x] ? 1 : 0; return o; }

    /// <summary>Per word: the phase-1 image, its attention map, the mask before and after the opening.</summary>
    public static ImageGrid MasksGrid(AccOutput o) =>
        Images.Grid($"{o.Method}: per-word cross-attention maps (phase 1, all steps) and masks before/after the opening",
            new[] { ("phase-1 image", o.Phase1) }.Concat(o.Masks.SelectMany(m => new[]
                { ($"{m.Word}: map", Images.Grey(m.Map)), ($"{m.Word}: > mean", Images.Grey(B(m.Raw))), ($"{m.Word}: opened", Images.Grey(B(m.Opened))) })),
            cols: 4, px: 96);

    /// <summary>Window × word ratios of one scale with the threshold c.</summary>
    public static GenericChart Ratios(ScalePrompts p, AccOutput o) =>
        Charts.Heatmap(To(p.Ratios), $"Scale {p.K}×: fraction of each window covered by each word's mask", "word: " + string.Join(" | ", o.Masks.Select(m => m.Word)), "window");

    /// <summary>Each window's prompt.</summary>
    public static Table PromptTable(ScalePrompts p) => new(["window", "map (y, x)", "latent (y, x, side)", "prompt"],
        p.PromptText.Select((t, i) => new[] { i.ToString(), $"({p.MapWindows[i].Y}, {p.MapWindows[i].X})", $"({p.LatentWindows[i].Y}, {p.LatentWindows[i].X}, {p.LatentWindows[i].Size})", t.Length == 0 ? "(empty)" : t }).ToList());

    /// <summary>Window interaction: share of slot 0 taken by each sample at the first step (flat = uniform shuffle).</summary>
    public static GenericChart PermutationShare(ScaleTrace t) =>
        Charts.Bar(t.PermutationFirst.Select((_, i) => $"sample {i}").ToArray(), t.PermutationFirst, $"Scale {t.K}×: which sample feeds slot 0 (first step)", "sample", "share");

    public static HtmlReport Build(AccResults r)
    {
        var rep = new HtmlReport(AccExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); {r.WallSeconds:F0} s. AccDiffusion reads the base generation's cross-attention " +
                 "maps, keeps in each window's prompt only the words whose mask covers at least c of the window, and lets DemoFusion's dilated samples exchange " +
                 "pixels (window interaction).");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Table(BenchViews.MetricsTable(r.Metrics));
        rep.Chart(BenchViews.CountError(r.Metrics)); rep.Chart(BenchViews.FidC(r.Metrics)); rep.Chart(BenchViews.Seconds(r.Metrics));
        rep.Table(BenchViews.ImagesTable(r.Images));
        if (r.Examples.Length > 0)
        {
            rep.Heading("Images (first prompt)");
            rep.Raw(BenchViews.Outputs(r.Examples, string.Join(", ", r.Prompts[0].Where(t => t < 28).Select(Data.ShapeScenes.Word))).Html);
            var acc = r.Examples.OfType<AccOutput>().Where(o => o.Method == "AccDiffusion").OrderByDescending(o => o.Scale).FirstOrDefault();
            if (acc is not null)
            {
                rep.Heading("Inside one AccDiffusion run");
                rep.Raw(MasksGrid(acc).Html);
                foreach (var p in acc.Prompts) { rep.Chart(Ratios(p, acc)); rep.Table(PromptTable(p)); }
                foreach (var t in acc.Scales)
                {
                    rep.Chart(BenchViews.Cosines(t)); rep.Raw(BenchViews.Dilated(t).Html);
                    if (t.PermutationFirst.Length > 0) rep.Chart(PermutationShare(t));
                }
                rep.Raw(BenchViews.Phases(acc.Phase1, acc.Scales).Html);
            }
        }
        return rep;
    }
}
