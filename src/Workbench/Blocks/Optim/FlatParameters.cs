using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Workbench.Blocks.Optim;

/// <summary>
/// All of a model's parameters as views of one flat buffer, and their gradients as views of a second one, so an optimizer
/// updates every parameter with a handful of tensor operations instead of several per parameter. This is the lever that
/// took a launch-bound toy training step from 15.0 to 7.2 ms on an H100 (TorchSharp 0.107 has no foreach ops and no CUDA
/// graphs). Each parameter keeps its identity (modules still hold the same <see cref="Parameter"/> objects): its storage is
/// re-pointed with <c>set_</c>, and its <c>.grad</c> is pre-set to a view, into which autograd accumulates in place.
/// Zero the gradients with <see cref="ZeroGrad"/> (never by setting them to null, which would break the aliasing).
/// </summary>
public sealed class FlatParameters : IDisposable
{
    public sealed record Slot(string Name, Parameter Parameter, long Offset, long Count);

    public Tensor Data { get; }
    public Tensor Grad { get; }
    public IReadOnlyList<Slot> Slots { get; }

    FlatParameters(Tensor data, Tensor grad, IReadOnlyList<Slot> slots) { Data = data; Grad = grad; Slots = slots; }

    /// <summary>Moves the parameters into one buffer (all must share dtype and device and require grad).</summary>
    public static FlatParameters Create(IEnumerable<(string Name, Parameter Param)> parameters)
    {
        var ps = parameters.Where(p => p.Param.requires_grad).ToList();
        if (ps.Count == 0) throw new ArgumentException("FlatParameters: no parameters that require grad.");
        var dtype = ps[0].Param.dtype; var device = ps[0].Param.device;
        foreach (var (n, p) in ps)
            if (p.dtype != dtype || p.device.ToString() != device.ToString())
                throw new ArgumentException($"FlatParameters: {n} is {p.dtype} on {p.device}, others are {dtype} on {device}; move the model to one dtype and device first.");
        long total = ps.Sum(p => p.Param.numel());
        var data = torch.zeros(total, dtype, device).DetachFromDisposeScope();
        var grad = torch.zeros(total, dtype, device).DetachFromDisposeScope();
        var slots = new List<Slot>();
        long off = 0;
        using (torch.no_grad())
        {
            foreach (var (name, p) in ps)
            {
                long n = p.numel();
                using var view = data.narrow(0, off, n).view(p.shape);
                view.copy_(p);
                p.set_(view);                                    // p now aliases the flat buffer
                p.grad = grad.narrow(0, off, n).view(p.shape);   // autograd accumulates into this view in place
                slots.Add(new Slot(name, p, off, n));
                off += n;
            }
        }
        return new FlatParameters(data, grad, slots);
    }

    /// <summary>A flat vector with <paramref name="value"/> on the slots <paramref name="select"/> picks and 0 elsewhere
    /// (weight-decay masks, per-group learning-rate scales).</summary>
    public Tensor Mask(Func<Slot, bool> select, double value = 1)
    {
        var m = torch.zeros_like(Data);
        foreach (var s in Slots.Where(select)) m.narrow(0, s.Offset, s.Count).fill_(value);
        return m;
    }

    public void ZeroGrad() => Grad.zero_();

    /// <summary>Scales the flat gradient so its global L2 norm is at most <paramref name="maxNorm"/> (one norm over every
    /// parameter, as torch's clip_grad_norm_), without reading the norm back to the host (that would synchronise the device
    /// every step).</summary>
    public void ClipGradNorm(double maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        Grad.mul_((maxNorm / (Grad.norm() + 1e-6)).clamp_max(1.0));
    }

    public void Dispose() { Data.Dispose(); Grad.Dispose(); }
}

/// <summary>What the flat optimizers share: the learning rate, the weight-decay mask and an optional per-element
/// learning-rate scale over the <see cref="FlatParameters"/> buffer.</summary>
public abstract class FlatOptimizer(FlatParameters flat, double lr) : IDisposable
{
    public double Lr { get; set; } = lr;
    /// <summary>1 where weight decay applies, 0 elsewhere (<see cref="FlatParameters.Mask"/> builds one).</summary>
    public Tensor DecayMask { get; set; } = torch.ones_like(flat.Data).DetachFromDisposeScope();
    /// <summary>Per-element learning-rate scale (0 freezes a slot); null means 1 everywhere.</summary>
    public Tensor? LrScale { get; set; }

    public abstract void Step();
    public virtual void Dispose() { DecayMask.Dispose(); LrScale?.Dispose(); }
}

/// <summary>
/// AdamW (Loshchilov &amp; Hutter; PyTorch's update rule) over a <see cref="FlatParameters"/> buffer in nine tensor operations
/// per step, whatever the number of parameters. Decoupled weight decay applies where <see cref="DecayMask"/> is 1; a
/// per-element learning-rate scale (<see cref="LrScale"/>) can freeze slots (scale 0).
/// </summary>
public sealed class FlatAdamW(FlatParameters flat, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.01)
    : FlatOptimizer(flat, lr)
{
    readonly Tensor m = torch.zeros_like(flat.Data).DetachFromDisposeScope();
    readonly Tensor v = torch.zeros_like(flat.Data).DetachFromDisposeScope();
    long t;

    public override void Step()
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        t++;
        var g = flat.Grad;
        m.mul_(beta1).add_(g, alpha: 1 - beta1);                               // m ← β1 m + (1−β1) g
        v.mul_(beta2).addcmul_(g, g, value: 1 - beta2);                        // v ← β2 v + (1−β2) g²
        double c1 = 1 - Math.Pow(beta1, t), c2 = 1 - Math.Pow(beta2, t);
        var lrv = LrScale is null ? null : LrScale * Lr;                      // per-element learning rates, if any
        if (weightDecay != 0)                                                  // θ ← θ − lr·λ·θ on decayed slots (decoupled)
        {
            var decay = flat.Data * DecayMask;
            if (lrv is null) flat.Data.add_(decay, alpha: -Lr * weightDecay);
            else flat.Data.add_(decay * lrv, alpha: -weightDecay);
        }
        var denom = (v / c2).sqrt_().add_(eps);                                // √v̂ + ε
        if (lrv is null) flat.Data.addcdiv_(m, denom, value: -Lr / c1);        // θ ← θ − lr m̂ / (√v̂ + ε)
        else flat.Data.add_(lrv * m / denom, alpha: -1 / c1);
    }

    public override void Dispose() { m.Dispose(); v.Dispose(); base.Dispose(); }
}

/// <summary>
/// SGD with momentum and (coupled) weight decay, PyTorch's rule, over a <see cref="FlatParameters"/> buffer in five tensor
/// operations per step: g' = g + λ·mask·θ; b ← μ b + g'; θ ← θ − lr·(scale ⊙) b.
/// </summary>
public sealed class FlatSgd(FlatParameters flat, double lr, double momentum = 0.9, double weightDecay = 0) : FlatOptimizer(flat, lr)
{
    readonly Tensor buf = torch.zeros_like(flat.Data).DetachFromDisposeScope();
    bool started;

    public override void Step()
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var g = weightDecay == 0 ? flat.Grad : flat.Grad + flat.Data * DecayMask * weightDecay;
        if (momentum == 0) { Apply(g); return; }
        if (!started) { buf.copy_(g); started = true; }                        // PyTorch: the first buffer is the gradient itself
        else buf.mul_(momentum).add_(g);
        Apply(buf);
    }

    void Apply(Tensor update)
    {
        if (LrScale is null) flat.Data.add_(update, alpha: -Lr);
        else flat.Data.add_(update * LrScale, alpha: -Lr);
    }

    public override void Dispose() { buf.Dispose(); base.Dispose(); }
}
