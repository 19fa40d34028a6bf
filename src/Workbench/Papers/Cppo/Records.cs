using Workbench.Blocks.Rl;
using Workbench.Runtime;

namespace Workbench.Papers.Cppo;

/// <summary>
/// One GRPO/CPPO step: the reward matrix (questions × G), advantages before pruning, what was kept, the loss statistics,
/// token counts, the time of each phase and (on CUDA) the GPU memory in use after the step as NVML reports it (the caching
/// allocator keeps its peak, so this tracks the peak so far). Arrays are CPU copies, ready to plot.
/// </summary>
public sealed record CppoStep(
    int Step, int Questions, int G, int Generated, int Kept,
    double[] Rewards, double[] Advantages, bool[] KeptMask, double Threshold, int[] KeptPerQuestion,
    double MeanReward, double SampleAccuracy, double ZeroVarianceGroups,
    double Loss, double ClipFraction, double Kl,
    long GeneratedTokens, long TrainedTokens, Dictionary<string, double> PhaseSeconds, long? GpuMemoryBytes = null);

/// <summary>One run (GRPO or a CPPO setting) over one epoch of training questions.</summary>
public sealed record CppoRunResult(
    string Name, double P, bool Allocation, string Metric, string Scope, int Multiplier, long Seed,
    int Steps, int OptimizerSteps, int QuestionsPerStep, int GeneratedPerStep, int KeptPerStep,
    double TrainSeconds, Dictionary<string, double> PhaseSeconds,
    long GeneratedTokens, long OldRefTokens, long UpdateTokens,
    EvalPoint[] Curve, double FinalAccuracy, IReadOnlyDictionary<int, double> FinalAccuracyByOps,
    double[] MeanRewardPerStep, double[] ZeroVariancePerStep, double[] ClipFractionPerStep, double[] KlPerStep,
    CppoStep[] Detail, long[]? GeneratedTokensPerStep = null, long[]? TrainedTokensPerStep = null, long? PeakGpuMemoryBytes = null);

/// <summary>Everything one <c>papers reproduce cppo</c> measured. Under a time budget <see cref="Config"/> holds the sizes the
/// runs used and <see cref="Budget"/> the requested ones, the calibration, and the runs not done.</summary>
public sealed record CppoResults(
    string Preset, RuntimeInfo Runtime, string StartedUtc, double WallSeconds, CppoConfig Config,
    SftResult Sft, EvalResult SftEval, long Parameters, CppoRunResult[] Runs, IReadOnlyList<Claims.Claim> Claims,
    RlBudgetRecord? Budget = null)
{
    public static CppoResults Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "results.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"No CPPO results file at {path}: run `papers reproduce cppo --out DIR` first.", path);
        using var s = File.OpenRead(path);
        return System.Text.Json.JsonSerializer.Deserialize<CppoResults>(s, AtomicFile.Json) ?? throw new InvalidDataException($"{path} is empty.");
    }
}
