using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Runtime;

namespace Workbench.Papers.AccDiffusion;

/// <summary>
/// AccDiffusion on ShapeScenes (accdiffusion.md §5). Code defaults kept: c = 0.3, cosine scales 3/1/1, σ = 0.8 (CLI),
/// stride r/2 with jitter frozen per scale for md-prompts, shuffle and md-prompts on (README run), mean threshold, opening
/// with m//16 iterations, maps from the side-r/2 level (m = 16 at r = 32). Toy choices: pixel space, DDIM η = 0 "leading",
/// guidance 4 in both branches (spec §5: 7.5 oversaturates the tiny model).
/// </summary>
public sealed record AccConfig(
    UNetConfig Model,
    DiffusionTrainConfig Train,
    EvaluatorConfig Eval,
    SamplerSettings Sampler,
    int[] Scales,
    int Prompts,
    double C = 0.3,
    double[]? CSweep = null,
    bool Ablations = true,
    long Seed = 1,
    string Preset = "custom",
    int CropsPerImage = 10)
{
    public static AccConfig Test { get; } = new(UNetConfig.Test, DiffusionTrainConfig.Test, EvaluatorConfig.Test,
        new SamplerSettings(Steps: 4, ViewBatch: 4), [2], 1, CSweep: [], Preset: "test");

    /// <summary>The H100 run (one 130 s slot after cutdiffusion, reusing its cached UNet and evaluators): 4 prompts at
    /// s ∈ {2, 4}; the ablation arms run at the largest scale only (the only scale their claims read); no c-sweep (its verdict
    /// is always pending). About 3,400 UNet calls per prompt (≈ 20–27 s at 6–8 ms a call); a deadline cuts prompts if slower.</summary>
    public static AccConfig Gpu { get; } = new(UNetConfig.Gpu, DiffusionTrainConfig.Gpu, EvaluatorConfig.Gpu,
        new SamplerSettings(Steps: 50, ViewBatch: 16), [2, 4], 4, CSweep: [], Preset: "gpu", CropsPerImage: 40);

    public static AccConfig For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public AccConfig Validate()
    {
        const string n = nameof(AccConfig);
        Model.Validate(); Train.Validate();
        Check.That(Scales.Length > 0 && Scales.All(s => s >= 2 && s <= 8), n, nameof(Scales), "scales must be integers in 2..8.");
        Check.Positive(n, nameof(Prompts), Prompts); Check.Positive(n, nameof(CropsPerImage), CropsPerImage);
        Check.NonNegative(n, nameof(C), C);
        Check.That(Model.AttnLevels.Contains(1), n, nameof(Model), "AccDiffusion reads the cross-attention of the side-r/2 level: AttnLevels must contain 1.");
        Check.That(Model.Resolution % 16 == 0, n, nameof(Model), "the base side must be a multiple of 16 (map side r/2, its windows stride r/4).");
        Check.Positive(n, "Sampler.Steps", Sampler.Steps);
        return this;
    }
}
