using TorchSharp;
using Workbench.Blocks.Multimodal;
using static TorchSharp.torch;

namespace Workbench.Papers.Parvts;

/// <summary>Where the subject saliency comes from (parvts.md §2 step 1, [inferred]): the vision encoder's last-layer
/// [CLS]→patch attention (default) or random (ablation). The text-guided option (b) is not built.</summary>
public enum SaliencySource { EncoderCls, Random }

/// <summary>Fusion weights for the text states at layer K ([inferred]): 0.5/0.5, proportional to group size, or proportional
/// to the text→group attention mass at layer K−1 within each path.</summary>
public enum FusionRule { Equal, Size, Attention }

/// <summary>ParVTS (reconstructed) options; every [inferred] choice of the spec is a parameter.</summary>
/// <param name="R">Subject share r: |V_S| = round(r·Nv) (headline 1/9).</param>
/// <param name="K">Fusion layer: layers 0..K−1 run both paths, K..L−1 the subject path with fused text.</param>
/// <param name="SubjectWeight">Overrides the rule with a fixed w_S (w_N = 1 − w_S).</param>
public sealed record ParvtsOptions(double R = 1.0 / 9, int K = 2, FusionRule Fusion = FusionRule.Equal, SaliencySource Saliency = SaliencySource.EncoderCls,
    double? SubjectWeight = null, long Seed = 1);

/// <summary>Subject and non-subject visual indices (0..Nv−1, each increasing), [B,|V_S|] and [B,|V_N|].</summary>
public sealed record Partition(Tensor Subject, Tensor NonSubject) : IDisposable
{
    public void Dispose() { Subject.Dispose(); NonSubject.Dispose(); }
}

/// <summary>
/// ParVTS (arXiv 2511.18875, no official code; parvts.md §2) reconstructed over <see cref="MultimodalLm"/>: partition by
/// saliency, two paths [sys, V_S, text] and [sys, V_N, text] with original position ids through layers 0..K−1 (run separately,
/// so no padding), convex fusion of the text states at K, then the subject path alone.
/// </summary>
public static class ParvtsSteps
{
    /// <summary>Step 1: top round(r·Nv) patches by saliency [B,Nv] (ties by patch index), both groups in original order.</summary>
    public static Partition Split(Tensor saliency, double r)
    {
        using var scope = torch.NewDisposeScope();
        long nv = saliency.shape[1];
        int ns = (int)Math.Round(r * nv);
        var order = saliency.sort(1, descending: true, stable: true).Indices;      // (B, Nv), stable → ties by index
        var s = order.narrow(1, 0, ns).sort(1).Values;
        var n = order.narrow(1, ns, nv - ns).sort(1).Values;
        return new Partition(s.MoveToOuterDisposeScope(), n.MoveToOuterDisposeScope());
    }

    /// <summary>Saliency per the option: the encoder's [CLS] attention, or uniform noise from a seeded generator.</summary>
    public static Tensor Saliency(Tensor cls, SaliencySource src, Generator g) =>
        src == SaliencySource.EncoderCls ? cls.alias() : torch.rand(cls.shape, generator: g, dtype: cls.dtype).to(cls.device);

    /// <summary>Columns of one path: sys, the group's visual tokens, text.</summary>
    public static Tensor PathColumns(PromptLayout l, Tensor group, long n)
    {
        long b = group.shape[0];
        var dev = group.device;
        return torch.cat([torch.arange(l.System, device: dev).unsqueeze(0).expand(b, -1), group + l.System,
            torch.arange(l.TextStart, n, device: dev).unsqueeze(0).expand(b, -1)], 1);
    }

    static MmState Gather(MmState st, Tensor cols) =>
        new(st.X.gather(1, cols.unsqueeze(-1).expand(-1, -1, st.X.shape[2])), st.Positions.gather(1, cols), st.Orig.gather(1, cols));

    /// <summary>The whole ParVTS prefill: returns the last prompt token's logits [B,V] and the fusion weight w_S per row.</summary>
    public static (Tensor Logits, Tensor SubjectWeight) Prefill(MultimodalLm m, Tensor x, Tensor lastOrig, Partition p, ParvtsOptions o)
    {
        using var scope = torch.NewDisposeScope();
        var l = m.Layout;
        long n = x.shape[1], b = x.shape[0];
        int ns = (int)p.Subject.shape[1], nn = (int)p.NonSubject.shape[1];
        var start = MultimodalLm.Start(x);
        var ps = Gather(start, PathColumns(l, p.Subject, n));
        var pn = Gather(start, PathColumns(l, p.NonSubject, n));
        int k = Math.Min(o.K, m.Layers);
        Tensor? ms = null, mn = null;
        if (k > 0)
        {
            bool att = o.Fusion == FusionRule.Attention && o.SubjectWeight is null;
            ps = m.RunLayers(ps, 0, k - (att ? 1 : 0), TokenPlan.None);
            pn = m.RunLayers(pn, 0, k - (att ? 1 : 0), TokenPlan.None);
            if (att)
            {
                var rs = new MmRecorder(m.Layers, MmCollect.Attention, lastOrig); var rn = new MmRecorder(m.Layers, MmCollect.Attention, lastOrig);
                ps = m.RunLayers(ps, k - 1, k, TokenPlan.None, rs);
                pn = m.RunLayers(pn, k - 1, k, TokenPlan.None, rn);
                var lastText = lastOrig.to_type(ScalarType.Int64) - l.TextStart;             // text offset of each row's last prompt token
                ms = TextToGroupMass(rs.Attention![0], l.System, ns, lastText); mn = TextToGroupMass(rn.Attention![0], l.System, nn, lastText);
            }
        }
        Tensor ws = o.SubjectWeight is double w ? torch.full(new long[] { b }, w, dtype: x.dtype, device: x.device)
            : o.Fusion == FusionRule.Size || (o.Fusion == FusionRule.Attention && ms is null) ? torch.full(new long[] { b }, ns / (double)(ns + nn), dtype: x.dtype, device: x.device)
            : o.Fusion == FusionRule.Attention ? ms! / (ms! + mn! + 1e-12)
            : torch.full(new long[] { b }, 0.5, dtype: x.dtype, device: x.device);
        var hs = ps.X.narrow(1, l.System + ns, n - l.TextStart);
        var hn = pn.X.narrow(1, l.System + nn, n - l.TextStart);
        var wv = ws.view(-1, 1, 1);
        var fused = wv * hs + (1 - wv) * hn;                                               // convex: w_S + w_N = 1
        var st = ps with { X = torch.cat([ps.X.narrow(1, 0, l.System + ns), fused], 1) };
        st = m.RunLayers(st, k, m.Layers, TokenPlan.None);
        var col = MultimodalLm.ColumnOf(st, lastOrig).to_type(ScalarType.Int64);
        var last = st.X.gather(1, col.view(-1, 1, 1).expand(-1, 1, st.X.shape[2])).squeeze(1);
        return (m.lm.Head(m.lm.FinalNorm(last)).MoveToOuterDisposeScope(), ws.MoveToOuterDisposeScope());
    }

    /// <summary>Attention mass from the text queries to the group's visual keys, heads averaged, per row [B]. Only the
    /// prompt's own text queries count (offsets ≤ <paramref name="lastText"/>): the right-padding after a shorter prompt
    /// attends causally too and would make w_S depend on the batch's other rows.</summary>
    public static Tensor TextToGroupMass(Tensor w, int system, int group, Tensor lastText)
    {
        long t = w.shape[2], tt = t - system - group;
        var a = w.mean([1L]);                                                               // (B, T, T)
        var perQuery = a.narrow(1, system + group, tt).narrow(2, system, group).sum([2L]);   // (B, text)
        var valid = torch.arange(tt, device: w.device).unsqueeze(0) <= lastText.view(-1, 1);
        return (perQuery * valid.to_type(perQuery.dtype)).sum([1L]);
    }

    /// <summary>Prefill MACs (parvts.md §2 step 7): Σ_{l&lt;K}[F(S+|V_S|+T) + F(S+|V_N|+T)] + Σ_{l≥K} F(S+|V_S|+T).</summary>
    public static double FormulaMacs(int s, int ns, int nn, int t, long d, long m, int layers, int k) =>
        k * (Vtw.VtwSteps.F(s + ns + t, d, m) + Vtw.VtwSteps.F(s + nn + t, d, m)) + (layers - k) * Vtw.VtwSteps.F(s + ns + t, d, m);
}
