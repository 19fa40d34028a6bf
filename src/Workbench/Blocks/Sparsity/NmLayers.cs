using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Blocks.Sparsity;

/// <summary>A layer whose weight may be N:M sparsified.</summary>
public interface INmLayer
{
    string LayerName { get; }
    Parameter Weight { get; }
    NmSparsifier Sparsifier { get; }
    void Attach(NmSparsifier sparsifier);
    /// <summary>Multiply-accumulates per sample of the dense layer in its last forward (0 before any forward).</summary>
    long DenseMacsPerSample { get; }
}

/// <summary>What NmLinear and NmConv2d share: the sparsifier slot (dense until one is attached) and MAC counting.</summary>
public abstract class NmLayer(string name) : Module<Tensor, Tensor>(name), INmLayer
{
    public string LayerName { get; } = name;
    public abstract Parameter Weight { get; }
    public NmSparsifier Sparsifier { get; private set; } = new DenseSparsifier();
    public long DenseMacsPerSample { get; protected set; }

    /// <summary>Attaches a sparsifier (checking that the weight can be cut into groups of M) and registers its parameters.</summary>
    public void Attach(NmSparsifier sparsifier)
    {
        if (sparsifier is not DenseSparsifier) NmGroups.Validate(Weight.shape, sparsifier.M, LayerName);
        Sparsifier = sparsifier;
        foreach (var (n, p) in sparsifier.ExtraParameters) register_parameter(n, p);
    }
}

/// <summary>Linear layer with a pluggable <see cref="NmSparsifier"/>; groups run along the input features.</summary>
public sealed class NmLinear : NmLayer
{
    readonly Linear inner;
    public NmLinear(string name, long inFeatures, long outFeatures, bool hasBias = true) : base(name)
    {
        inner = Linear(inFeatures, outFeatures, hasBias);
        RegisterComponents();
    }

    public override Parameter Weight => inner.weight!;

    public override Tensor forward(Tensor x)
    {
        long tokens = x.dim() > 2 ? x.shape[1..^1].Aggregate(1L, (a, b) => a * b) : 1;   // tokens per sample
        DenseMacsPerSample = tokens * Weight.shape[0] * Weight.shape[1];
        return functional.linear(x, Sparsifier.EffectiveWeight(Weight), inner.bias);
    }
}

/// <summary>Conv2d with a pluggable <see cref="NmSparsifier"/>; groups run along input channels.</summary>
public sealed class NmConv2d : NmLayer
{
    readonly Conv2d inner;
    readonly long stride, padding;
    public NmConv2d(string name, long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0, bool hasBias = false) : base(name)
    {
        inner = Conv2d(inChannels, outChannels, kernel, stride: stride, padding: padding, bias: hasBias);
        this.stride = stride; this.padding = padding;
        RegisterComponents();
    }

    public override Parameter Weight => inner.weight!;

    public override Tensor forward(Tensor x)
    {
        var y = functional.conv2d(x, Sparsifier.EffectiveWeight(Weight), inner.bias, strides: [stride, stride], padding: [padding, padding]);
        var w = Weight.shape;
        DenseMacsPerSample = y.shape[2] * y.shape[3] * w[0] * w[1] * w[2] * w[3];
        return y;
    }
}
