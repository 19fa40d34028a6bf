using System.Globalization;
using Plotly.NET;
using Workbench.Display;

namespace Workbench.Blocks.Diffusion.HighRes;

/// <summary>Tables and charts of a benchmark, shared by the extrapolation papers.</summary>
public static class BenchViews
{
    static string F(double v, string f = "F2") => v.ToString(f, CultureInfo.InvariantCulture);
    public static string Mb(long? b) => b is long x ? $"{x / 1048576.0:F0} MiB" : "n/a (CPU)";

    /// <summary>Measured evaluation counts beside their closed forms.</summary>
    public static Table FormulaTable(IEnumerable<FormulaCheck> fs) => new(["method", "scale", "N", "measured", "formula", "match"],
        fs.Select(f => new[] { f.Method, $"{f.Scale}×", f.Steps.ToString(), f.Measured.ToString(), f.Formula.ToString(), f.Measured == f.Formula ? "yes" : "NO" }).ToList());

    /// <summary>Per (arm, scale): CE ± sd, repetition, missing, FID_r, FID_c, evaluations, base-size equivalents, seconds, and
    /// the process's NVML memory high-water mark after the arm's runs (it never shrinks within a process, so it is not the
    /// arm's own peak).</summary>
    public static Table MetricsTable(IEnumerable<ArmMetrics> ms) => new(
        ["method", "scale", "prompts", "count error", "repetition", "missing", "FID_r", "FID_c", "evaluations", "base-size equiv.", "seconds", "peak memory (process high-water mark)"],
        ms.Select(m => new[] { m.Arm, $"{m.Scale}×", m.Prompts.ToString(), $"{F(m.Ce)} ± {F(m.CeSd)}", F(m.RepetitionRate), F(m.MissingRate),
            F(m.FidR, "F3"), F(m.FidC, "F3"), m.Samples.ToString(), F(m.BaseEquivalents, "F0"), F(m.Seconds, "F3"), Mb(m.PeakBytes) }).ToList());

    /// <summary>Per image: detected objects and count error.</summary>
    public static Table ImagesTable(IEnumerable<ImageEval> es) => new(["method", "scale", "prompt", "detected (token:count)", "CE", "evaluations", "seconds"],
        es.Select(e => new[] { e.Arm, $"{e.Scale}×", e.PromptText, string.Join(", ", e.Detected), e.Ce.ToString(), e.Samples.ToString(), F(e.Seconds, "F3") }).ToList());

    /// <summary>Final images of every method at every scale (first prompt).</summary>
    public static ImageGrid Outputs(IEnumerable<HighResOutput> outs, string prompt) =>
        Images.Grid($"Outputs for \"{prompt}\"", outs.Select(o => ($"{o.Method} {o.Scale}× ({o.Evals.Samples} evals)", o.Image)), cols: 4, px: 160);

    static GenericChart Grouped(IEnumerable<ArmMetrics> ms, Func<ArmMetrics, double> pick, string title, string y)
    {
        var list = ms.ToList();
        var arms = list.Select(m => m.Arm).Distinct().ToArray();
        var scales = list.Select(m => m.Scale).Distinct().Order().ToArray();
        return Charts.GroupedBars(arms, scales.Select(s => ($"{s}×", arms.Select(a => list.FirstOrDefault(m => m.Arm == a && m.Scale == s) is { } m ? pick(m) : double.NaN).ToArray())), title, y);
    }

    public static GenericChart CountError(IEnumerable<ArmMetrics> ms) => Grouped(ms, m => m.Ce, "Object count error Σ|n̂ − n| per method and scale", "count error");
    public static GenericChart Evaluations(IEnumerable<ArmMetrics> ms) => Grouped(ms, m => m.Samples, "UNet sample-evaluations per image", "evaluations");
    public static GenericChart Seconds(IEnumerable<ArmMetrics> ms) => Grouped(ms, m => m.Seconds, "Wall time per image", "seconds");
    public static GenericChart FidC(IEnumerable<ArmMetrics> ms) => Grouped(ms, m => m.FidC, "FID_c (crops at native scale)", "FID_c");

    /// <summary>c1, c2, c3 over the steps of one scale.</summary>
    public static GenericChart Cosines(ScaleTrace t)
    {
        var x = Enumerable.Range(1, t.C1.Length).Select(i => (double)i).ToArray();
        return Charts.Lines([new Series("c1 = φ³ (skip residual)", x, t.C1), new Series("c2 = φ (global weight)", x, t.C2), new Series("c3 (blur)", x, t.C3)],
            $"Scale {t.K}×: cosine factors per step", "step", "value");
    }

    /// <summary>Dilated samples of the first step of a scale: raw and the blurred (permuted) UNet input.</summary>
    public static ImageGrid Dilated(ScaleTrace t) =>
        Images.Grid($"Scale {t.K}×: the {t.K * t.K} dilated samples at the first step (raw, then the UNet's blurred input)",
            t.DilatedRawFirst.Select((im, i) => ($"raw {i}", im)).Concat(t.DilatedBlurredFirst.Select((im, i) => ($"input {i}", im))), cols: t.K * t.K, px: 80);

    /// <summary>Upsampled start, local and global estimates of the first step, final image of a scale.</summary>
    public static ImageGrid Phases(Img phase1, IEnumerable<ScaleTrace> ts) =>
        Images.Grid("Per-phase images", new[] { ("phase 1", phase1) }.Concat(ts.SelectMany(t => new[]
            { ($"{t.K}× upsampled", t.Upsampled), ($"{t.K}× local, step 1", t.LocalFirst), ($"{t.K}× global, step 1", t.GlobalFirst), ($"{t.K}× final", t.Final) })), cols: 5, px: 128);
}
