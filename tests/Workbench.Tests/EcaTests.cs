using TorchSharp;
using Workbench.Papers.Eca;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

/// <summary>ECA's invariants (shared/papers/eca.md §5): exact identities, counts equal closed forms, attention = autograd.</summary>
public class EcaTests
{
    public EcaTests() { _ = T.Rt; }

    static Tensor Ints(long[] shape, int seed, int lo = -3, int hi = 4) =>
        torch.randint(lo, hi, shape, generator: new torch.Generator((ulong)seed)).to_type(ScalarType.Float64);

    static double MaxAbs(Tensor a, Tensor b) => (a - b).abs().max().item<double>();

    [Fact]
    public void The_schemes_have_24_dense_and_10_triangular_products_and_the_specs_add_counts()
    {
        foreach (var s in new[] { Schemes.A, Schemes.B })
        {
            Assert.Equal(24, s.Dense);
            Assert.Equal(10, s.TriangularUnits);
            Assert.Equal(77, s.InputAdds);
        }
        Assert.Equal((44, 12), (Schemes.A.OutputAddsFull, Schemes.A.OutputAddsLower));
        Assert.Equal((56, 0), (Schemes.B.OutputAddsFull, Schemes.B.OutputAddsLower));
        Assert.Equal((38, 39), (Schemes.B.InputAddsLeft, Schemes.B.InputAddsRight));
    }

    [Theory]
    [InlineData(16, 16, 1)] [InlineData(32, 32, 2)] [InlineData(16, 32, 1)] [InlineData(30, 12, 1)] [InlineData(23, 10, 2)] [InlineData(64, 16, 2)]
    public void Step_A_is_exact_on_integers_with_zeros_above_the_diagonal(int l, int d, int depth)
    {
        using var scope = torch.NewDisposeScope();
        var q = Ints([2, l, d], 1); var k = Ints([2, l, d], 2);
        var s = EcaOps.TrilQK(q, k, depth);
        Assert.Equal(0.0, MaxAbs(s, q.matmul(k.transpose(-2, -1)).tril()));
        Assert.Equal(0.0, s.triu(1).abs().max().item<double>());
    }

    [Theory]
    [InlineData(16, 16, 1)] [InlineData(32, 32, 2)] [InlineData(16, 8, 1)] [InlineData(30, 12, 1)] [InlineData(23, 10, 2)] [InlineData(64, 16, 2)]
    public void Step_B_is_exact_on_integers(int l, int d, int depth)
    {
        using var scope = torch.NewDisposeScope();
        var p = Ints([2, l, l], 3).tril(); var v = Ints([2, l, d], 4);
        Assert.Equal(0.0, MaxAbs(EcaOps.LowerPV(p, v, depth), p.matmul(v)));
    }

    [Fact]
    public void Step_B_at_one_level_holds_for_any_block_lower_triangular_P()
    {
        using var scope = torch.NewDisposeScope();
        var p = Ints([16, 16], 5);
        var blockMask = torch.ones(4, 4, dtype: ScalarType.Float64).tril().repeat_interleave(4, 0).repeat_interleave(4, 1);
        p = p * blockMask;                                                  // diagonal blocks full, upper blocks zero
        var v = Ints([16, 8], 6);
        Assert.Equal(0.0, MaxAbs(EcaOps.LowerPV(p, v, 1), p.matmul(v)));
    }

    [Fact]
    public void The_reversal_trick_multiplies_by_an_upper_triangular_matrix_exactly()
    {
        using var scope = torch.NewDisposeScope();
        var u = Ints([32, 32], 7).triu(); var x = Ints([32, 8], 8);
        Assert.Equal(0.0, MaxAbs(EcaOps.UpperTimes(u, x, 2), u.matmul(x)));
    }

    [Theory]
    [InlineData(16, 16, 1)] [InlineData(64, 32, 2)] [InlineData(64, 64, 3)] [InlineData(32, 8, 1)] [InlineData(20, 20, 1)]
    public void Instrumented_counts_equal_the_closed_forms(int l, int d, int depth)
    {
        using var scope = torch.NewDisposeScope();
        var ca = new OpCount();
        EcaOps.A(Ints([l, d], 1), Ints([l, d], 2), depth, ca);
        var (am, aa) = OpCounts.EcaA(l, d, depth);
        Assert.Equal((am, aa), (ca.Mults, ca.Adds));
        var cb = new OpCount();
        EcaOps.B(Ints([l, l], 3).tril(), Ints([l, d], 4), depth, cb);
        var (bm, ba) = OpCounts.EcaB(l, d, depth);
        Assert.Equal((bm, ba), (cb.Mults, cb.Adds));
        if (OpCounts.Recurses(l, d, depth)) Assert.Equal(0, ca.DenseProducts % 24);      // whole levels of 24 dense products
    }

    [Fact]
    public void One_level_counts_29_of_32_multiplications_and_the_specs_ratio_table()
    {
        // Multiplications: 24 b²e + 5 e b(b+1) against 32 e b² + 8 e b  →  29/32 for large b.
        Assert.InRange(OpCounts.MultRatioA(1 << 16, 1 << 16, 1), 0.9062, 0.9063);
        Assert.InRange(OpCounts.MultRatioA(1 << 20, 1 << 20, 10), 8.0 / 9 - 1e-3, 8.0 / 9 + 1e-3);
        // Total-op ratios the spec derived independently (§5), to three decimals.
        // Each value is checked to the precision the spec gives it (half a unit of its last decimal, plus rounding slack).
        (long L, long d, int depth, double ratio, double tol)[] table =
        [
            (8192, 8192, 1, 0.907, 6e-4), (8192, 8192, 2, 0.893, 6e-4), (8192, 8192, 3, 0.891, 6e-4),
            (4096, 128, 1, 0.923, 6e-4), (4096, 128, 2, 0.913, 6e-4), (4096, 128, 3, 0.912, 6e-4),
            (2048, 64, 1, 0.939, 6e-4), (2048, 64, 2, 0.934, 6e-4), (64, 64, 1, 1.007, 6e-4), (16, 16, 1, 1.31, 6e-3),
        ];
        foreach (var (l, d, depth, ratio, tol) in table)
            Assert.True(Math.Abs(OpCounts.RatioA(l, d, depth) - ratio) < tol, $"L={l} d={d} depth={depth}: {OpCounts.RatioA(l, d, depth):F4} vs {ratio}");
    }

    [Fact]
    public void Attention_forward_and_backward_match_autograd_of_masked_attention()
    {
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(9);
        var q = torch.randn([2, 2, 64, 16], dtype: ScalarType.Float64, generator: gen).requires_grad_();
        var k = torch.randn([2, 2, 64, 16], dtype: ScalarType.Float64, generator: gen).requires_grad_();
        var v = torch.randn([2, 2, 64, 16], dtype: ScalarType.Float64, generator: gen).requires_grad_();
        var dO = torch.randn([2, 2, 64, 16], dtype: ScalarType.Float64, generator: gen);
        var refO = EcaAttention.Reference(q, k, v);
        refO.backward([dO]);
        var (o, p) = EcaAttention.Forward(q.detach(), k.detach(), v.detach(), depth: 2);
        var (dq, dk, dv) = EcaAttention.Backward(q.detach(), k.detach(), v.detach(), o, p, dO, depth: 2);
        Assert.True(MaxAbs(o, refO.detach()) < 1e-10);
        Assert.True(MaxAbs(dq, q.grad!) < 1e-10, $"dQ {MaxAbs(dq, q.grad!)}");
        Assert.True(MaxAbs(dk, k.grad!) < 1e-10, $"dK {MaxAbs(dk, k.grad!)}");
        Assert.True(MaxAbs(dv, v.grad!) < 1e-10, $"dV {MaxAbs(dv, v.grad!)}");
    }

    [Fact]
    public void Shape_errors_name_the_operands()
    {
        var e = Assert.Throws<ArgumentException>(() => EcaOps.TrilQK(torch.zeros(8, 4), torch.zeros(8, 5), 1));
        Assert.Contains("same L and d", e.Message);
        e = Assert.Throws<ArgumentException>(() => EcaOps.LowerPV(torch.zeros(8, 8), torch.zeros(6, 4), 1));
        Assert.Contains("rows", e.Message);
    }

    [Fact]
    public void An_ECA_call_leaks_no_tensors()
    {
        using var scope = torch.NewDisposeScope();
        var q = Ints([32, 32], 1); var k = Ints([32, 32], 2); var p = Ints([32, 32], 3).tril();
        var q3 = q.unsqueeze(0); var k3 = k.unsqueeze(0);
        EcaOps.TrilQK(q, k, 2).Dispose();
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        EcaOps.TrilQK(q, k, 2).Dispose();
        EcaOps.LowerPV(p, q, 2).Dispose();
        var (o, pp) = EcaAttention.Forward(q3, k3, q3, 1);
        o.Dispose(); pp.Dispose();
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}

public class EcaExperimentTests
{
    [Fact]
    public void The_Test_preset_runs_end_to_end_and_its_claims_are_honest()
    {
        var dir = T.TempDir();
        var r = EcaExperiment.Run(EcaConfig.Test, T.Rt, dir, TextWriter.Null);
        Assert.All(r.Exactness, x => Assert.Equal(0.0, x.MaxAbsError));
        Assert.Contains(r.Crossovers, c => c.Family == "d = L" && c.FromL == 128);
        Assert.True(r.Attention.MaxDQ < 1e-10 && r.Attention.MaxDK < 1e-10 && r.Attention.MaxDV < 1e-10);
        Assert.Equal(5 * EcaConfig.Test.TimingSizes.Length, r.Timing.Count);
        if (!T.Rt.IsCuda) Assert.Contains(r.Claims, c => c.Verdict == Workbench.Claims.Verdict.Pending);   // no GPU timing: said so
        foreach (var f in new[] { "results.json", "claims.md", "report.html" }) Assert.True(File.Exists(Path.Combine(dir, f)));
        Assert.Throws<Workbench.Runtime.ConfigException>(() => (EcaConfig.Test with { TimingSizes = [10] }).Validate());
    }

    [Fact]
    public void Float32_error_is_small_but_grows_no_faster_than_a_few_times_a_plain_matmul()
    {
        var rows = EcaSteps.Float32Error(64, 2, T.Rt.TorchDevice, 3);
        Assert.Equal(3, rows.Count);                                       // depths 0, 1, 2
        Assert.All(rows, r => Assert.True(r.EcaRelError < 1e-5, $"depth {r.Depth}: {r.EcaRelError}"));
    }
}

public class EcaAutogradTests
{
    [Fact]
    public void Gradients_through_the_ECA_autograd_function_equal_standard_attentions()
    {
        _ = T.Rt;
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(21);
        Tensor R() => torch.randn([1, 2, 32, 16], dtype: ScalarType.Float64, generator: gen).requires_grad_();
        var (q, k, v) = (R(), R(), R());
        var w = torch.randn([1, 2, 32, 16], dtype: ScalarType.Float64, generator: gen);
        (EcaAttention.Reference(q, k, v) * w).sum().backward();
        var (gq, gk, gv) = (q.grad!.clone(), k.grad!.clone(), v.grad!.clone());
        q.grad!.zero_(); k.grad!.zero_(); v.grad!.zero_();
        (EcaAttentionFunction.Apply(q, k, v, 1) * w).sum().backward();
        Assert.True((q.grad! - gq).abs().max().item<double>() < 1e-10);
        Assert.True((k.grad! - gk).abs().max().item<double>() < 1e-10);
        Assert.True((v.grad! - gv).abs().max().item<double>() < 1e-10);
    }

    [Fact]
    public void The_KJV_text_comes_from_Debians_bible_kjv()
    {
        var text = Workbench.Data.KjvText.Load();
        Assert.StartsWith("In the beginning God created the heaven and the earth.", text);
        Assert.InRange(text.Length, 4_000_000, 4_400_000);
        Assert.DoesNotContain("Genesis 1\n", text);                        // book headers are stripped
    }
}

public class EcaPackedTests
{
    [Theory]
    [InlineData(16, 16)] [InlineData(32, 8)] [InlineData(64, 64)]
    public void The_packed_level_is_exact_on_integers(int l, int d)
    {
        _ = T.Rt;
        using var scope = torch.NewDisposeScope();
        Tensor Ints(long[] s, ulong seed) => torch.randint(-3, 4, s, generator: new torch.Generator(seed)).to_type(ScalarType.Float64);
        var q = Ints([2, l, d], 1); var k = Ints([2, l, d], 2); var p = Ints([2, l, l], 3).tril();
        Assert.Equal(0.0, (EcaPacked.TrilQK(q, k) - q.matmul(k.transpose(-2, -1)).tril()).abs().max().item<double>());
        Assert.Equal(0.0, (EcaPacked.LowerPV(p, q) - p.matmul(q)).abs().max().item<double>());
        Assert.Throws<ArgumentException>(() => EcaPacked.TrilQK(Ints([6, 4], 4), Ints([6, 4], 5)));
    }
}

public class EcaBudgetTests
{
    [Fact]
    public void LM_comparison_under_a_time_budget_runs_fewer_equal_steps_for_both_models_and_records_the_request()
    {
        _ = T.Rt;
        var text = string.Concat(Enumerable.Repeat("in the beginning god created the heaven and the earth. ", 200));
        var cfg = EcaConfig.Test with { LmSteps = 5000 };
        var old = Environment.GetEnvironmentVariable(Workbench.Runtime.Deadline.Variable);
        try
        {
            Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3).ToString());
            var r = LmStep.Compare(text, cfg, torch.CPU, 1);
            Assert.Equal(5000, r.RequestedSteps);
            Assert.InRange(r.Steps, 10, 4999);
            Assert.Equal(r.Steps, r.StandardLoss.Length);
            Assert.Equal(r.Steps, r.EcaLoss.Length);
            Assert.True(r.MaxAbsDiff < 1e-8, $"float64 curves differ by {r.MaxAbsDiff}");
        }
        finally { Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, old); }
    }

    [Fact]
    public void FitSteps_keeps_every_step_without_a_budget_and_fits_the_budget_otherwise()
    {
        Assert.Equal(600, Workbench.Runtime.TimeBudget.FitSteps(600, 10, 1.0, null));
        Assert.Equal(200, Workbench.Runtime.TimeBudget.FitSteps(600, 10, 1.0, 20.0));       // 0.1 s a step, 20 s
        Assert.Equal(600, Workbench.Runtime.TimeBudget.FitSteps(600, 10, 1.0, 1000.0));     // never more than asked
        Assert.Equal(50, Workbench.Runtime.TimeBudget.FitSteps(600, 10, 1.0, 0.5, minimum: 50));
        Assert.Equal(10, Workbench.Runtime.TimeBudget.FitSteps(600, 10, 1.0, 0.0));          // never fewer than done
        var old = Environment.GetEnvironmentVariable(Workbench.Runtime.Deadline.Variable);
        try
        {
            Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, "soon");
            Assert.Throws<Workbench.Runtime.ConfigException>(() => Workbench.Runtime.Deadline.At);
            Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, (DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5).ToString());
            Assert.True(Workbench.Runtime.Deadline.Passed);
            Assert.Equal(0, Workbench.Runtime.TimeBudget.Share(0.5));
        }
        finally { Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, old); }
        Assert.Null(Workbench.Runtime.TimeBudget.Share(0.5));
    }
}
