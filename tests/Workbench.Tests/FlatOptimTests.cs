using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Optim;
using Workbench.Blocks.Vision;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Workbench.Tests;

public class FlatOptimTests(ITestOutputHelper output)
{
    static (TinyVit A, TinyVit B) Twins(ScalarType dtype = ScalarType.Float32)
    {
        torch.manual_seed(11); var a = new TinyVit(dim: 32, depth: 2, heads: 2, mlp: 64);
        torch.manual_seed(11); var b = new TinyVit(dim: 32, depth: 2, heads: 2, mlp: 64);
        a.to(dtype); b.to(dtype);
        return (a, b);
    }

    static Tensor Loss(TinyVit m, Tensor x, Tensor y) => torch.nn.functional.cross_entropy(m.forward(x), y);

    static double MaxDiff(TinyVit a, TinyVit b) =>
        a.parameters().Zip(b.parameters()).Max(p => (p.First - p.Second).abs().max().to_type(ScalarType.Float64).item<double>());

    [Fact]
    public void Parameters_alias_the_flat_buffers_and_gradients_accumulate_into_them()
    {
        _ = T.Rt;
        using var scope = torch.NewDisposeScope();
        var (net, _) = Twins();
        var flat = FlatParameters.Create(net.named_parameters());
        var gen = new torch.Generator(3);
        var x = torch.randn([4, 1, 28, 28], generator: gen); var y = torch.randint(0, 10, [4], generator: gen);
        Loss(net, x, y).backward();
        var first = flat.Slots[^1];
        Assert.True(flat.Grad.abs().sum().item<float>() > 0);                 // gradients landed in the flat buffer
        Assert.Equal(first.Parameter.grad!.abs().sum().item<float>(), flat.Grad.narrow(0, first.Offset, first.Count).abs().sum().item<float>(), 3);
        using (torch.no_grad()) flat.Data.narrow(0, first.Offset, first.Count).fill_(0.5f);
        Assert.Equal(0.5f, first.Parameter.flatten()[0].item<float>());        // the module's parameter is a view of Data
        flat.ZeroGrad();
        Loss(net, x, y).backward();
        Assert.True(flat.Grad.abs().sum().item<float>() > 0);                 // still aliased after zeroing
    }

    [Fact]
    public void Flat_AdamW_and_SGD_follow_TorchSharps_optimizers()
    {
        _ = T.Rt;
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(5);
        // float64: Adam divides by √v, so float32 rounding differences (1e-8) in near-zero gradients grow to 1e-4 in a few
        // steps; in float64 the two implementations must agree to rounding.
        var batches = Enumerable.Range(0, 5).Select(_ => (torch.randn([8, 1, 28, 28], dtype: ScalarType.Float64, generator: gen), torch.randint(0, 10, [8], generator: gen))).ToList();
        foreach (var adam in new[] { true, false })
        {
            var (a, b) = Twins(ScalarType.Float64);
            var reference = adam ? (torch.optim.Optimizer)torch.optim.AdamW(a.parameters(), 1e-3, weight_decay: 0.05)
                                 : torch.optim.SGD(a.parameters(), 0.05, momentum: 0.9, weight_decay: 1e-4);
            var flat = FlatParameters.Create(b.named_parameters());
            var fa = adam ? new FlatAdamW(flat, 1e-3, weightDecay: 0.05) : null;
            var fs = adam ? null : new FlatSgd(flat, 0.05, 0.9, 1e-4);
            foreach (var (x, y) in batches)
            {
                reference.zero_grad(); Loss(a, x, y).backward(); reference.step();
                flat.ZeroGrad(); Loss(b, x, y).backward();
                if (fa is not null) fa.Step(); else fs!.Step();
            }
            Assert.True(MaxDiff(a, b) < 1e-10, $"{(adam ? "AdamW" : "SGD")}: max parameter difference {MaxDiff(a, b)}");
        }
    }

    [Fact]
    public void A_flat_step_takes_far_fewer_tensor_operations()
    {
        _ = T.Rt;
        using var scope = torch.NewDisposeScope();
        var (a, b) = Twins();
        var gen = new torch.Generator(6);
        var x = torch.randn([8, 1, 28, 28], generator: gen); var y = torch.randint(0, 10, [8], generator: gen);
        var reference = torch.optim.AdamW(a.parameters(), 1e-3);
        var flat = FlatParameters.Create(b.named_parameters());
        var fa = new FlatAdamW(flat, 1e-3);
        Loss(a, x, y).backward(); Loss(b, x, y).backward();
        long Ops(Action step) { var before = DisposeScopeManager.Statistics.CreatedInScopeCount + DisposeScopeManager.Statistics.CreatedOutsideScopeCount; step(); return DisposeScopeManager.Statistics.CreatedInScopeCount + DisposeScopeManager.Statistics.CreatedOutsideScopeCount - before; }
        var nRef = Ops(() => reference.step()); var nFlat = Ops(fa.Step);
        var sw = Stopwatch.StartNew(); for (int i = 0; i < 50; i++) reference.step(); var tRef = sw.Elapsed.TotalMilliseconds / 50;
        sw.Restart(); for (int i = 0; i < 50; i++) fa.Step(); var tFlat = sw.Elapsed.TotalMilliseconds / 50;
        output.WriteLine($"{a.parameters().Count()} parameter tensors: TorchSharp AdamW creates {nRef} tensors per step ({tRef:F3} ms), flat AdamW {nFlat} ({tFlat:F3} ms)");
        Assert.True(nFlat * 5 < nRef, $"flat step made {nFlat} tensors, the per-parameter one {nRef}");
    }
}
