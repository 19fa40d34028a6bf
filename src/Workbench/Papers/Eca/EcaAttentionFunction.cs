using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Papers.Eca;

/// <summary>
/// Causal attention through ECA as an autograd function: the forward and backward of <see cref="EcaAttention"/>, so a
/// model can train with every attention product computed by the block schemes. Inputs (B, H, L, hd) and the depth.
/// </summary>
public sealed class EcaAttentionFunction : torch.autograd.SingleTensorFunction<EcaAttentionFunction>
{
    public override string Name => nameof(EcaAttentionFunction);

    public static Tensor Apply(Tensor q, Tensor k, Tensor v, int depth) => apply(q, k, v, depth);

    public override Tensor forward(torch.autograd.AutogradContext ctx, params object[] vars)
    {
        var (q, k, v, depth) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (int)vars[3]);
        var (o, p) = EcaAttention.Forward(q.detach(), k.detach(), v.detach(), depth);
        ctx.save_for_backward([q, k, v, o, p]);
        ctx.save_data("depth", depth);
        return o;
    }

    public override List<Tensor> backward(torch.autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var s = ctx.get_saved_variables();
        var depth = (int)ctx.get_data("depth");
        var (dq, dk, dv) = EcaAttention.Backward(s[0].detach(), s[1].detach(), s[2].detach(), s[3], s[4], gradOutput, depth);
        return [dq, dk, dv, null!];                 // no gradient for the depth argument
    }
}
