using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Blocks.Rl;

/// <summary>The scalar loss of one policy update and what a notebook wants to see of it (read under no_grad).</summary>
/// <remarks><c>ClipFraction</c>: the token share where the clip is active (<see cref="Losses.ClipActive"/>).</remarks>
public sealed record PolicyLoss(Tensor Loss, double ClipFraction, double MeanKl, double MeanRatio, long Tokens);

/// <summary>
/// Token-level policy losses shared by GRPO/CPPO, ReMax, REINFORCE and PPO. Every loss is a token mean over the whole
/// batch (Σ m ℓ / Σ m, as the Open-R1 and DeepSpeed-Chat code do), never a per-sequence mean.
/// </summary>
public static class Losses
{
    /// <summary>k3 estimator of KL(π_θ‖π_ref) per token: exp(ref − θ) − (ref − θ) − 1 ≥ 0, zero when the two agree.</summary>
    public static Tensor K3(Tensor logp, Tensor refLogp)
    {
        var d = refLogp - logp;
        return d.exp() - d - 1;
    }

    /// <summary>
    /// GRPO's clipped objective with a k3 KL penalty (cppo.md §2 step 5): ℓ_t = −min(ρ_t A, clip(ρ_t, 1−ε, 1+ε) A) + β k3_t,
    /// ρ_t = exp(logπ_θ − logπ_old). <paramref name="advantage"/> is per sequence [B] (broadcast to tokens) or per token [B,T].
    /// <paramref name="refLogp"/> may be null when β = 0.
    /// </summary>
    public static PolicyLoss Clipped(Tensor logp, Tensor oldLogp, Tensor? refLogp, Tensor advantage, Tensor mask, double eps, double beta)
    {
        using var scope = torch.NewDisposeScope();
        var m = mask.to_type(logp.dtype);
        var a = advantage.dim() == 1 ? advantage.unsqueeze(1) : advantage;
        var ratio = (logp - oldLogp).exp();
        var surr = torch.minimum(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a);
        var per = -surr;
        Tensor? k3 = null;
        if (beta != 0)
        {
            if (refLogp is null) throw new ArgumentException("Losses.Clipped: β ≠ 0 needs reference log-probs.");
            k3 = K3(logp, refLogp);
            per = per + beta * k3;
        }
        var denom = m.sum().clamp_min(1);
        var loss = (per * m).sum() / denom;
        double clip, kl, mr; long tokens;
        using (torch.no_grad())
        {
            var stats = torch.stack([
                (ClipActive(ratio, a, eps).to_type(m.dtype) * m).sum() / denom,
                k3 is null ? torch.zeros([], m.dtype, m.device) : (k3 * m).sum() / denom,
                (ratio * m).sum() / denom,
                m.sum()]).to_type(ScalarType.Float64).to(torch.CPU).data<double>().ToArray();
            (clip, kl, mr, tokens) = (stats[0], stats[1], stats[2], (long)stats[3]);
        }
        return new PolicyLoss(loss.MoveToOuterDisposeScope(), clip, kl, mr, tokens);
    }

    /// <summary>Tokens where the clip of <see cref="Clipped"/> is active, i.e. where the clipped term is the minimum and its
    /// gradient is zero: ρ &gt; 1 + ε with A &gt; 0, or ρ &lt; 1 − ε with A &lt; 0 (TRL's <c>clip_ratio</c> statistic). A ratio
    /// outside the band on the other side of A is not clipped (the unclipped term is the smaller one) and is not counted.</summary>
    public static Tensor ClipActive(Tensor ratio, Tensor advantage, double eps)
    {
        var a = advantage.dim() == 1 && ratio.dim() == 2 ? advantage.unsqueeze(1) : advantage;
        return ratio.gt(1 + eps).logical_and(a.gt(0)).logical_or(ratio.lt(1 - eps).logical_and(a.lt(0)));
    }

    /// <summary>REINFORCE with per-token returns: −Σ m G logπ / Σ m (ReMax, remax.md §2). <paramref name="returns"/> carries no grad.</summary>
    public static Tensor Reinforce(Tensor logp, Tensor returns, Tensor mask)
    {
        using var scope = torch.NewDisposeScope();
        var m = mask.to_type(logp.dtype);
        return (-(returns.detach() * logp * m).sum() / m.sum().clamp_min(1)).MoveToOuterDisposeScope();
    }

    /// <summary>PPO's clipped value loss: 0.5·max((V − R)², (clip(V, V_old ± c) − R)²), token mean.</summary>
    public static Tensor ClippedValue(Tensor values, Tensor oldValues, Tensor returns, Tensor mask, double clip)
    {
        using var scope = torch.NewDisposeScope();
        var m = mask.to_type(values.dtype);
        var clipped = torch.maximum(torch.minimum(values, oldValues + clip), oldValues - clip);
        var l = 0.5 * torch.maximum((values - returns).square(), (clipped - returns).square());
        return ((l * m).sum() / m.sum().clamp_min(1)).MoveToOuterDisposeScope();
    }
}
