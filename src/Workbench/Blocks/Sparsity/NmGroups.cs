using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Blocks.Sparsity;

/// <summary>
/// N:M groups: at most N non-zeros in every M consecutive weights along the input dimension.
/// Linear (out, in): groups along <c>in</c>. Conv2d (out, in, kh, kw): permuted to (out, kh, kw, in) first, so groups
/// run along input channels (LBC's and ASP's grouping; SR-STE's NHWC variant).
/// </summary>
public static class NmGroups
{
    /// <summary>Checks that a weight can be cut into groups of M; the message says which layer to keep dense.</summary>
    public static void Validate(long[] shape, int m, string layer)
    {
        if (shape.Length is not (2 or 4))
            throw new ArgumentException($"{layer}: N:M sparsity supports Linear (2-D) and Conv2d (4-D) weights, not shape [{string.Join(",", shape)}].");
        if (shape[1] % m != 0)
            throw new ArgumentException($"{layer}: {shape[1]} input channels are not a multiple of M={m}. Keep this layer dense (as LBC does for the first conv) or pad its input channels.");
    }

    /// <summary>(G, M) view of a weight, G = numel / M. Conv weights are permuted to (out, kh, kw, in) first.</summary>
    public static Tensor ToGroups(Tensor w, int m) => w.dim() switch
    {
        2 => w.reshape(-1, m),
        4 => w.permute(0, 2, 3, 1).reshape(-1, m),
        _ => throw new ArgumentException($"ToGroups: weight must be 2-D or 4-D, got shape [{string.Join(",", w.shape)}]."),
    };

    /// <summary>Inverse of <see cref="ToGroups"/> for a weight of <paramref name="shape"/>.</summary>
    public static Tensor FromGroups(Tensor g, long[] shape) => shape.Length switch
    {
        2 => g.reshape(shape),
        4 => g.reshape(shape[0], shape[2], shape[3], shape[1]).permute(0, 3, 1, 2),
        _ => throw new ArgumentException($"FromGroups: shape must be 2-D or 4-D, got [{string.Join(",", shape)}]."),
    };

    /// <summary>Number of groups of a weight of <paramref name="shape"/>.</summary>
    public static long GroupCount(long[] shape, int m) => shape.Aggregate(1L, (a, b) => a * b) / m;

    /// <summary>Magnitude N:M mask (ASP's m4n2_1d pattern, SR-STE's forward): keep the N largest |w| in each group.
    /// Returns a 0/1 mask of w's shape and dtype.</summary>
    public static Tensor MagnitudeMask(Tensor w, int n, int m)
    {
        using var scope = torch.NewDisposeScope();
        var g = ToGroups(w.detach().abs(), m);                       // (G, M)
        var idx = g.topk(n, dim: 1, largest: true, sorted: false).indexes;
        var mask = torch.zeros_like(g).scatter_(1, idx, torch.ones_like(idx, dtype: g.dtype));
        return FromGroups(mask, w.shape).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Kept weights per group (G) of a 0/1 mask of a weight's shape.</summary>
    public static Tensor KeptPerGroup(Tensor mask, int m) => ToGroups(mask, m).ne(0).sum(1);
}
