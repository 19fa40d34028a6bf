using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Blocks.Lm;

/// <summary>The small pieces of <see cref="TinyLm"/>'s forward: RMSNorm, RoPE and the boolean attention masks.</summary>
internal static class LmOps
{
    /// <summary>RMSNorm: x / √(mean(x²) + ε) · w. Half-precision inputs are normalised in float32.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor weight, double eps)
    {
        var dt = x.dtype;
        var xf = dt is ScalarType.Float16 or ScalarType.BFloat16 ? x.to_type(ScalarType.Float32) : x;
        var y = xf * torch.rsqrt(xf.square().mean([-1L], keepdim: true) + eps);
        if (!ReferenceEquals(xf, x)) y = y.to_type(dt);
        return y * weight;
    }

    /// <summary>RoPE tables for positions 0..maxSeq-1, each [maxSeq, hd] in float64 on the CPU: cos(p·ω) repeated over
    /// both halves, and sin(p·ω) with the first half negated, so that rope(x) = x·cos + roll(x, hd/2)·sinSigned equals the
    /// rotate-half form x·cos + [−x₂, x₁]·sin with ω_i = θ^(−2i/hd).</summary>
    public static (Tensor Cos, Tensor SinSigned) RopeTables(int maxSeq, int headDim, double theta)
    {
        using var scope = torch.NewDisposeScope();
        int half = headDim / 2;
        var inv = torch.pow(theta, -torch.arange(0, half, dtype: ScalarType.Float64) * (2.0 / headDim));   // (hd/2)
        var ang = torch.arange(maxSeq, dtype: ScalarType.Float64).unsqueeze(1) * inv.unsqueeze(0);         // (S, hd/2)
        var cos = torch.cat([ang.cos(), ang.cos()], 1);
        var sin = torch.cat([-ang.sin(), ang.sin()], 1);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>Rotates q and k together: x [B,T,2,H,hd], cos/sin broadcastable to it ([B,T,1,1,hd] or [T,1,1,hd]).</summary>
    public static Tensor ApplyRope(Tensor x, Tensor cos, Tensor sinSigned) =>
        x * cos + x.roll(x.shape[^1] / 2, -1) * sinSigned;

    /// <summary>Which keys each query may attend to, [B,1,t,S] bool (true = attend). Query i sits at slot
    /// <paramref name="offset"/> + i of the key sequence. Key j is allowed if j ≤ offset+i, key j is real, and query i is
    /// real; every query also attends to itself, so a pad query attends only to itself and its softmax row is never empty.</summary>
    /// <param name="keyMask">[B,S] bool, true = real key.</param>
    /// <param name="queryMask">[B,t] bool, true = real query; null = all real.</param>
    /// <param name="offset">Slot of the first query among the keys (the cache length before appending).</param>
    public static Tensor Allowed(Tensor keyMask, Tensor? queryMask, long offset, long t)
    {
        long s = keyMask.shape[1];
        var dev = keyMask.device;
        var kj = torch.arange(s, device: dev).unsqueeze(0);                 // (1, S)
        var qi = torch.arange(offset, offset + t, device: dev).unsqueeze(1); // (t, 1)
        var allowed = kj.le(qi).unsqueeze(0).logical_and(keyMask.unsqueeze(1));   // (B, t, S)
        if (queryMask is not null)
            allowed = allowed.logical_and(queryMask.unsqueeze(2)).logical_or(kj.eq(qi).unsqueeze(0));
        return allowed.unsqueeze(1);                                       // (B, 1, t, S)
    }

    /// <summary>Lower-triangular [t,t] bool mask (true = attend), for the unfused path without padding.</summary>
    public static Tensor Causal(long t, Device device) =>
        torch.ones(t, t, dtype: ScalarType.Bool, device: device).tril();
}
