using Workbench.Blocks.Lm;
using Workbench.Blocks.Rl;
using Workbench.Runtime;

namespace Workbench.Papers.Cppo;

/// <summary>One training run: GRPO is P = 0; CPPO prunes a fraction P, optionally with dynamic completion allocation.</summary>
public sealed record CppoRun(string Name, double P, bool Allocation = true, PruneMetric Metric = PruneMetric.Smallest, PruneScope Scope = PruneScope.Batch)
{
    /// <summary>Questions per step multiplier m (1 without allocation).</summary>
    public int Multiplier => Allocation && P > 0 ? Pruning.AllocationMultiplier(P) : 1;
}

/// <summary>
/// CPPO / GRPO on ArithWord (cppo.md §5). Paper defaults kept: G = 16, μ = 2 optimizer steps per generation round, ε = 0.2,
/// β = 0.04, advantage eps 1e-4 with the unbiased std, token-mean loss over the pruned batch, batch-global pruning of the
/// smallest |A|, temperature 1.0. Toy-scale choices (spec §5): a 6-layer d = 256 model, SFT on 1–3-operation problems,
/// RL on 2–4-operation problems, 16 questions per step, one epoch over 2,048 questions, lr 2e-5 constant after a linear warm-up
/// over the first <see cref="WarmupRatio"/> = 0.1 of each run's optimizer steps (the paper's warmup ratio, cppo.md §2),
/// greedy evaluation on held-out 4-operation problems.
/// </summary>
public sealed record CppoConfig(
    TinyLmConfig Model,
    SftConfig Sft,
    CppoRun[] Runs,
    int TrainQuestions = 2048,
    int QuestionsPerStep = 16,
    int G = 16,
    int Mu = 2,
    double Eps = 0.2,
    double Beta = 0.04,
    double Lr = 2e-5,
    double WarmupRatio = 0.1,
    double Temperature = 1.0,
    int MaxNewTokens = 56,
    int RlMinOps = 2,
    int RlMaxOps = 4,
    int EvalQuestions = 1000,
    int EvalOps = 4,
    int EvalPoints = 4,
    long[]? Seeds = null,
    string Preset = "custom")
{
    public long[] SeedList => Seeds ?? [1];

    /// <summary>Training questions a run may use under a time budget: whole steps for every run, i.e. multiples of
    /// QuestionsPerStep × the largest multiplier, up to <see cref="TrainQuestions"/> (largest first).</summary>
    public int[] AllowedTrainQuestions()
    {
        int unit = QuestionsPerStep * Runs.Max(r => r.Multiplier);
        return Enumerable.Range(1, TrainQuestions / unit).Reverse().Select(k => k * unit).ToArray();
    }

    /// <summary>Warm-up optimizer steps of a run with <paramref name="optimizerSteps"/> in all: ⌈ratio · steps⌉ (TRL's rule).</summary>
    public int WarmupFor(int optimizerSteps) => (int)Math.Ceiling(WarmupRatio * optimizerSteps - 1e-9);

    public static CppoConfig Test { get; } = new(
        new TinyLmConfig(Vocab: 0, Dim: 64, Layers: 2, Heads: 4, MaxSeq: 160),
        SftConfig.Test,
        [new("GRPO", 0), new("CPPO P=0.5", 0.5)],
        TrainQuestions: 8, QuestionsPerStep: 4, G: 4, MaxNewTokens: 40, EvalQuestions: 32, EvalPoints: 1, Lr: 1e-4, WarmupRatio: 0,
        RlMinOps: 1, RlMaxOps: 2, EvalOps: 2,
        Preset: "test");

    public static CppoConfig Gpu { get; } = new(
        new TinyLmConfig(Vocab: 0, Dim: 256, Layers: 6, Heads: 4, MaxSeq: 160),
        SftConfig.Gpu,
        [
            new("GRPO", 0),
            new("CPPO P=0.5", 0.5), new("CPPO P=0.75", 0.75), new("CPPO P=0.875", 0.875), new("CPPO P=0.9375", 0.9375),
            new("CPPO P=0.875, no allocation", 0.875, Allocation: false),
            new("P=0.875 prune largest |A|", 0.875, Metric: PruneMetric.Largest),
            new("P=0.875 prune random", 0.875, Metric: PruneMetric.Random),
        ],
        Preset: "gpu");

    public static CppoConfig For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public CppoConfig Validate()
    {
        const string n = nameof(CppoConfig);
        Sft.Validate();
        Check.That(Runs.Length > 0, n, nameof(Runs), "no runs configured.");
        Check.That(Runs.Select(r => r.Name).Distinct().Count() == Runs.Length, n, nameof(Runs), "run names must be unique.");
        foreach (var r in Runs)
        {
            Check.InRange(n, $"{nameof(Runs)}[{r.Name}].P", r.P, 0, 0.999);
            try { _ = r.Multiplier; }
            catch (ArgumentException e) { throw new ConfigException($"{n}.{nameof(Runs)}[{r.Name}]: {e.Message}"); }
            Check.That(TrainQuestions % (QuestionsPerStep * r.Multiplier) == 0, n, nameof(TrainQuestions),
                $"{TrainQuestions} questions are not a whole number of steps of {QuestionsPerStep}×{r.Multiplier} for run '{r.Name}'.");
            Check.That(Math.Floor(QuestionsPerStep * r.Multiplier * G * r.P + 1e-9) < QuestionsPerStep * r.Multiplier * G, n, nameof(Runs), $"run '{r.Name}' would prune every completion.");
        }
        Check.That(G >= 2, n, nameof(G), $"G = {G}: a group needs at least 2 completions for a std.");
        Check.Positive(n, nameof(Mu), Mu); Check.Positive(n, nameof(Lr), Lr); Check.InRange(n, nameof(WarmupRatio), WarmupRatio, 0, 1);
        Check.InRange(n, nameof(Eps), Eps, 0, 1); Check.NonNegative(n, nameof(Beta), Beta);
        Check.Positive(n, nameof(Temperature), Temperature);
        Check.That(RlMinOps >= 1 && RlMaxOps >= RlMinOps, n, nameof(RlMinOps), "need 1 <= RlMinOps <= RlMaxOps.");
        Check.Positive(n, nameof(EvalQuestions), EvalQuestions);
        Check.Positive(n, nameof(EvalPoints), EvalPoints);
        Check.That(SeedList.Length > 0, n, nameof(Seeds), "no seeds.");
        return this;
    }
}
