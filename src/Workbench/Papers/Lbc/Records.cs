namespace Workbench.Papers.Lbc;

/// <summary>What one epoch produced: loss, accuracy, the schedule's k, mask statistics and counted FLOPs.</summary>
public sealed record EpochTrace(
    int Epoch,
    double TrainLoss,
    double TestAccuracy,
    int K,
    int SurvivingCombinations,
    double Density,
    double[] KeptFraction,          // fraction of groups keeping j weights, j = 0..M (all sparse layers)
    double[] LayerDensity,          // per sparse layer
    double FlipRate,                // fraction of sparse-layer mask entries that changed since the previous epoch
    double TrainGFlops,             // counted training FLOPs of this epoch (what sparse kernels would need)
    double Seconds,
    double[][]? ScoreSample = null); // LBC: sampled groups × C scores of the first sparse layer at epoch end

/// <summary>One method trained at one pattern and seed.</summary>
public sealed record MethodRun(
    string Model,
    SparseMethod Method,
    string Pattern,
    long Seed,
    IReadOnlyList<EpochTrace> Epochs,
    double FinalAccuracy,
    bool ExactNm,                    // every group of every sparse layer keeps exactly N weights at the end
    double TotalTrainGFlops,         // including ASP's dense pre-training
    double Seconds,                  // including ASP's dense pre-training
    string[] SparseLayers,
    int[][]? WinningCombination = null,   // LBC: per sparse layer, how many groups chose each combination
    string[]? CombinationLabels = null,
    Histogram? FinalScores = null,        // LBC: histogram of the live score values of the first sparse layer
    TaylorCheck? Taylor = null);          // LBC: first-order score change against the measured one, first epoch

/// <summary>
/// The paper's argument in numbers: over one epoch, the loss-gradient part of each score's change, Σ_t −lr_t Σ_{j∈c} g_j w_j,
/// against the score's measured change (which adds momentum and weight decay), for a sample of live combinations of the
/// first sparse layer.
/// </summary>
public sealed record TaylorCheck(int Epoch, double[] Predicted, double[] Measured, double Correlation);

/// <summary>A histogram: Counts[i] values fell in [Edges[i], Edges[i+1]).</summary>
public sealed record Histogram(double[] Edges, long[] Counts)
{
    public static Histogram Of(IReadOnlyList<double> values, int bins = 40)
    {
        if (values.Count == 0) return new Histogram([0, 1], [0]);
        double lo = values.Min(), hi = values.Max();
        if (hi <= lo) hi = lo + 1e-9;
        var counts = new long[bins];
        foreach (var v in values) counts[Math.Min(bins - 1, (int)((v - lo) / (hi - lo) * bins))]++;
        return new Histogram(Enumerable.Range(0, bins + 1).Select(i => lo + (hi - lo) * i / bins).ToArray(), counts);
    }
}

/// <summary>One process that contributed runs to a results file (several when seeds were run separately and merged).</summary>
public sealed record RunPart(long[] Seeds, double WallSeconds, string StartedUtc, string Device, string Command);

/// <summary>The results file: config, runtime, every run, and the claims table.</summary>
public sealed record LbcResults(
    string Paper,
    string Preset,
    LbcConfig Config,
    Runtime.RuntimeInfo Runtime,
    IReadOnlyList<MethodRun> Runs,
    IReadOnlyList<Claims.Claim> Claims,
    double WallSeconds,
    string StartedUtc,
    IReadOnlyList<RunPart>? Parts = null)
{
    public static LbcResults Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, "results.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"No LBC results file at {path}: run `papers reproduce lbc --out DIR` first.", path);
        using var s = File.OpenRead(path);
        return System.Text.Json.JsonSerializer.Deserialize<LbcResults>(s, Workbench.Runtime.AtomicFile.Json)
            ?? throw new InvalidDataException($"{path} is empty.");
    }
}
