using Workbench.Blocks.Lm;
using Workbench.Blocks.Rl;
using Workbench.Runtime;

namespace Workbench.Papers.Remax;

/// <summary>The RL estimators compared (remax.md §5): ReMax (greedy baseline), REINFORCE without a baseline, RLOO with K = 2
/// (compute-matched: two decodes per prompt, like ReMax's sample + greedy) and PPO with a critic as large as the actor.</summary>
public enum RlMethod { ReMax, Reinforce, Rloo, Ppo }

/// <summary>One training run: a method and, for ReMax, the paper (γ = 1) or code (γ = 0.99) form of the returns.</summary>
public sealed record RemaxRun(string Name, RlMethod Method, double Gamma = 1.0);

/// <summary>
/// ReMax vs PPO on ArithWord. Paper/code defaults kept: reward-difference clip 5, temperature 1.0 with top-p 0.9 for samples,
/// greedy baseline with the pre-update weights, one optimizer step per generated batch (no ratio, no clipping), token-mean
/// loss, Adam β = (0.9, 0.95), grad-clip 1.0, weight decay 0.1; PPO: γ = 1, λ = 0.95, ratio clip 0.2, value clip 0.2,
/// 1 PPO epoch, a critic initialised from the SFT trunk with its own Adam. Toy choices (spec §5): same lr for all
/// (2e-5), β = 0.05, 64 prompts per step, 150 steps, completions ≤ 56 tokens, same SFT warm start as CPPO.
/// </summary>
public sealed record RemaxConfig(
    TinyLmConfig Model,
    SftConfig Sft,
    RemaxRun[] Runs,
    int Steps = 150,
    int PromptsPerStep = 64,
    double Lr = 2e-5,
    double CriticLr = 2e-5,
    double Beta = 0.05,
    double RewardClip = 5,
    double TopP = 0.9,
    double Temperature = 1.0,
    double PpoGamma = 1.0,
    double PpoLambda = 0.95,
    double RatioClip = 0.2,
    double ValueClip = 0.2,
    double WeightDecay = 0.1,
    int MaxNewTokens = 56,
    int RlMinOps = 2,
    int RlMaxOps = 4,
    int EvalQuestions = 1000,
    int EvalOps = 4,
    int EvalPoints = 4,
    int VarianceDraws = 200,
    int VariancePrompts = 64,
    double VarianceShift = 1.0,
    TinyLmConfig? MemoryModel = null,
    int[]? MemoryBatches = null,
    int MemoryTokens = 96,
    long Seed = 1,
    string Preset = "custom")
{
    public static RemaxConfig Test { get; } = new(
        new TinyLmConfig(Vocab: 0, Dim: 64, Layers: 2, Heads: 4, MaxSeq: 160),
        SftConfig.Test,
        [new("ReMax", RlMethod.ReMax), new("PPO", RlMethod.Ppo)],
        Steps: 2, PromptsPerStep: 4, EvalQuestions: 32, EvalPoints: 1, Lr: 1e-4, CriticLr: 1e-4, MaxNewTokens: 40,
        RlMinOps: 1, RlMaxOps: 2, EvalOps: 2,
        VarianceDraws: 4, VariancePrompts: 4,
        MemoryModel: new TinyLmConfig(Vocab: 0, Dim: 64, Layers: 2, Heads: 4, MaxSeq: 160), MemoryBatches: [4], MemoryTokens: 24,
        Preset: "test");

    public static RemaxConfig Gpu { get; } = new(
        new TinyLmConfig(Vocab: 0, Dim: 256, Layers: 6, Heads: 4, MaxSeq: 160),
        SftConfig.Gpu,
        [new("ReMax", RlMethod.ReMax), new("ReMax code mode (γ=0.99)", RlMethod.ReMax, 0.99), new("REINFORCE (b=0)", RlMethod.Reinforce),
         new("RLOO K=2", RlMethod.Rloo), new("PPO", RlMethod.Ppo)],
        MemoryModel: new TinyLmConfig(Vocab: 0, Dim: 512, Layers: 8, Heads: 8, MaxSeq: 256), MemoryBatches: [64, 256, 512],
        Preset: "gpu");

    public static RemaxConfig For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public TinyLmConfig MemoryModelOrDefault => MemoryModel ?? Model;
    public int[] MemoryBatchList => MemoryBatches ?? [PromptsPerStep];

    public RemaxConfig Validate()
    {
        const string n = nameof(RemaxConfig);
        Sft.Validate();
        Check.That(Runs.Length > 0, n, nameof(Runs), "no runs configured.");
        Check.That(Runs.Select(r => r.Name).Distinct().Count() == Runs.Length, n, nameof(Runs), "run names must be unique.");
        foreach (var r in Runs) Check.InRange(n, $"{nameof(Runs)}[{r.Name}].Gamma", r.Gamma, 0, 1);
        Check.Positive(n, nameof(Steps), Steps); Check.Positive(n, nameof(PromptsPerStep), PromptsPerStep);
        Check.Positive(n, nameof(Lr), Lr); Check.Positive(n, nameof(CriticLr), CriticLr);
        Check.NonNegative(n, nameof(Beta), Beta); Check.Positive(n, nameof(RewardClip), RewardClip);
        Check.InRange(n, nameof(TopP), TopP, 1e-6, 1); Check.Positive(n, nameof(Temperature), Temperature);
        Check.InRange(n, nameof(PpoGamma), PpoGamma, 0, 1); Check.InRange(n, nameof(PpoLambda), PpoLambda, 0, 1);
        Check.Positive(n, nameof(RatioClip), RatioClip); Check.Positive(n, nameof(ValueClip), ValueClip);
        Check.Positive(n, nameof(EvalQuestions), EvalQuestions); Check.Positive(n, nameof(EvalPoints), EvalPoints);
        Check.That(VarianceDraws >= 2, n, nameof(VarianceDraws), "need at least 2 draws for a variance.");
        Check.Positive(n, nameof(VariancePrompts), VariancePrompts);
        Check.That(MemoryBatchList.All(b => b > 0), n, nameof(MemoryBatches), "batch sizes must be positive.");
        Check.Positive(n, nameof(MemoryTokens), MemoryTokens);
        return this;
    }
}
