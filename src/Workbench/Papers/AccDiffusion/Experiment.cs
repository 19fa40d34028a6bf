using System.Diagnostics;
using System.Text.Json.Serialization;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Runtime;

namespace Workbench.Papers.AccDiffusion;

/// <summary>Everything one <c>papers reproduce accdiffusion</c> measured.</summary>
public sealed record AccResults(
    string Preset, RuntimeInfo Runtime, string StartedUtc, double WallSeconds, AccConfig Config,
    TrainResult Unet, TrainResult Detector, TrainResult Feature, double DetectorPixelAccuracy, double DetectorCountExact,
    long[][] Prompts, ArmMetrics[] Metrics, ImageEval[] Images, FormulaCheck[] Formulas, IReadOnlyList<Claims.Claim> Claims)
{
    /// <summary>The first prompt's outputs per arm and scale (not written to results.json).</summary>
    [JsonIgnore] public HighResOutput[] Examples { get; init; } = [];
    /// <summary>Prompts the config asked for; <c>Prompts</c> holds those every arm ran (fewer when a deadline cut the bench).</summary>
    public int PromptsRequested { get; init; }
    /// <summary>What a time budget cut (training steps, prompts); empty when nothing was.</summary>
    public string[] Cuts { get; init; } = [];
}

public static class AccExperiment
{
    public const string Slug = "accdiffusion";
    public const string Title = "AccDiffusion — patch-content-aware prompts for higher-resolution diffusion (arXiv 2407.10738)";

    public static BenchArm[] Arms(AccConfig cfg)
    {
        var st = cfg.Sampler;
        var arms = new List<BenchArm>
        {
            new("Direct", (d, p, s, seed) => Samplers.Direct(d, p, s, st, seed)),
            new("MultiDiffusion", (d, p, s, seed) => Samplers.MultiDiffusion(d, p, s, st, seed)),
            new("DemoFusion", (d, p, s, seed) => DemoFusion.Run(d, p, s, st, seed)),
            new("AccDiffusion", (d, p, s, seed) => AccSteps.Run(d, p, s, st, seed, new AccSettings(C: cfg.C))),
        };
        if (cfg.Ablations)
        {
            // The ablation claims read the largest scale only; the smaller ones would be cost without a verdict.
            int[] top = [cfg.Scales[^1]];
            arms.Add(new("md-prompts only", (d, p, s, seed) => AccSteps.Run(d, p, s, st, seed, new AccSettings(Shuffle: false, C: cfg.C), method: "md-prompts only"), top));
            arms.Add(new("shuffle only", (d, p, s, seed) => AccSteps.Run(d, p, s, st, seed, new AccSettings(MdPrompts: false), method: "shuffle only"), top));
            arms.Add(new("empty patch prompts", (d, p, s, seed) => AccSteps.Run(d, p, s, st, seed, new AccSettings(C: 2), method: "empty patch prompts"), top));
        }
        foreach (var c in cfg.CSweep ?? [])
            arms.Add(new($"Acc c={c:G3}", (d, p, s, seed) => AccSteps.Run(d, p, s, st, seed, new AccSettings(C: c), method: $"Acc c={c:G3}")));
        return arms.ToArray();
    }

    /// <summary>Seconds kept free after the bench under a deadline (formula checks, claims, writing the results).</summary>
    public const double ReserveSeconds = 6;

    public static AccResults Run(AccConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        using var world = DiffusionSetup.Prepare(cfg.Model, cfg.Train, cfg.Eval, rt.TorchDevice, cfg.Seed);
        var den = world.Denoiser;
        log.WriteLine($"[accdiffusion] {world.Summary}");
        var cuts = new List<string>(world.TrainingCuts);
        var prompts = Bench.Prompts(cfg.Seed, cfg.Prompts);
        using var fp32 = Tf32.Off();                                      // sampling in fp32 proper (TF32 stays on for training)
        AccSteps.Run(den, prompts[0], 2, cfg.Sampler with { Steps = 1 }, cfg.Seed, new AccSettings());      // warm-up, untimed
        var trace = Environment.GetEnvironmentVariable("PAPERS_TRACE") == "1";
        var bench = Bench.Run(den, world.Evaluators, prompts, Arms(cfg), cfg.Scales, cfg.Seed, cropsPerImage: cfg.CropsPerImage, log: trace ? s => log.WriteLine("  " + s) : null,
            reserveSeconds: ReserveSeconds);
        if (bench.Cut is { } bc) { cuts.Add($"benchmark: {bc}"); log.WriteLine($"[accdiffusion] cut: {bc}"); }
        int n = cfg.Sampler.Steps;
        var formulas = bench.Metrics.Select(m => m.Arm switch
        {
            "Direct" => new FormulaCheck(m.Arm, m.Scale, n, m.Samples, n),
            "MultiDiffusion" => new FormulaCheck(m.Arm, m.Scale, n, m.Samples, Samplers.MultiDiffusionEvaluations(n, m.Scale)),
            _ => new FormulaCheck(m.Arm, m.Scale, n, m.Samples, DemoFusion.Evaluations(n, m.Scale)),
        }).ToArray();
        var res = new AccResults(cfg.Preset, rt, started.ToString("O"), 0, cfg, world.Unet, world.Detector, world.Feature,
            world.DetectorPixelAccuracy, world.DetectorCountExact, bench.Prompts, bench.Metrics, bench.Images, formulas, [])
            { Examples = bench.Examples, PromptsRequested = bench.PromptsRequested, Cuts = cuts.ToArray() };
        res = res with { Claims = AccClaims.Evaluate(res), WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) };
        WriteAll(res, outDir);
        return res;
    }

    public static void WriteAll(AccResults res, string outDir)
    {
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), res, indented: false);
        AtomicFile.WriteAllText(Path.Combine(outDir, "claims.md"), AccClaims.Markdown(res));
        AccReport.Build(res).Save(Path.Combine(outDir, "report.html"));
    }
}
