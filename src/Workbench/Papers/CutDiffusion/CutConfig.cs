using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Runtime;

namespace Workbench.Papers.CutDiffusion;

/// <summary>
/// CutDiffusion on ShapeScenes (cutdiffusion.md §5). Paper/code defaults kept: p = 0.5, stride r/2, jitter J = r/8 re-drawn
/// every step in phase 2, pixel interaction on, same guidance in both phases. Toy choices: pixel space (r = base side),
/// DDIM η = 0 "leading" instead of Euler, guidance 4 (7.5 oversaturates the tiny model, spec §5).
/// </summary>
public sealed record CutConfig(
    UNetConfig Model,
    DiffusionTrainConfig Train,
    EvaluatorConfig Eval,
    SamplerSettings Sampler,
    int[] Scales,
    int Prompts,
    double P = 0.5,
    double[]? PSweep = null,
    bool Baselines = true,
    int[]? ViewBatches = null,
    long Seed = 1,
    string Preset = "custom",
    int CropsPerImage = 10)
{
    public static CutConfig Test { get; } = new(UNetConfig.Test, DiffusionTrainConfig.Test, EvaluatorConfig.Test,
        new SamplerSettings(Steps: 4, ViewBatch: 4), [2], 1, PSweep: [], ViewBatches: [1, 4], Preset: "test");

    /// <summary>The H100 run (one 250 s slot, which also trains the shared UNet and evaluators): 6 prompts at s ∈ {2, 4};
    /// the p-sweep (no verdict reads it) has two values and runs at the smallest scale only; the view-batch sweep runs at
    /// Scales[0]. About 1,500 UNet calls per prompt (≈ 9–12 s at 6–8 ms a call); a deadline cuts prompts if slower.</summary>
    public static CutConfig Gpu { get; } = new(UNetConfig.Gpu, DiffusionTrainConfig.Gpu, EvaluatorConfig.Gpu,
        new SamplerSettings(Steps: 50, ViewBatch: 16), [2, 4], 6, PSweep: [0.2, 0.8], ViewBatches: [1, 16], Preset: "gpu", CropsPerImage: 40);

    public static CutConfig For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public CutConfig Validate()
    {
        const string n = nameof(CutConfig);
        Model.Validate(); Train.Validate();
        Check.That(Scales.Length > 0 && Scales.All(s => s >= 1 && s <= 8), n, nameof(Scales), "scales must be integers in 1..8.");
        Check.Positive(n, nameof(Prompts), Prompts); Check.Positive(n, nameof(CropsPerImage), CropsPerImage);
        Check.InRange(n, nameof(P), P, 0, 1);
        foreach (var p in PSweep ?? []) Check.InRange(n, nameof(PSweep), p, 0, 1);
        Check.That(Model.Resolution % 8 == 0, n, nameof(Model), "the base side must be a multiple of 8 (stride r/2, jitter r/8).");
        Check.Positive(n, "Sampler.Steps", Sampler.Steps); Check.Positive(n, "Sampler.ViewBatch", Sampler.ViewBatch);
        return this;
    }
}
