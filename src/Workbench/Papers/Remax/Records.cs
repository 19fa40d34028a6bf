using Workbench.Blocks.Rl;
using Workbench.Runtime;

namespace Workbench.Papers.Remax;

/// <summary>One iteration: sample (and greedy) rewards, the baseline-subtracted δ, loss statistics, phase times.
/// PPO adds the critic's explained variance of the returns.</summary>
public sealed record RemaxStep(int Step, double[] SampleRewards, double[] BaselineRewards, double[] Delta,
    double MeanReward, double SampleAccuracy, double Loss, double Kl, double ExplainedVariance, long Tokens, Dictionary<string, double> PhaseSeconds,
    long? GpuMemoryBytes = null);

/// <summary>One method's training run.</summary>
public sealed record RemaxRunResult(string Name, string Method, double Gamma, int Steps, double TrainSeconds, double SecondsPerIteration,
    Dictionary<string, double> PhaseSeconds, long TrainableParameters, long OptimizerStateBytes, int DecodesPerPrompt,
    EvalPoint[] Curve, double FinalAccuracy, double[] MeanRewardPerStep, double[] KlPerStep, double[] ExplainedVariancePerStep,
    RemaxStep[] Detail, long? PeakGpuMemoryBytes = null);

/// <summary>Peak memory of one update (frozen reference forward + actor [+ critic] forward/backward/Adam) at one batch size:
/// the analytic split (weights, grads, Adam moments, an activation estimate), <c>MeasuredBytes</c> = the peak device memory the
/// probe process used (NVML; null on CPU, without NVML, or when the probe failed) and <c>Source</c> = how it was measured
/// ("NVML process"; "NVML device − baseline" when the driver does not list the process, the device's use minus
/// <c>BaselineBytes</c>, read before the probe built any model; "analytic only"; "probe failed: …").</summary>
public sealed record MemoryRow(string Method, int Batch, int Tokens, long Parameters, long WeightBytes, long GradBytes, long AdamBytes,
    long ActivationEstimateBytes, long? MeasuredBytes, string Source, double Seconds, long? BaselineBytes = null);

/// <summary>Gradient variance of one estimator on the frozen SFT policy: the trace of the covariance of the full gradient
/// (Σ_j Var(g_j) over all parameters, spec §5's first option) over <paramref name="Draws"/> independent draws;
/// <paramref name="Shift"/> is the constant added to every reward. <paramref name="WeightSum"/> = Σ over draws of Σ_i |w_i|,
/// the estimator's per-sample weights as fed to the backward: equal across shifts exactly when the weights are (the greedy
/// baseline's must be).</summary>
public sealed record VarianceRow(string Estimator, double Shift, int Draws, double CovarianceTrace, double MeanNorm, double WeightSum = 0);

/// <summary>Everything one <c>papers reproduce remax</c> measured. <see cref="Budget"/>: under a time budget, the requested
/// sizes, the calibration and what was not done (<see cref="Config"/> then holds the sizes used).</summary>
public sealed record RemaxResults(string Preset, RuntimeInfo Runtime, string StartedUtc, double WallSeconds, RemaxConfig Config,
    SftResult Sft, EvalResult SftEval, long Parameters, RemaxRunResult[] Runs, MemoryRow[] Memory, VarianceRow[] Variance,
    IReadOnlyList<Claims.Claim> Claims, RlBudgetRecord? Budget = null);
