using Workbench.Runtime;

namespace Workbench.Papers.Eca;

/// <summary>An (L, d) size.</summary>
public sealed record ProblemSize(int L, int D)
{
    public override string ToString() => $"L={L}, d={D}";
}

/// <summary>
/// ECA experiment configuration (spec §5). <see cref="Test"/>: exactness at L, d ≤ 32 (and sizes not divisible by 4),
/// counted ratios (closed forms, any size), float32 error at L = d = 128, attention check at L = 64, a small CPU timing.
/// <see cref="Gpu"/>: exactness at 4096, error growth at 2048, attention at L = 256, d = 64, and the timing table at
/// L = d ∈ {2048, 4096, 8192} in fp32 with TF32 off, and the 300-step KJV LM comparison in fp32. The Test preset's LM
/// comparison is a 1-layer model for 20 steps in float64 (the curves must agree to many digits).
/// </summary>
public sealed record EcaConfig(
    ProblemSize[] ExactSizes,
    int ExactDepth,
    ProblemSize[] CountSizes,
    int MaxDepth,
    int ErrorSize,
    ProblemSize AttentionSize,
    int AttentionBatch,
    int AttentionHeads,
    int[] TimingSizes,
    int TimingRepeats,
    int LmLayers = 1,
    int LmDim = 32,
    int LmHeads = 2,
    int LmContext = 32,
    int LmSteps = 20,
    int LmBatch = 8,
    bool LmFloat64 = true,
    int LmDepth = 1,
    int LmTextChars = 200_000,
    long Seed = 1,
    string Preset = "custom")
{
    public static EcaConfig Test { get; } = new(
        [new(16, 16), new(32, 32), new(30, 12), new(23, 10)], ExactDepth: 2,
        [new(8192, 8192), new(4096, 128), new(2048, 64), new(1024, 1024), new(256, 256), new(64, 64), new(16, 16)], MaxDepth: 3,
        ErrorSize: 128, AttentionSize: new(64, 16), AttentionBatch: 2, AttentionHeads: 2,
        TimingSizes: [256], TimingRepeats: 3, Preset: "test");

    public static EcaConfig Gpu { get; } = Test with
    {
        ExactSizes = [new(30, 12), new(23, 10), new(256, 256), new(4096, 4096)],
        ErrorSize = 2048,
        AttentionSize = new(256, 64),
        TimingSizes = [2048, 4096, 8192],
        TimingRepeats = 10,
        // The spec's LM comparison: char-level KJV, 2 layers, d = 128, L = 256, 300 steps, fp32.
        LmLayers = 2, LmDim = 128, LmHeads = 2, LmContext = 256, LmSteps = 300, LmBatch = 32, LmFloat64 = false, LmDepth = 2,
        LmTextChars = 4_000_000,
        Preset = "gpu",
    };

    public static EcaConfig For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public EcaConfig Validate()
    {
        const string n = nameof(EcaConfig);
        Check.InRange(n, nameof(ExactDepth), ExactDepth, 0, 6);
        Check.InRange(n, nameof(MaxDepth), MaxDepth, 1, 8);
        Check.That(ExactSizes.All(s => s.L > 0 && s.D > 0), n, nameof(ExactSizes), "sizes must be positive.");
        Check.That(CountSizes.All(s => s.L > 0 && s.D > 0), n, nameof(CountSizes), "sizes must be positive.");
        Check.Positive(n, nameof(ErrorSize), ErrorSize);
        Check.Positive(n, nameof(AttentionBatch), AttentionBatch);
        Check.Positive(n, nameof(AttentionHeads), AttentionHeads);
        Check.That(TimingSizes.All(t => t >= 16 && t % 4 == 0), n, nameof(TimingSizes), "timing sizes must be multiples of 4, at least 16.");
        Check.Positive(n, nameof(TimingRepeats), TimingRepeats);
        Check.That(LmDim % LmHeads == 0, n, nameof(LmDim), $"{LmDim} is not divisible by {LmHeads} heads.");
        Check.Positive(n, nameof(LmSteps), LmSteps);
        Check.InRange(n, nameof(LmDepth), LmDepth, 0, 4);
        return this;
    }
}
