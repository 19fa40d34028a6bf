using TorchSharp;
using TorchSharp.Modules;
using Workbench.Blocks.Sparsity;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Blocks.Vision;

/// <summary>An image classifier whose Linear / Conv layers are <see cref="INmLayer"/>s.</summary>
public abstract class SparsifiableNet(string name) : Module<Tensor, Tensor>(name)
{
    /// <summary>Every Linear / Conv layer (for FLOP counting).</summary>
    public abstract IReadOnlyList<INmLayer> AllLayers { get; }
    /// <summary>The layers that N:M sparsity applies to (the paper keeps the first conv / patch embedding and the classifier dense).</summary>
    public abstract IReadOnlyList<INmLayer> SparseLayers { get; }
}

/// <summary>MLP 784 → h1 → h2 → 10 with ReLU; both hidden layers are N:M (LBC spec's Test model).</summary>
public sealed class Mlp : SparsifiableNet
{
    readonly NmLinear fc1, fc2, fc3;
    public Mlp(int h1 = 128, int h2 = 64, int classes = 10) : base("mlp")
    {
        fc1 = new NmLinear("fc1", 784, h1);
        fc2 = new NmLinear("fc2", h1, h2);
        fc3 = new NmLinear("fc3", h2, classes);
        RegisterComponents();
    }

    public override IReadOnlyList<INmLayer> AllLayers => [fc1, fc2, fc3];
    public override IReadOnlyList<INmLayer> SparseLayers => [fc1, fc2];

    public override Tensor forward(Tensor x)
    {
        var h = functional.relu(fc1.forward(x.flatten(1)));
        h = functional.relu(fc2.forward(h));
        return fc3.forward(h);
    }
}

/// <summary>
/// The LBC spec's CNN for 28×28 images: conv3x3(1→c1, dense) → [c1→c2, c2→c2, pool, c2→c3, c3→c3, pool] N:M →
/// global average pool → fc (dense); every conv is followed by BatchNorm and ReLU (about 0.3M parameters).
/// </summary>
public sealed class SmallCnn : SparsifiableNet
{
    readonly NmConv2d conv1, conv2, conv3, conv4, conv5;
    readonly BatchNorm2d bn1, bn2, bn3, bn4, bn5;
    readonly NmLinear fc;

    public SmallCnn(int c1 = 32, int c2 = 64, int c3 = 128, int classes = 10, int inChannels = 1) : base("cnn")
    {
        conv1 = new NmConv2d("conv1", inChannels, c1, 3, padding: 1); bn1 = BatchNorm2d(c1);
        conv2 = new NmConv2d("conv2", c1, c2, 3, padding: 1); bn2 = BatchNorm2d(c2);
        conv3 = new NmConv2d("conv3", c2, c2, 3, padding: 1); bn3 = BatchNorm2d(c2);
        conv4 = new NmConv2d("conv4", c2, c3, 3, padding: 1); bn4 = BatchNorm2d(c3);
        conv5 = new NmConv2d("conv5", c3, c3, 3, padding: 1); bn5 = BatchNorm2d(c3);
        fc = new NmLinear("fc", c3, classes);
        RegisterComponents();
    }

    public override IReadOnlyList<INmLayer> AllLayers => [conv1, conv2, conv3, conv4, conv5, fc];
    public override IReadOnlyList<INmLayer> SparseLayers => [conv2, conv3, conv4, conv5];

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = functional.relu(bn1.forward(conv1.forward(x)));
        h = functional.relu(bn2.forward(conv2.forward(h)));
        h = functional.relu(bn3.forward(conv3.forward(h)));
        h = functional.max_pool2d(h, 2);
        h = functional.relu(bn4.forward(conv4.forward(h)));
        h = functional.relu(bn5.forward(conv5.forward(h)));
        h = functional.max_pool2d(h, 2);
        h = h.mean([2L, 3L]);                                 // (B, c3) global average pool
        return fc.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>One pre-norm transformer encoder block; qkv, proj, fc1 and fc2 are N:M layers (DeiT's sparse set).</summary>
public sealed class VitBlock : Module<Tensor, Tensor>
{
    readonly LayerNorm ln1, ln2;
    readonly NmLinear qkv, proj, fc1, fc2;
    readonly int heads;

    public VitBlock(string name, int dim, int heads, int mlp) : base(name)
    {
        if (dim % heads != 0) throw new ArgumentException($"ViT dim {dim} is not divisible by {heads} heads.");
        this.heads = heads;
        ln1 = LayerNorm(dim); ln2 = LayerNorm(dim);
        qkv = new NmLinear($"{name}.qkv", dim, 3 * dim);
        proj = new NmLinear($"{name}.proj", dim, dim);
        fc1 = new NmLinear($"{name}.fc1", dim, mlp);
        fc2 = new NmLinear($"{name}.fc2", mlp, dim);
        RegisterComponents();
    }

    public IEnumerable<INmLayer> Layers => [qkv, proj, fc1, fc2];

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / heads;
        var q_k_v = qkv.forward(ln1.forward(x)).reshape(b, t, 3, heads, hd).permute(2, 0, 3, 1, 4); // (3, B, nh, T, hd)
        var a = functional.scaled_dot_product_attention(q_k_v[0], q_k_v[1], q_k_v[2]);            // (B, nh, T, hd)
        x = x + proj.forward(a.transpose(1, 2).reshape(b, t, d));
        x = x + fc2.forward(functional.gelu(fc1.forward(ln2.forward(x))));
        return x.MoveToOuterDisposeScope();
    }

    /// <summary><see cref="forward"/> with an explicit softmax(QKᵀ/√hd) that also returns the attention weights
    /// (B, nh, T, T) (e.g. the [CLS]→patch saliency of the multimodal encoder). Same output up to float error.</summary>
    public (Tensor Output, Tensor Weights) ForwardInspect(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / heads;
        var q_k_v = qkv.forward(ln1.forward(x)).reshape(b, t, 3, heads, hd).permute(2, 0, 3, 1, 4); // (3, B, nh, T, hd)
        var w = (q_k_v[0].matmul(q_k_v[1].transpose(-2, -1)) * (1.0 / Math.Sqrt(hd))).softmax(-1);  // (B, nh, T, T)
        var a = w.matmul(q_k_v[2]);
        x = x + proj.forward(a.transpose(1, 2).reshape(b, t, d));
        x = x + fc2.forward(functional.gelu(fc1.forward(ln2.forward(x))));
        return (x.MoveToOuterDisposeScope(), w.MoveToOuterDisposeScope());
    }
}

/// <summary>
/// Tiny ViT (the LBC spec's DeiT analogue): patch 4 on 28×28 (49 tokens + CLS), dim 128, depth 4, 4 heads, MLP 256.
/// Patch embedding and head stay dense; every block's qkv / proj / fc1 / fc2 is N:M.
/// </summary>
public sealed class TinyVit : SparsifiableNet
{
    readonly NmConv2d patch;
    readonly Parameter cls, pos;
    readonly ModuleList<VitBlock> blocks;
    readonly LayerNorm norm;
    readonly NmLinear head;

    public TinyVit(int image = 28, int patchSize = 4, int dim = 128, int depth = 4, int heads = 4, int mlp = 256, int classes = 10, int inChannels = 1) : base("vit")
    {
        if (image % patchSize != 0) throw new ArgumentException($"ViT image size {image} is not a multiple of patch size {patchSize}.");
        int tokens = (image / patchSize) * (image / patchSize);
        patch = new NmConv2d("patch", inChannels, dim, patchSize, stride: patchSize, hasBias: true);
        cls = Parameter(torch.zeros(1, 1, dim));
        pos = Parameter(torch.randn(1, tokens + 1, dim) * 0.02);
        blocks = new ModuleList<VitBlock>(Enumerable.Range(0, depth).Select(i => new VitBlock($"block{i}", dim, heads, mlp)).ToArray());
        norm = LayerNorm(dim);
        head = new NmLinear("head", dim, classes);
        RegisterComponents();
    }

    public override IReadOnlyList<INmLayer> AllLayers => [patch, .. SparseLayers, head];
    public override IReadOnlyList<INmLayer> SparseLayers => blocks.SelectMany(b => b.Layers).ToArray();

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var t = patch.forward(x).flatten(2).transpose(1, 2);               // (B, 49, dim)
        t = torch.cat([cls.expand(t.shape[0], -1, -1), t], 1) + pos;       // (B, 50, dim)
        foreach (var blk in blocks) t = blk.forward(t);
        return head.forward(norm.forward(t[.., 0])).MoveToOuterDisposeScope();
    }
}
