using TorchSharp;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion.HighRes;

/// <summary>One method under test: a name and how to sample one prompt at scale s with a seed.</summary>
public sealed record BenchArm(string Name, Func<Denoiser, long[], int, long, HighResOutput> Run, int[]? OnlyScales = null);

/// <summary>One generated image's measurements: detector counts (tokens with n̂ &gt; 0 as "token:count"), count error,
/// repetition / missing flags, cost.</summary>
public sealed record ImageEval(string Arm, int Scale, int Prompt, string PromptText, int Ce, bool Repeated, bool Missing, string[] Detected,
    long Samples, double BaseEquivalents, double Seconds, long? PeakBytes);

/// <summary>A measured evaluation count beside the spec's closed form.</summary>
public sealed record FormulaCheck(string Method, int Scale, int Steps, long Measured, long Formula);

/// <summary>Means over prompts for one (arm, scale): CE, repetition and missing rates, FID_r (outputs area-downsampled to the
/// base side vs base-side references of the same prompts), FID_c (random base-size crops vs crops of references rendered at
/// the same side), exact sample-evaluations per image, time and the process memory high-water mark (NVML; never shrinks within a process).</summary>
public sealed record ArmMetrics(string Arm, int Scale, int Prompts, double Ce, double CeSd, double RepetitionRate, double MissingRate,
    double FidR, double FidC, long Samples, long Forwards, double BaseEquivalents, double Seconds, long? PeakBytes, string PeakSource);

/// <summary>The benchmark: per-image evaluations, per-arm metrics, and the first prompt's outputs (for image grids).
/// <c>Prompts</c> are the prompts every arm ran (the first <c>Prompts.Length</c> of the <c>PromptsRequested</c> asked for:
/// under a deadline the bench stops starting new prompts); <c>Cut</c> says so, null when all ran.</summary>
public sealed record BenchResult(long[][] Prompts, ImageEval[] Images, ArmMetrics[] Metrics, HighResOutput[] Examples, int ReferenceCount, int CropsPerImage,
    int PromptsRequested, string? Cut);

public static class Bench
{
    /// <summary>n evaluation prompts: prompts of sampled scenes with at least one object.</summary>
    public static long[][] Prompts(long seed, int n)
    {
        var rng = Seeding.Rng(seed, "bench-prompts");
        var list = new List<long[]>();
        while (list.Count < n) { var s = ShapeScenes.Sample(rng); if (s.Objects.Length > 0) list.Add(s.Prompt); }
        return list.ToArray();
    }

    static string Text(long[] p) => string.Join(", ", p.Where(t => t < ShapeScenes.ObjectTokens + ShapeScenes.Backgrounds).Select(ShapeScenes.Word));

    /// <summary>Random side×side crops (same generator for every method) of an image [1,3,H,W].</summary>
    static Tensor Crops(Tensor img, int side, int n, Random rng)
    {
        long H = img.shape[2], W = img.shape[3];
        var list = new List<Tensor>();
        for (int i = 0; i < n; i++)
        {
            int y = rng.Next((int)(H - side + 1)), x = rng.Next((int)(W - side + 1));
            list.Add(img[.., .., y..(y + side), x..(x + side)]);
        }
        return torch.cat(list.ToArray(), 0);
    }

    /// <summary>
    /// Runs every arm at every scale on every prompt, measures each image and aggregates. Prompt-major: all arms and scales
    /// for prompt 0, then prompt 1, …, so every arm has the same prompts whenever it stops. Under a <see cref="Deadline"/> it
    /// stops starting a new prompt once the mean cost of the prompts done would take it past the deadline less
    /// <paramref name="reserveSeconds"/> (the work that follows the bench); the first prompt always runs. The metrics of each
    /// (arm, scale) are aggregated exactly as for a full run over the prompts done (FID references: those prompts' references).
    /// </summary>
    public static BenchResult Run(Denoiser den, Evaluators ev, long[][] prompts, BenchArm[] arms, int[] scales, long seed,
        int referencesPerPrompt = 2, int cropsPerImage = 10, Action<string>? log = null, Action<HighResOutput, int>? onOutput = null,
        double reserveSeconds = 0)
    {
        int r = den.Base;
        var images = new List<ImageEval>(); var metrics = new List<ArmMetrics>(); var examples = new List<HighResOutput>();
        // References: scenes with the prompt's objects and background, new layouts, rendered at base and at each target side.
        var refRng = Seeding.Rng(seed, "bench-references");
        var refScenes = prompts.SelectMany(p => Enumerable.Range(0, referencesPerPrompt)
            .Select(_ => ShapeScenes.SampleWith(refRng, ShapeScenes.ObjectsOf(p), ShapeScenes.BackgroundOf(p) ?? 0))).ToArray();
        using var refBase = ShapeScenes.Tensors(refScenes, r).Images;
        using var refFeatR = ev.Feature(refBase);
        var refFeatC = new Dictionary<int, Tensor>();
        foreach (var s in scales)
        {
            using var refS = ShapeScenes.Tensors(refScenes, s * r).Images;
            var cropRng = Seeding.Rng(seed, $"bench-refcrops-{s}");
            using var crops = torch.cat(Enumerable.Range(0, refScenes.Length).Select(i => Crops(refS[i..(i + 1)], r, cropsPerImage, cropRng)).ToArray(), 0);
            refFeatC[s] = ev.Feature(crops);
        }
        // One (arm, scale) cell: its outputs and features so far, and its crop generator (the same stream for every method).
        var cells = scales.SelectMany(s => arms.Where(a => a.OnlyScales is null || a.OnlyScales.Contains(s))
            .Select(a => (Arm: a, S: s, Outs: new List<(HighResOutput O, ImageEval E)>(), CropRng: Seeding.Rng(seed, $"bench-crops-{s}"),
                FeatR: new List<Tensor>(), FeatC: new List<Tensor>()))).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int done = 0;
        for (int pi = 0; pi < prompts.Length; pi++)
        {
            if (pi > 0 && !Deadline.Leaves(clock.Elapsed.TotalSeconds / pi + reserveSeconds))
            {
                log?.Invoke($"deadline: stopping after {pi} of {prompts.Length} prompts ({Deadline.SecondsLeft:F0} s left, a prompt takes ~{clock.Elapsed.TotalSeconds / pi:F0} s)");
                break;
            }
            var p = prompts[pi];
            foreach (var cell in cells)
            {
                var (arm, s) = (cell.Arm, cell.S);
                var o = arm.Run(den, p, s, seed + 1000 * pi);
                using var img = o.Image.ToTensor();
                var counts = ev.Count(img);
                var truth = new int[ShapeScenes.ObjectTokens];
                foreach (var t in ShapeScenes.ObjectsOf(p)) truth[t]++;
                var (ce, rep, miss) = Counting.Compare(counts, truth);
                var det = counts.Select((c, t) => (c, t)).Where(x => x.c > 0).Select(x => $"{ShapeScenes.Word(x.t)}:{x.c}").ToArray();
                var e = new ImageEval(arm.Name, s, pi, Text(p), ce, rep, miss, det, o.Evals.Samples, o.Evals.BaseEquivalents, o.Seconds, o.PeakBytes);
                cell.Outs.Add((o, e)); images.Add(e);
                cell.FeatR.Add(ev.Feature(img));
                using (var c = Crops(img, r, cropsPerImage, cell.CropRng)) cell.FeatC.Add(ev.Feature(c));
                onOutput?.Invoke(o, pi);
                if (pi == 0) examples.Add(o);
                log?.Invoke($"{arm.Name} ×{s} prompt {pi}: CE {ce}, {o.Evals.Samples} evaluations, {o.Seconds:F2} s");
            }
            done = pi + 1;
        }
        // References of the prompts done: the first done·referencesPerPrompt scenes (their crops come first in each stream).
        int nRef = done * referencesPerPrompt;
        using var refR = refFeatR[..nRef];
        foreach (var cell in cells)
        {
            var outs = cell.Outs;
            using var fr = torch.cat(cell.FeatR.ToArray(), 0); using var fc = torch.cat(cell.FeatC.ToArray(), 0);
            foreach (var f in cell.FeatR.Concat(cell.FeatC)) f.Dispose();
            using var refC = refFeatC[cell.S][..(nRef * cropsPerImage)];
            var ces = outs.Select(x => (double)x.E.Ce).ToArray();
            double mean = ces.Average(), sd = ces.Length > 1 ? Math.Sqrt(ces.Sum(c => (c - mean) * (c - mean)) / (ces.Length - 1)) : 0;
            var peaks = outs.Select(x => x.O.PeakBytes).Where(x => x is not null).ToList();
            metrics.Add(new ArmMetrics(cell.Arm.Name, cell.S, outs.Count, mean, sd, outs.Average(x => x.E.Repeated ? 1.0 : 0), outs.Average(x => x.E.Missing ? 1.0 : 0),
                Evaluators.Frechet(fr, refR), Evaluators.Frechet(fc, refC),
                (long)outs.Average(x => x.O.Evals.Samples), (long)outs.Average(x => x.O.Evals.Forwards), outs.Average(x => x.O.Evals.BaseEquivalents),
                outs.Average(x => x.O.Seconds), peaks.Count > 0 ? peaks.Max() : null, outs[0].O.PeakSource));
        }
        foreach (var t in refFeatC.Values) t.Dispose();
        // Per-image rows in the arm-major order of the tables (scale, arm, prompt).
        var order = cells.Select((c, i) => (c.Arm.Name, c.S, i)).ToDictionary(x => (x.Name, x.S), x => x.i);
        var rows = images.OrderBy(e => order[(e.Arm, e.Scale)]).ThenBy(e => e.Prompt).ToArray();
        return new BenchResult(prompts[..done], rows, metrics.ToArray(), examples.ToArray(), referencesPerPrompt, cropsPerImage,
            prompts.Length, TimeBudget.CutNote(done, prompts.Length, "prompts"));
    }
}
