using TorchSharp;
using Workbench.Blocks.Sparsity;
using Workbench.Papers.Lbc;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

/// <summary>LBC's invariants from shared/papers/lbc.md §5, against naive references.</summary>
public class LbcTests
{
    public LbcTests() { _ = T.Rt; }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Theory]
    [InlineData(2, 4)] [InlineData(1, 4)] [InlineData(2, 8)] [InlineData(1, 16)] [InlineData(4, 8)]
    public void Combination_table_has_C_distinct_rows_with_N_ones_and_balanced_columns(int n, int m)
    {
        var t = LbcSteps.Combinations(n, m);
        Assert.Equal(LbcSteps.Binomial(m, n), t.C);
        Assert.Equal(t.C, t.Subsets.Select(s => string.Join(",", s)).Distinct().Count());
        Assert.All(t.B, row => Assert.Equal(n, row.Sum()));
        for (int j = 0; j < m; j++) Assert.Equal(LbcSteps.Binomial(m - 1, n - 1), t.B.Sum(r => r[j]));
        Assert.Equal(Enumerable.Range(0, n), t.Subsets[0]);                 // lexicographic: first is {0..N-1}
        Assert.Equal(Enumerable.Range(m - n, n), t.Subsets[^1]);            // last is {M-N..M-1}
    }

    [Theory]
    [InlineData(2, 4)] [InlineData(1, 16)] [InlineData(2, 8)]
    public void Initial_scores_give_an_all_ones_mask(int n, int m)
    {
        using var scope = torch.NewDisposeScope();
        var a = LbcSteps.InitScores(50, n, m);
        var raw = a.matmul(LbcSteps.Combinations(n, m).BTensor());
        Assert.True(raw.sub(1).abs().max().item<float>() < 1e-6);          // Σ_{c∋j} A_gc = 1
        Assert.True(LbcSteps.ForwardMask(a, LbcSteps.Combinations(n, m).BTensor()).eq(1).all().item<bool>());
    }

    [Theory]
    [InlineData(6, 0, 7, 3.0)] [InlineData(28, 0, 7, 3.0)] [InlineData(16, 0, 60, 3.0)] [InlineData(6, 0, 200, 4.0)] [InlineData(4, 2, 5, 3.0)]
    public void Schedule_starts_at_zero_ends_at_C_minus_1_and_never_decreases(int c, int ti, int tf, double p)
    {
        Assert.Equal(0, LbcSteps.RemovalCount(ti, c, ti, tf, p));
        Assert.Equal(c - 1, LbcSteps.RemovalCount(tf, c, ti, tf, p));
        Assert.Equal(c - 1, LbcSteps.RemovalCount(tf + 10, c, ti, tf, p));
        int prev = 0;
        for (int e = 0; e <= tf + 3; e++)
        {
            int k = LbcSteps.RemovalCount(e, c, ti, tf, p);
            Assert.True(k >= prev, $"k({e}) = {k} < k({e - 1}) = {prev}");
            Assert.InRange(k, 0, c - 1);
            prev = k;
        }
    }

    [Fact]
    public void Removal_leaves_exactly_k_zeros_per_row_and_nests_when_removed_scores_stay_zero()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.rand(40, 28, generator: new torch.Generator(3)) + 0.1;
        Tensor? prevZeros = null;
        foreach (var k in new[] { 3, 9, 20, 27 })
        {
            LbcSteps.RemoveLowest(a, k);
            Assert.True(a.eq(0).sum(1).eq(k).all().item<bool>());
            var zeros = a.eq(0);
            if (prevZeros is not null) Assert.True(zeros.logical_or(prevZeros.logical_not()).all().item<bool>()); // old zeros still zero
            prevZeros = zeros;
        }
        Assert.True(a.ne(0).sum(1).eq(1).all().item<bool>());               // one combination left per group
    }

    [Fact]
    public void Removal_picks_the_k_smallest_scores()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new float[] { 0.5f, 0.1f, 0.9f, 0.3f, 0.7f, 0.2f }).reshape(1, 6);
        LbcSteps.RemoveLowest(a, 3);
        Assert.Equal(new float[] { 0.5f, 0, 0.9f, 0, 0.7f, 0 }, a.data<float>().ToArray());
    }

    [Fact]
    public void Forward_mask_depends_only_on_which_combinations_survive()
    {
        using var scope = torch.NewDisposeScope();
        var table = LbcSteps.Combinations(2, 4);
        var b = table.BTensor();
        var a = torch.rand(30, table.C, generator: new torch.Generator(5)) + 0.01;
        LbcSteps.RemoveLowest(a, 4);                                         // 2 combinations left per group
        var m1 = LbcSteps.ForwardMask(a, b);
        var scaled = a * (torch.rand(a.shape, generator: new torch.Generator(6)) * 10 + 0.1);   // same support, other values
        Assert.True(Same(m1, LbcSteps.ForwardMask(scaled, b)));
        // Naive: a weight is kept iff some surviving combination contains it.
        var av = a.data<float>().ToArray(); var mv = m1.data<float>().ToArray();
        for (int g = 0; g < 30; g++)
            for (int j = 0; j < 4; j++)
            {
                bool kept = Enumerable.Range(0, table.C).Any(c => av[g * table.C + c] != 0 && table.Subsets[c].Contains(j));
                Assert.Equal(kept ? 1f : 0f, mv[g * 4 + j]);
            }
    }

    [Fact]
    public void Score_gradient_is_the_sum_of_g_times_w_over_the_combination_and_zero_when_removed()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(11);
        var layer = new NmLinear("fc", 8, 3);
        var sp = new LbcSparsifier(layer.Weight, 2, 4);
        layer.Attach(sp);
        using (torch.no_grad()) { sp.Scores.copy_(torch.rand(sp.Scores.shape, generator: gen) + 0.1); }
        sp.K = 2; sp.BeforeForward();                                        // remove 2 of 6 per group
        var x = torch.randn(5, 8, generator: gen);
        var r = torch.randn(5, 3, generator: gen);
        var loss = (layer.forward(x) * r).sum();
        loss.backward();
        // g = ∂L/∂W_eff = rᵀx; expected ∂L/∂A_gc = [A_gc≠0] Σ_{j∈c} g_j w_j (groups along the input dimension).
        var g = r.t().matmul(x);                                              // (3, 8)
        var gw = NmGroups.ToGroups(g * layer.Weight.detach(), 4).data<float>().ToArray();
        var av = sp.Scores.detach().data<float>().ToArray();
        var grad = sp.Scores.grad!.data<float>().ToArray();
        int groups = (int)sp.Scores.shape[0], cc = sp.Table.C;
        for (int gi = 0; gi < groups; gi++)
            for (int c = 0; c < cc; c++)
            {
                double expect = av[gi * cc + c] == 0 ? 0 : sp.Table.Subsets[c].Sum(j => (double)gw[gi * 4 + j]);
                Assert.Equal(expect, grad[gi * cc + c], 4);
            }
    }

    [Fact]
    public void Pruned_weights_get_zero_gradient_in_LBC_but_dense_gradient_in_SR_STE()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(12);
        var lbcLayer = new NmLinear("a", 16, 4);
        var sp = new LbcSparsifier(lbcLayer.Weight, 2, 4);
        lbcLayer.Attach(sp);
        using (torch.no_grad()) sp.Scores.copy_(torch.rand(sp.Scores.shape, generator: gen) + 0.1);
        sp.K = 5; sp.BeforeForward();
        var x = torch.randn(7, 16, generator: gen);
        lbcLayer.forward(x).pow(2).sum().backward();
        var mask = sp.Mask(lbcLayer.Weight);
        Assert.True(NmGroups.KeptPerGroup(mask, 4).eq(2).all().item<bool>());
        Assert.True(lbcLayer.Weight.grad!.mul(1 - mask).abs().max().item<float>() == 0);

        var srLayer = new NmLinear("b", 16, 4);
        srLayer.Attach(new SrSteSparsifier(2, 4, 0));
        srLayer.forward(x).pow(2).sum().backward();
        var srMask = srLayer.Sparsifier.Mask(srLayer.Weight);
        Assert.True(srLayer.Weight.grad!.mul(1 - srMask).abs().max().item<float>() > 0);
    }

    [Theory]
    [InlineData(2, 4)] [InlineData(1, 16)]
    public void Magnitude_mask_keeps_the_N_largest_per_group_along_input_channels(int n, int m)
    {
        using var scope = torch.NewDisposeScope();
        var w = torch.randn(6, 2 * m, 3, 3, generator: new torch.Generator(21));
        var mask = NmGroups.MagnitudeMask(w, n, m);
        var wv = w.data<float>().ToArray(); var mv = mask.data<float>().ToArray();
        int cin = 2 * m;
        int Idx(int o, int i, int kh, int kw) => ((o * cin + i) * 3 + kh) * 3 + kw;
        for (int o = 0; o < 6; o++) for (int kh = 0; kh < 3; kh++) for (int kw = 0; kw < 3; kw++) for (int g0 = 0; g0 < cin; g0 += m)
        {
            var group = Enumerable.Range(g0, m).ToArray();                     // consecutive input channels at one (o, kh, kw)
            var top = group.OrderByDescending(i => Math.Abs(wv[Idx(o, i, kh, kw)])).Take(n).ToHashSet();
            foreach (var i in group) Assert.Equal(top.Contains(i) ? 1f : 0f, mv[Idx(o, i, kh, kw)]);
        }
    }

    [Fact]
    public void Conv_groups_round_trip()
    {
        using var scope = torch.NewDisposeScope();
        var w = torch.randn(5, 8, 3, 3, generator: new torch.Generator(2));
        Assert.True(Same(NmGroups.FromGroups(NmGroups.ToGroups(w, 4), w.shape), w));
        Assert.Equal(5 * 8 * 9 / 4, NmGroups.ToGroups(w, 4).shape[0]);
    }

    [Fact]
    public void SR_STE_backward_is_g_plus_lambda_times_pruned_weights()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(31);
        const double lambda = 0.5;
        var layer = new NmLinear("fc", 8, 4);
        layer.Attach(new SrSteSparsifier(2, 4, lambda));
        var x = torch.randn(6, 8, generator: gen);
        var r = torch.randn(6, 4, generator: gen);
        var mask = NmGroups.MagnitudeMask(layer.Weight, 2, 4);
        (layer.forward(x) * r).sum().backward();
        layer.Sparsifier.AfterBackward(layer.Weight);
        var expect = r.t().matmul(x) + lambda * (1 - mask) * layer.Weight.detach();   // naive: g + λ(1−mask)w
        Assert.True(layer.Weight.grad!.allclose(expect, rtol: 1e-5, atol: 1e-6));
        // and the forward used w ⊙ mask
        using (torch.no_grad())
            Assert.True(layer.forward(x).allclose(x.matmul((layer.Weight * mask).t()) + layer.forward(torch.zeros(1, 8)), atol: 1e-5));
    }

    [Fact]
    public void ASP_mask_stays_fixed_and_pruned_weights_stay_zero_while_retraining()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(4);
        var net = new Workbench.Blocks.Vision.Mlp(32, 16);
        var before = net.SparseLayers.Select(l => NmGroups.MagnitudeMask(l.Weight, 2, 4)).ToArray();
        LbcTrainer.Attach(net, SparseMethod.Asp, new NmPattern(2, 4), 0);
        var suite = LbcConfig.Test.Suites[0];
        var opt = LbcTrainer.BuildOptimizer(net, suite);
        var gen = new torch.Generator(5);
        for (int i = 0; i < 5; i++)
            LbcTrainer.Iteration(net, opt.Opt, torch.randn(16, 1, 28, 28, generator: gen), torch.randint(0, 10, [16], generator: gen), 0).Dispose();
        for (int i = 0; i < before.Length; i++)
        {
            var l = net.SparseLayers[i];
            Assert.True(Same(l.Sparsifier.Mask(l.Weight), before[i]));
            Assert.True(l.Weight.detach().mul(1 - before[i]).abs().max().item<float>() == 0);
        }
    }

    [Fact]
    public void Layer_with_input_channels_not_divisible_by_M_says_to_keep_it_dense()
    {
        var conv = new NmConv2d("conv1", 3, 8, 3);
        var e = Assert.Throws<ArgumentException>(() => conv.Attach(new SrSteSparsifier(2, 4, 0)));
        Assert.Contains("conv1", e.Message);
        Assert.Contains("dense", e.Message);
    }

    [Fact]
    public void One_training_iteration_leaks_no_tensors()
    {
        torch.manual_seed(8);
        var net = new Workbench.Blocks.Vision.SmallCnn(8, 8, 16);
        LbcTrainer.Attach(net, SparseMethod.Lbc, new NmPattern(2, 4), 0);
        foreach (var l in net.SparseLayers) ((LbcSparsifier)l.Sparsifier).K = 2;
        var opt = LbcTrainer.BuildOptimizer(net, LbcSuite.Cnn(2, new NmPattern(2, 4)));
        var gen = new torch.Generator(9);
        using var x = torch.randn(4, 1, 28, 28, generator: gen);
        using var y = torch.randint(0, 10, [4], generator: gen);
        for (int i = 0; i < 2; i++) LbcTrainer.Iteration(net, opt.Opt, x, y, 0.1).Dispose();   // optimizer state is created here
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) LbcTrainer.Iteration(net, opt.Opt, x, y, 0.1).Dispose();
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Test_preset_runs_end_to_end_and_every_sparse_mask_is_exact()
    {
        var dir = T.TempDir();
        var cfg = LbcConfig.Test;
        var r = LbcExperiment.Run(cfg, T.Rt, dir, TextWriter.Null);
        var methods = cfg.Suites[0].Methods;
        Assert.Equal(methods.Length, r.Runs.Count);
        Assert.All(r.Runs.Where(x => x.Method != SparseMethod.Dense), x => Assert.True(x.ExactNm, $"{x.Method} is not exact N:M"));
        var lbc = r.Runs.Single(x => x.Method == SparseMethod.Lbc);
        Assert.Equal(0, lbc.Epochs[0].K);
        Assert.Equal(5, lbc.Epochs[^1].K);                                      // C − 1 for 2:4
        Assert.Equal(1.0, lbc.Epochs[^1].KeptFraction[2], 6);                  // every group keeps exactly 2 of 4
        Assert.All(lbc.WinningCombination!, w => Assert.Equal(6, w.Length));
        // The paper's argument: scores move with the first-order loss term Σ g·w (momentum and decay blur it, not undo it).
        Assert.True(lbc.Taylor!.Correlation > 0.5, $"score change vs Σ g·w correlation {lbc.Taylor.Correlation}");
        Assert.All(r.Runs, x => Assert.True(x.FinalAccuracy > 0.5, $"{x.Method} reached only {x.FinalAccuracy:P1}"));
        foreach (var f in new[] { "results.json", "claims.md", "report.html", "plotly.min.js" })
            Assert.True(File.Exists(Path.Combine(dir, f)), $"{f} was not written");
        Assert.DoesNotContain("cdn.plot.ly", File.ReadAllText(Path.Combine(dir, "report.html")));

        // A second run reuses the dense model from the checkpoint cache: the same record, not a retrained one.
        var again = LbcExperiment.Run(cfg, T.Rt, T.TempDir(), TextWriter.Null);
        var d1 = r.Runs.Single(x => x.Method == SparseMethod.Dense); var d2 = again.Runs.Single(x => x.Method == SparseMethod.Dense);
        Assert.Equal(d1.Seconds, d2.Seconds, 3);                                // the cached copy went through JSON (7 significant digits)
        Assert.Equal(d1.FinalAccuracy, d2.FinalAccuracy);
        Assert.Equal(r.Runs.Single(x => x.Method == SparseMethod.Asp).FinalAccuracy, again.Runs.Single(x => x.Method == SparseMethod.Asp).FinalAccuracy);
    }
}
