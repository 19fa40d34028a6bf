namespace Workbench.Papers.Remax;

/// <summary>Per-token returns of ReMax and its relatives (remax.md §2), as pure functions on CPU arrays.</summary>
public static class Estimators
{
    /// <summary>clip(x, −c, c): the repo clips the reward difference r − b (ReMax) or the raw reward (PPO) at c = 5.</summary>
    public static double Clip(double x, double c) => Math.Max(-c, Math.Min(c, x));

    /// <summary>
    /// Returns for one response of <paramref name="length"/> tokens padded to <paramref name="width"/>:
    /// G_t = γ^{T−t+1}·δ + β·(log π_ref(a_t) − log π_old(a_t)) for t = 1..T (0 beyond T). Paper mode is γ = 1 (every token
    /// gets δ); code mode (the shipped scripts) is γ = 0.99. <paramref name="klTerm"/> holds log π_ref − log π_old per token
    /// (null when β = 0): each token's own penalty, not summed over the future (as the repo does).
    /// </summary>
    public static double[] ReturnsRow(double delta, int length, int width, double gamma, double beta, double[]? klTerm)
    {
        if (length > width || length < 0) throw new ArgumentException($"Response length {length} outside [0, {width}].");
        if (beta != 0 && klTerm is null) throw new ArgumentException("β ≠ 0 needs the per-token log π_ref − log π_old.");
        var g = new double[width];
        for (int t = 1; t <= length; t++)
            g[t - 1] = Math.Pow(gamma, length - t + 1) * delta + (beta != 0 ? beta * klTerm![t - 1] : 0);
        return g;
    }

    /// <summary>PPO token rewards (DeepSpeed-Chat): r_t = −β(log π_old − log π_ref)(a_t), plus clip(R, ±c) at the last token.</summary>
    public static double[] PpoTokenRewards(double reward, int length, int width, double beta, double[] oldMinusRef, double clip)
    {
        var r = new double[width];
        for (int t = 0; t < length; t++) r[t] = -beta * oldMinusRef[t];
        if (length > 0) r[length - 1] += Clip(reward, clip);
        return r;
    }
}
