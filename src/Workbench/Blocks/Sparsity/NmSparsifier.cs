using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Workbench.Blocks.Sparsity;

/// <summary>
/// How a layer turns its dense weight into the weight used in the forward pass, and what it does around
/// the optimizer step. One instance per layer. Implementations: <see cref="DenseSparsifier"/>,
/// <see cref="FixedMaskSparsifier"/> (ASP), <see cref="SrSteSparsifier"/> (SR-STE / STE) and the LBC scores
/// (Papers/Lbc).
/// </summary>
public abstract class NmSparsifier
{
    protected NmSparsifier(int n, int m)
    {
        if (n < 1 || m < 2 || n >= m) throw new ArgumentException($"N:M = {n}:{m} is not a sparsity pattern: need 1 <= N < M.");
        N = n; M = m;
    }

    public int N { get; }
    public int M { get; }
    /// <summary>Parameters the sparsifier adds to its layer (LBC scores), registered on the layer.</summary>
    public virtual IEnumerable<(string Name, Parameter Param)> ExtraParameters => [];
    /// <summary>True if the backward pass computes a dense weight gradient (SR-STE, STE); false if it is masked.</summary>
    public abstract bool DenseWeightGradient { get; }

    /// <summary>The weight the forward pass uses (with its autograd path to the dense weight and any scores).</summary>
    public abstract Tensor EffectiveWeight(Tensor weight);
    /// <summary>The current 0/1 mask in the weight's shape (no autograd).</summary>
    public abstract Tensor Mask(Tensor weight);
    /// <summary>Called once per iteration before the forward pass.</summary>
    public virtual void BeforeForward() { }
    /// <summary>Called after backward, before the optimizer step (e.g. SR-STE's decay term).</summary>
    public virtual void AfterBackward(Parameter weight) { }
    /// <summary>Called after the optimizer step (e.g. ASP re-zeroes pruned weights).</summary>
    public virtual void AfterStep(Parameter weight) { }
}

/// <summary>No sparsity: the dense baseline.</summary>
public sealed class DenseSparsifier() : NmSparsifier(1, 2)
{
    public override bool DenseWeightGradient => true;
    public override Tensor EffectiveWeight(Tensor weight) => weight;
    public override Tensor Mask(Tensor weight) => torch.ones_like(weight);
}

/// <summary>
/// ASP (NVIDIA apex.contrib.sparsity): a mask fixed once from a trained dense weight (top-N |w| per group of M,
/// pattern m4n2_1d generalised); the forward uses w ⊙ mask (so gradients are masked) and pruned weights are set
/// to zero again after every optimizer step.
/// </summary>
public sealed class FixedMaskSparsifier : NmSparsifier
{
    readonly Tensor mask;
    public FixedMaskSparsifier(Tensor trainedWeight, int n, int m) : base(n, m)
    {
        mask = NmGroups.MagnitudeMask(trainedWeight, n, m).DetachFromDisposeScope();
    }

    public override bool DenseWeightGradient => false;
    public override Tensor EffectiveWeight(Tensor weight) => weight * mask;
    public override Tensor Mask(Tensor weight) => mask.clone();
    public override void AfterStep(Parameter weight)
    {
        using var _ = torch.no_grad();
        weight.mul_(mask);
    }
}

/// <summary>
/// SR-STE (Zhou et al., ICLR 2021; aojunzz/NM-sparsity): every forward keeps the top-N |w| per group;
/// the backward to the dense weight is g + λ_W (1 − mask) ⊙ w (λ_W = 2e-4). λ_W = 0 is the plain STE.
/// </summary>
public sealed class SrSteSparsifier(int n, int m, double lambdaW) : NmSparsifier(n, m)
{
    Tensor? lastMask;
    public double LambdaW { get; } = lambdaW >= 0 ? lambdaW : throw new ArgumentException($"SR-STE λ_W = {lambdaW}: must be >= 0.");
    public override bool DenseWeightGradient => true;

    public override Tensor EffectiveWeight(Tensor weight)
    {
        var mask = NmGroups.MagnitudeMask(weight, N, M);
        lastMask?.Dispose();
        lastMask = mask.detach().clone().DetachFromDisposeScope();
        // Forward: w ⊙ mask. Backward: straight through to the dense w (gradient g, not g ⊙ mask).
        return weight + (weight * mask - weight).detach();
    }

    public override Tensor Mask(Tensor weight) => NmGroups.MagnitudeMask(weight, N, M);

    public override void AfterBackward(Parameter weight)
    {
        if (LambdaW == 0 || lastMask is null || weight.grad is null) return;
        using var _ = torch.no_grad();
        using var decay = (1 - lastMask) * weight;
        weight.grad.add_(decay, alpha: LambdaW);   // g + λ_W (1 − mask) ⊙ w
    }
}
