using TorchSharp;
using Workbench.Blocks.Multimodal;
using Workbench.Data;
using Workbench.Papers.Parvts;
using Workbench.Papers.Vtw;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

public class ParvtsTests
{
    static MultimodalLm Model(int layers = 3)
    {
        _ = T.Rt;
        var cfg = MultimodalConfig.Test with { Lm = MultimodalConfig.Test.Lm with { Dim = 32, Layers = layers, Heads = 2 }, VisionDim = 16 };
        var m = new MultimodalLm(cfg, 2);
        m.to(ScalarType.Float64);
        m.eval();
        return m;
    }

    static (Tensor X, Tensor Last, Tensor Sal) Prompt(MultimodalLm m, int n = 3)
    {
        var b = MultimodalTraining.PromptBatch(m, SceneVqa.Generate(m.Config.Data, 6, "pv", n));
        var (vis, sal) = m.EncodeImages(b.Images);
        return (m.Embeds(vis, b.TextIds), b.LastOrig, sal);
    }

    [Theory, InlineData(1.0 / 9), InlineData(0.25), InlineData(0.5), InlineData(1.0)]
    public void Partition_sizes_are_as_configured_disjoint_and_complete(double r)
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        using var _ = no_grad();
        var (_, _, sal) = Prompt(m);
        using var p = ParvtsSteps.Split(sal, r);
        int nv = m.Layout.Visual;
        Assert.Equal((long)Math.Round(r * nv), p.Subject.shape[1]);
        for (int b = 0; b < sal.shape[0]; b++)
        {
            var s = p.Subject[b].data<long>().ToArray(); var n = p.NonSubject[b].data<long>().ToArray();
            Assert.Empty(s.Intersect(n));
            Assert.Equal(Enumerable.Range(0, nv).Select(i => (long)i), s.Concat(n).Order());
            Assert.Equal(s.Order(), s); Assert.Equal(n.Order(), n);                    // original order kept
            var sc = sal[b].data<double>().ToArray();
            if (n.Length > 0 && s.Length > 0) Assert.True(s.Min(i => sc[i]) >= n.Max(i => sc[i]));   // the most salient are the subject
        }
    }

    [Fact]
    public void R_one_with_subject_weight_one_is_the_full_model_and_K0_is_subject_only_pruning()
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        using var _ = no_grad();
        var (x, last, sal) = Prompt(m);
        using var full = m.Prefill(x, last);
        using (var p1 = ParvtsSteps.Split(sal, 1.0))
        {
            var (lg, _) = ParvtsSteps.Prefill(m, x, last, p1, new ParvtsOptions(R: 1, K: 2, SubjectWeight: 1));
            Assert.True(lg.allclose(full.LastLogits, rtol: 0, atol: 1e-10));
        }
        using var p = ParvtsSteps.Split(sal, 0.25);
        // Subject-only pruning with original position ids: drop V_N before layer 0.
        var keep = ParvtsSteps.PathColumns(m.Layout, p.Subject, x.shape[1]);
        using var pruned = m.Prefill(x, last, new TokenPlan { Keep = (i, _, _) => i == 0 ? keep : null });
        var (k0, _) = ParvtsSteps.Prefill(m, x, last, p, new ParvtsOptions(R: 0.25, K: 0));
        Assert.True(k0.eq(pruned.LastLogits).all().item<bool>());                        // bit-exact at 0.5/0.5 (a·0.5 + a·0.5 = a)
        var (w1, _) = ParvtsSteps.Prefill(m, x, last, p, new ParvtsOptions(R: 0.25, K: 2, SubjectWeight: 1));
        Assert.True(w1.allclose(pruned.LastLogits, rtol: 0, atol: 1e-10));             // w_S = 1 at any K is P_S only
        var (fusedK2, _) = ParvtsSteps.Prefill(m, x, last, p, new ParvtsOptions(R: 0.25, K: 2));
        Assert.False(fusedK2.allclose(pruned.LastLogits, rtol: 0, atol: 1e-6));          // fusion changes the output
    }

    [Theory, InlineData(FusionRule.Equal), InlineData(FusionRule.Size), InlineData(FusionRule.Attention)]
    public void Fusion_is_convex(FusionRule rule)
    {
        using var scope = NewDisposeScope();
        using var m = Model();
        using var _ = no_grad();
        var (x, last, sal) = Prompt(m);
        using var p = ParvtsSteps.Split(sal, 0.25);
        var (_, w) = ParvtsSteps.Prefill(m, x, last, p, new ParvtsOptions(R: 0.25, K: 2, Fusion: rule));
        Assert.All(w.data<double>().ToArray(), v => Assert.InRange(v, 0, 1));
    }

    [Fact]
    public void Attention_fusion_weight_of_a_prompt_does_not_depend_on_the_other_prompts_in_its_batch()
    {
        // Right-padding after a shorter prompt attends to the visual keys too; it must not count towards w_S.
        using var scope = NewDisposeScope();
        using var m = Model();
        using var _ = no_grad();
        var samples = SceneVqa.Generate(m.Config.Data, 7, "fusion-pad", 6);
        using var batch = MultimodalTraining.PromptBatch(m, samples);
        Assert.True(batch.TextLengths.Distinct().Count() > 1, "the batch needs prompts of different lengths (padding)");
        Tensor Weights(VqaBatch b)
        {
            var (vis, sal) = m.EncodeImages(b.Images);
            using var p = ParvtsSteps.Split(sal, 0.25);
            return ParvtsSteps.Prefill(m, m.Embeds(vis, b.TextIds), b.LastOrig, p, new ParvtsOptions(R: 0.25, K: 2, Fusion: FusionRule.Attention)).SubjectWeight;
        }
        var together = Weights(batch).data<double>().ToArray();
        for (int i = 0; i < samples.Length; i++)
        {
            using var one = MultimodalTraining.PromptBatch(m, [samples[i]]);
            Assert.Equal(together[i], Weights(one).item<double>(), 10);
        }
    }

    [Fact]
    public void MACs_formula_duplicates_the_shallow_layers_and_savings_fall_with_K()
    {
        int s = 10, nv = 144, ns = 16, t = 12, L = 8; long d = 256, mm = 704;
        double full = VtwSteps.FormulaMacs(s + nv + t, nv, d, mm, L, L);
        double prev = 0;
        for (int k = 0; k <= L; k++)
        {
            double c = ParvtsSteps.FormulaMacs(s, ns, nv - ns, t, d, mm, L, k);
            Assert.True(c > prev); prev = c;
        }
        Assert.Equal(L * (VtwSteps.F(s + ns + t, d, mm) + VtwSteps.F(s + nv - ns + t, d, mm)), ParvtsSteps.FormulaMacs(s, ns, nv - ns, t, d, mm, L, L));
        Assert.True(ParvtsSteps.FormulaMacs(s, ns, nv - ns, t, d, mm, L, 1) < 0.5 * full);
    }
}
