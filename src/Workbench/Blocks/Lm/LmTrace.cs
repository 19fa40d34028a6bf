using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Blocks.Lm;

/// <summary>One forward's inspection record from <see cref="TinyLm.Inspect"/> (tensors stay on the model's device; the
/// caller disposes).</summary>
/// <param name="Logits">[B,T,V].</param>
/// <param name="Hidden">L+1 entries [B,T,d]: the embedding output, then each block's output (the residual stream before
/// the final norm).</param>
/// <param name="Attention">L entries [B,H,T,T]: softmax weights; rows sum to 1, zero above the diagonal and on pad keys.</param>
public sealed record LmTrace(Tensor Logits, IReadOnlyList<Tensor> Hidden, IReadOnlyList<Tensor> Attention) : IDisposable
{
    /// <summary>Disposes every tensor of the trace.</summary>
    public void Dispose()
    {
        Logits.Dispose();
        foreach (var t in Hidden) t.Dispose();
        foreach (var t in Attention) t.Dispose();
    }
}

/// <summary>One block's output from <see cref="TinyLm.RunLayer"/>: the residual stream X [B,T,d], the block's keys and
/// values over past + new tokens K, V [B,H,P+T,hd] (RoPE applied; what a cache keeps), and the attention weights
/// [B,H,T,P+T] when asked for. The caller disposes.</summary>
public sealed record LayerStep(Tensor X, Tensor K, Tensor V, Tensor? Weights) : IDisposable
{
    public void Dispose() { X.Dispose(); K.Dispose(); V.Dispose(); Weights?.Dispose(); }
}

/// <summary>Helpers around <see cref="TinyLm"/> for left-padded batches and log-likelihoods.</summary>
public static class LmUtil
{
    /// <summary>Positions for a left-padded batch: cumsum(mask) − 1 clamped at 0. keyMask [B,T] bool → [B,T] int64.</summary>
    public static Tensor PositionsFromMask(Tensor keyMask)
    {
        using var scope = torch.NewDisposeScope();
        return (keyMask.to_type(ScalarType.Int64).cumsum(1) - 1).clamp_min(0).MoveToOuterDisposeScope();
    }

    /// <summary>log p(targets) per position: logits [B,T,V], targets [B,T] int64 → [B,T], computed as
    /// logit[target] − logsumexp(logits) in float32 at least (float64 stays float64). Differentiable.</summary>
    public static Tensor TokenLogProbs(Tensor logits, Tensor targets)
    {
        using var scope = torch.NewDisposeScope();
        var l = logits.dtype == ScalarType.Float64 ? logits : logits.to_type(ScalarType.Float32);
        var picked = l.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
        return (picked - l.logsumexp(-1)).MoveToOuterDisposeScope();
    }
}
