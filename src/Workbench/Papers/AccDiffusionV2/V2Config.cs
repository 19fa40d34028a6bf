using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Runtime;

namespace Workbench.Papers.AccDiffusionV2;

/// <summary>
/// AccDiffusion v2 on ShapeScenes (accdiffusion-v2.md §5): v1's settings (see <c>AccConfig</c>) plus the edge ControlNet.
/// λ = 0.6 (the README run; argparse 0.3, function default 0.5), σ_c = 0.3 (argparse; pipeline default 0.6), ControlNet
/// always on (control_guidance_end 1), local branch only, edges of the previous phase bicubically resized, not clamped.
/// </summary>
public sealed record V2Config(
    UNetConfig Model,
    DiffusionTrainConfig Train,
    EvaluatorConfig Eval,
    ControlTrainConfig Control,
    SamplerSettings Sampler,
    int[] Scales,
    int Prompts,
    double C = 0.3,
    double Lambda = 0.6,
    double CannySigma = 0.3,
    double[]? LambdaSweep = null,
    long Seed = 1,
    string Preset = "custom",
    int CropsPerImage = 10)
{
    public static V2Config Test { get; } = new(UNetConfig.Test, DiffusionTrainConfig.Test, EvaluatorConfig.Test, ControlTrainConfig.Test,
        new SamplerSettings(Steps: 4, ViewBatch: 4), [2], 1, LambdaSweep: [0], Preset: "test");

    /// <summary>The H100 run (one 170 s slot after accdiffusion, reusing the cached UNet and evaluators; it trains the
    /// ControlNet in ≤ 30% of its time): 4 prompts at s ∈ {2, 4}; λ-sweep {1.0} beside the default 0.6 (λ = 0 is bit-identical
    /// to the v1 arm), at the largest scale only, like "DemoFusion + ControlNet" (no verdict reads either at 2×). About
    /// 3,700 UNet-call equivalents per prompt (≈ 22–30 s at 6–8 ms a call); a deadline cuts prompts if slower.</summary>
    public static V2Config Gpu { get; } = new(UNetConfig.Gpu, DiffusionTrainConfig.Gpu, EvaluatorConfig.Gpu, ControlTrainConfig.Gpu,
        new SamplerSettings(Steps: 50, ViewBatch: 16), [2, 4], 4, LambdaSweep: [1.0], Preset: "gpu", CropsPerImage: 40);

    public static V2Config For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public V2Config Validate()
    {
        const string n = nameof(V2Config);
        Model.Validate(); Train.Validate();
        Check.That(Scales.Length > 0 && Scales.All(s => s >= 2 && s <= 8), n, nameof(Scales), "scales must be integers in 2..8.");
        Check.Positive(n, nameof(Prompts), Prompts); Check.Positive(n, nameof(CropsPerImage), CropsPerImage);
        Check.NonNegative(n, nameof(Lambda), Lambda);
        Check.InRange(n, nameof(CannySigma), CannySigma, 0, 1);
        Check.That(Model.AttnLevels.Contains(1) && Model.Resolution % 16 == 0, n, nameof(Model), "needs attention at level 1 and a base side divisible by 16 (as v1).");
        Check.Positive(n, "Control.Steps", Control.Steps);
        return this;
    }
}
