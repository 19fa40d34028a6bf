using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Papers.Eca;

/// <summary>
/// Causal attention whose six matrix products all go through ECA (spec §2 Step D). Forward: S = tril(Q Kᵀ)·scale (A),
/// P = softmax over j ≤ i, O = P V (B). Backward: dP = tril(dO Vᵀ) (A); dS = P ⊙ (dP − rowsum(dO ⊙ O));
/// dQ = scale·dS K (B); dV = Pᵀ dO and dK = scale·dSᵀ Q (upper-triangular operands, through the row reversal, B).
/// </summary>
public static class EcaAttention
{
    /// <summary>Standard masked attention (autograd reference): softmax(mask(Q Kᵀ)/√d) V.</summary>
    public static Tensor Reference(Tensor q, Tensor k, Tensor v)
    {
        using var scope = torch.NewDisposeScope();
        long l = q.shape[^2];
        var s = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(q.shape[^1]);
        var mask = torch.ones(l, l, dtype: ScalarType.Bool, device: q.device).triu(1);
        return s.masked_fill(mask, double.NegativeInfinity).softmax(-1).matmul(v).MoveToOuterDisposeScope();
    }

    /// <summary>Returns O and the attention matrix P (kept for the backward pass).</summary>
    public static (Tensor O, Tensor P) Forward(Tensor q, Tensor k, Tensor v, int depth, OpCount? c = null)
    {
        using var scope = torch.NewDisposeScope();
        long l = q.shape[^2];
        double scale = 1 / Math.Sqrt(q.shape[^1]);
        var s = EcaOps.TrilQK(q, k, depth, c) * scale;
        var mask = torch.ones(l, l, dtype: ScalarType.Bool, device: q.device).triu(1);
        var p = s.masked_fill(mask, double.NegativeInfinity).softmax(-1);
        var o = EcaOps.LowerPV(p, v, depth, c);
        return (o.MoveToOuterDisposeScope(), p.MoveToOuterDisposeScope());
    }

    public static (Tensor dQ, Tensor dK, Tensor dV) Backward(Tensor q, Tensor k, Tensor v, Tensor o, Tensor p, Tensor dO, int depth, OpCount? c = null)
    {
        using var scope = torch.NewDisposeScope();
        double scale = 1 / Math.Sqrt(q.shape[^1]);
        var dP = EcaOps.TrilQK(dO, v, depth, c);                                 // tril(dO Vᵀ)
        var rowsum = (dO * o).sum(-1, keepdim: true);                             // rowsum(dO ⊙ O) = Σ_j P_ij dP_ij
        var dS = p * (dP - rowsum);                                               // lower-triangular
        var dQ = EcaOps.LowerPV(dS, k, depth, c) * scale;
        var dV = EcaOps.UpperTimes(p.transpose(-2, -1), dO, depth, c);            // Pᵀ dO
        var dK = EcaOps.UpperTimes(dS.transpose(-2, -1), q, depth, c) * scale;    // dSᵀ Q
        return (dQ.MoveToOuterDisposeScope(), dK.MoveToOuterDisposeScope(), dV.MoveToOuterDisposeScope());
    }
}
