using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Workbench.Blocks.Lm;

/// <summary>One pre-norm decoder block's parameters (no biases). The forward lives in <see cref="TinyLm"/>, which picks
/// the attention path (fused SDPA, explicit softmax, or the KV cache).</summary>
public sealed class TinyLmBlock : nn.Module
{
    // Fields (not readonly): Module.to() replaces parameters through reflection.
    internal Parameter attn_norm;   // (d)          RMSNorm gain before attention
    internal Parameter wqkv;        // (3d, d)      rows: q | k | v, each head-major (H, hd)
    internal Parameter wo;          // (d, d)
    internal Parameter mlp_norm;    // (d)
    internal Parameter w_gate_up;   // (2m, d)      rows: gate | up
    internal Parameter w_down;      // (d, m)

    internal TinyLmBlock(TinyLmConfig c, Generator g) : base("block")
    {
        double outStd = c.InitStd / Math.Sqrt(2.0 * c.Layers);
        attn_norm = new Parameter(torch.ones(c.Dim, dtype: ScalarType.Float32, device: torch.CPU));
        wqkv = TinyLm.Normal([3L * c.Dim, c.Dim], c.InitStd, g);
        wo = TinyLm.Normal([c.Dim, c.Dim], outStd, g);
        mlp_norm = new Parameter(torch.ones(c.Dim, dtype: ScalarType.Float32, device: torch.CPU));
        w_gate_up = TinyLm.Normal([2L * c.Hidden, c.Dim], c.InitStd, g);
        w_down = TinyLm.Normal([c.Dim, c.Hidden], outStd, g);
        RegisterComponents();
    }
}
