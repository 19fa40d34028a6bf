using System.Diagnostics;
using System.Text.Json.Serialization;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Runtime;

namespace Workbench.Papers.CutDiffusion;

/// <summary>One method at one view batch size: time, peak memory, and max |Δ| of the image against the first batch size.</summary>
public sealed record ViewBatchRow(string Method, int Scale, int ViewBatch, double Seconds, long? PeakBytes, string PeakSource, double MaxAbsDiff);

/// <summary>Structure formation: detector class-map IoU (object pixels) between x̂0 at the cut step and the final image, and
/// the patches' x̂0 correlation after the last structure step, each the mean over <c>Images</c> prompts.</summary>
public sealed record StructureRow(string Method, int Scale, double ClassMapIoU, double FinalPatchSimilarity, int Images = 1);

/// <summary>Everything one <c>papers reproduce cutdiffusion</c> measured.</summary>
public sealed record CutResults(
    string Preset, RuntimeInfo Runtime, string StartedUtc, double WallSeconds, CutConfig Config,
    TrainResult Unet, TrainResult Detector, TrainResult Feature, double DetectorPixelAccuracy, double DetectorCountExact,
    long[][] Prompts, ArmMetrics[] Metrics, ImageEval[] Images, FormulaCheck[] Formulas, ViewBatchRow[] ViewBatches, StructureRow[] Structure,
    double[] PatchSimilarityWith, double[] PatchSimilarityWithout, IReadOnlyList<Claims.Claim> Claims)
{
    /// <summary>The first prompt's outputs per arm and scale (for image grids; not written to results.json).</summary>
    [JsonIgnore] public HighResOutput[] Examples { get; init; } = [];
    /// <summary>Prompts the config asked for; <c>Prompts</c> holds those every arm ran (fewer when a deadline cut the bench).</summary>
    public int PromptsRequested { get; init; }
    /// <summary>What a time budget cut (training steps, prompts, the view-batch sweep, memory probes); empty when nothing was.</summary>
    public string[] Cuts { get; init; } = [];
    /// <summary>Peak memory of CutDiffusion and DemoFusion per view batch, each measured in a fresh process (CUDA and the
    /// CLI only; empty otherwise). Rows that were not measured say why in <c>Source</c>.</summary>
    public DiffusionMemoryRow[] MemoryProbes { get; init; } = [];
}

public static class CutExperiment
{
    public const string Slug = "cutdiffusion";
    public const string Title = "CutDiffusion — a simple, fast, cheap and strong diffusion extrapolation method (arXiv 2404.15141)";

    /// <summary>The arms of the benchmark for a config.</summary>
    public static BenchArm[] Arms(CutConfig cfg)
    {
        var st = cfg.Sampler;
        var arms = new List<BenchArm>
        {
            new("CutDiffusion", (d, p, s, seed) => CutSteps.Run(d, p, s, cfg.P, st, seed)),
            new("Cut, no interaction", (d, p, s, seed) => CutSteps.Run(d, p, s, cfg.P, st, seed, interaction: false)),
        };
        // The p-sweep feeds no verdict (figures only): the smallest scale is enough.
        foreach (var p in cfg.PSweep ?? [])
            arms.Add(new($"Cut p={p:G3}", (d, pr, s, seed) => CutSteps.Run(d, pr, s, p, st, seed, name: $"Cut p={p:G3}"), OnlyScales: [cfg.Scales[0]]));
        if (cfg.Baselines)
        {
            arms.Add(new("MultiDiffusion", (d, p, s, seed) => Samplers.MultiDiffusion(d, p, s, st, seed)));
            arms.Add(new("DemoFusion", (d, p, s, seed) => DemoFusion.Run(d, p, s, st, seed)));
            arms.Add(new("Direct", (d, p, s, seed) => Samplers.Direct(d, p, s, st, seed)));
        }
        return arms.ToArray();
    }

    /// <summary>Seconds kept free after the bench under a deadline (formula checks, claims, writing the results).</summary>
    public const double ReserveSeconds = 8;

    public static CutResults Run(CutConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        using var world = DiffusionSetup.Prepare(cfg.Model, cfg.Train, cfg.Eval, rt.TorchDevice, cfg.Seed);
        var den = world.Denoiser;
        log.WriteLine($"[cutdiffusion] {world.Summary}");
        var cuts = new List<string>(world.TrainingCuts);
        var prompts = Bench.Prompts(cfg.Seed, cfg.Prompts);
        // Sampling and its measurements run in fp32 proper: TF32 (on for training) would put ~1e-3 relative error into every
        // matmul and make the view-batch agreement a test of TF32, not of the method.
        using var fp32 = Tf32.Off();
        // Warm-up (untimed): one tiny run so the first timed arm does not pay for kernel loading.
        CutSteps.Run(den, prompts[0], cfg.Scales[0], cfg.P, cfg.Sampler with { Steps = 2 }, cfg.Seed);
        // View batch (before the bench: a fixed, small cost at the smallest scale, so the bench can take what is left):
        // results agree to float rounding; time and the process's memory high-water mark at each batch size.
        var vbRows = new List<ViewBatchRow>();
        int sv = cfg.Scales[0];
        if (Deadline.Passed) cuts.Add("view-batch sweep skipped (deadline passed)");
        else
            foreach (var (name, run) in new (string, Func<int, HighResOutput>)[]
                     {
                         ("CutDiffusion", vb => CutSteps.Run(den, prompts[0], sv, cfg.P, cfg.Sampler with { ViewBatch = vb }, cfg.Seed)),
                         ("DemoFusion", vb => DemoFusion.Run(den, prompts[0], sv, cfg.Sampler with { ViewBatch = vb }, cfg.Seed)),
                     })
            {
                float[]? first = null;
                foreach (var vb in cfg.ViewBatches ?? [cfg.Sampler.ViewBatch])
                {
                    var o = run(vb);
                    first ??= o.Image.Data;
                    double d = first.Zip(o.Image.Data, (a, b) => (double)Math.Abs(a - b)).Max();
                    vbRows.Add(new ViewBatchRow(name, sv, vb, o.Seconds, o.PeakBytes, o.PeakSource, d));
                }
            }
        // Structure formation and the interaction ablation's patch agreement, over every prompt of every Cut arm.
        int si = cfg.Scales[^1];
        var iou = new Dictionary<(string, int), List<(double Iou, double Sim)>>();
        var sims = new Dictionary<(string, int), List<double[]>>();
        void Structure(HighResOutput o, int _)
        {
            if (o is not CutOutput c) return;
            using var a = c.Relocated.ToTensor(); using var b = c.Image.ToTensor();
            var ma = world.Evaluators.ClassMap(a); var mb = world.Evaluators.ClassMap(b);
            int inter = ma.Zip(mb, (x, y) => x > 0 && x == y ? 1 : 0).Sum(), union = ma.Zip(mb, (x, y) => x > 0 || y > 0 ? 1 : 0).Sum();
            var key = (c.Method, c.Scale);
            if (!iou.TryGetValue(key, out var l)) iou[key] = l = [];
            l.Add((union == 0 ? 1 : inter / (double)union, c.PatchSimilarity.LastOrDefault()));
            if (!sims.TryGetValue(key, out var ls)) sims[key] = ls = [];
            ls.Add(c.PatchSimilarity);
        }
        // Memory probes (after the bench) need a fresh process each, so only on CUDA with the CLI's launcher; the bench leaves
        // them their estimated time under a deadline.
        bool probing = rt.IsCuda && ChildProbe.Launcher is not null;
        int probeCount = probing ? DiffusionMemoryRequest.Methods.Length * (cfg.ViewBatches ?? [cfg.Sampler.ViewBatch]).Length : 0;
        var bench = Bench.Run(den, world.Evaluators, prompts, Arms(cfg), cfg.Scales, cfg.Seed, cropsPerImage: cfg.CropsPerImage,
            log: Environment.GetEnvironmentVariable("PAPERS_TRACE") == "1" ? s => log.WriteLine("  " + s) : null, onOutput: Structure,
            reserveSeconds: ReserveSeconds + probeCount * DiffusionMemoryProbe.EstimatedSeconds);
        if (bench.Cut is { } bc) { cuts.Add($"benchmark: {bc}"); log.WriteLine($"[cutdiffusion] cut: {bc}"); }
        var n = cfg.Sampler.Steps;
        var formulas = new List<FormulaCheck>();
        foreach (var m in bench.Metrics)
        {
            long? f = m.Arm switch
            {
                "CutDiffusion" or "Cut, no interaction" => CutSteps.Evaluations(n, cfg.P, m.Scale, m.Scale),
                var a when a.StartsWith("Cut p=") => CutSteps.Evaluations(n, double.Parse(a[6..], System.Globalization.CultureInfo.InvariantCulture), m.Scale, m.Scale),
                "MultiDiffusion" => Samplers.MultiDiffusionEvaluations(n, m.Scale),
                "DemoFusion" => DemoFusion.Evaluations(n, m.Scale),
                "Direct" => n,
                _ => null,
            };
            if (f is long ff) formulas.Add(new FormulaCheck(m.Arm, m.Scale, n, m.Samples, ff));
        }
        var structure = iou.Select(kv => new StructureRow(kv.Key.Item1, kv.Key.Item2, kv.Value.Average(x => x.Iou), kv.Value.Average(x => x.Sim), kv.Value.Count)).ToArray();
        double[] simWith = MeanCurve(sims.GetValueOrDefault(("CutDiffusion", si))), simWithout = MeanCurve(sims.GetValueOrDefault(("Cut, no interaction", si)));
        var res = new CutResults(cfg.Preset, rt, started.ToString("O"), 0, cfg, world.Unet, world.Detector, world.Feature,
            world.DetectorPixelAccuracy, world.DetectorCountExact, bench.Prompts, bench.Metrics, bench.Images, formulas.ToArray(), vbRows.ToArray(),
            structure, simWith, simWithout, []) { Examples = bench.Examples, PromptsRequested = bench.PromptsRequested, Cuts = cuts.ToArray() };
        if (probing)
        {
            WriteAll(res with { Claims = CutClaims.Evaluate(res), WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) }, outDir);   // kept if a probe hangs the run
            var probes = DiffusionMemoryProbe.Sweep(cfg, sv, q => ChildProbe.Launch<DiffusionMemoryRequest, DiffusionMemoryRow>(DiffusionMemoryProbe.Kind, q),
                cuts, log, ReserveSeconds);
            res = res with { MemoryProbes = probes.ToArray(), Cuts = cuts.ToArray() };
        }
        res = res with { Claims = CutClaims.Evaluate(res), WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) };
        WriteAll(res, outDir);
        return res;
    }

    /// <summary>Element-wise mean of equal-length curves (one per prompt); empty when there are none.</summary>
    static double[] MeanCurve(List<double[]>? curves) =>
        curves is null || curves.Count == 0 ? [] : Enumerable.Range(0, curves.Min(c => c.Length)).Select(i => curves.Average(c => c[i])).ToArray();

    public static void WriteAll(CutResults res, string outDir)
    {
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), res, indented: false);
        AtomicFile.WriteAllText(Path.Combine(outDir, "claims.md"), CutClaims.Markdown(res));
        CutReport.Build(res).Save(Path.Combine(outDir, "report.html"));
    }
}
