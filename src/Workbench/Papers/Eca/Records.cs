namespace Workbench.Papers.Eca;

/// <summary>Counted operations of one scheme at one size and depth, against the naive masked product.</summary>
public sealed record RatioRow(string Scheme, int L, int D, int Depth, double EcaMults, double EcaAdds, double NaiveMults, double NaiveAdds)
{
    public double MultRatio => EcaMults / NaiveMults;
    public double TotalRatio => (EcaMults + EcaAdds) / (NaiveMults + NaiveAdds);
}

/// <summary>The smallest L (powers of two) from which ECA's best depth costs fewer operations than the naive product.</summary>
public sealed record Crossover(string Family, int? FromL, double RatioAtFromL, double RatioBelow);

/// <summary>Max |ECA − reference| for one scheme and size (0 on integer inputs means exact).</summary>
public sealed record ExactRow(string Scheme, int L, int D, int Depth, double MaxAbsError, string Inputs);

/// <summary>float32 relative error (max |x − fp64 ref| / max |ref|) of ECA at each depth next to a plain matmul's.</summary>
public sealed record ErrorRow(int Depth, double EcaRelError, double MatmulRelError);

/// <summary>Causal attention through ECA against autograd of standard masked attention (float64).</summary>
public sealed record AttentionCheck(int Batch, int Heads, int L, int D, int Depth, double MaxO, double MaxDQ, double MaxDK, double MaxDV,
    double EcaOps, double NaiveOps);

/// <summary>Wall time of one way to compute tril(Q Kᵀ) (median over repeats) and its counted operations.</summary>
public sealed record TimingRow(int L, string Method, double Milliseconds, double GFlopCount, string Device);

public sealed record EcaResults(
    string Paper,
    string Preset,
    EcaConfig Config,
    Runtime.RuntimeInfo Runtime,
    IReadOnlyList<ExactRow> Exactness,
    IReadOnlyList<RatioRow> Ratios,
    IReadOnlyList<Crossover> Crossovers,
    IReadOnlyList<ErrorRow> Float32Error,
    double[][] BlockErrors,
    AttentionCheck Attention,
    IReadOnlyList<TimingRow> Timing,
    LmComparison? Lm,
    IReadOnlyList<Claims.Claim> Claims,
    double WallSeconds,
    string StartedUtc)
{
    /// <summary>Why the LM comparison did not run (missing KJV text, the time budget, an error), when <see cref="Lm"/> is null.</summary>
    public string? LmSkipped { get; init; }
}
