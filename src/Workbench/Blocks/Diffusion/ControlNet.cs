using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Optim;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Blocks.Diffusion;

/// <summary>Auto-Canny as OpenCV computes it (accdiffusion-v2.md §2 step 1), in TorchSharp.</summary>
public static class Canny
{
    /// <summary>
    /// Edges of an RGB image [3,H,W] (or [1,3,H,W]) in [−1,1]: values to 0–255; v = median of all values; lower =
    /// int(max(0,(1−σ)v)), upper = int(min(255,(1+σ)v)); unnormalised 3×3 Sobel per channel with replicated border;
    /// magnitude |Gx| + |Gy|; each pixel takes the channel with the largest magnitude; non-maximum suppression along the
    /// gradient direction quantised to 0/45/90/135°; hysteresis with strict comparisons (m &gt; lower is a candidate, m &gt;
    /// upper seeds an edge). Returns {0,1} [H,W] (float32) and the thresholds.
    /// </summary>
    public static (Tensor Edges, double Median, int Lower, int Upper) Auto(Tensor image, double sigma)
    {
        using var scope = torch.NewDisposeScope();
        var x = (image.dim() == 4 ? image[0] : image).detach().to(float32).cpu();
        x = ((x + 1) * 127.5).round().clamp(0, 255).unsqueeze(1);                // [3,1,H,W] integer-valued
        long H = x.shape[2], W = x.shape[3];
        double v = x.flatten().median().ToDouble();
        int lower = (int)Math.Max(0, (1 - sigma) * v), upper = (int)Math.Min(255, (1 + sigma) * v);
        var kx = torch.tensor(new float[] { -1, 0, 1, -2, 0, 2, -1, 0, 1 }, [1, 1, 3, 3]);
        var ky = torch.tensor(new float[] { -1, -2, -1, 0, 0, 0, 1, 2, 1 }, [1, 1, 3, 3]);
        var xp = functional.pad(x, [1, 1, 1, 1], PaddingModes.Replicate);
        var gx = functional.conv2d(xp, kx); var gy = functional.conv2d(xp, ky);  // [3,1,H,W]
        var mag = gx.abs() + gy.abs();
        var best = mag.argmax(0, keepdim: true);                                  // [1,1,H,W]
        var m = mag.gather(0, best)[0, 0]; var dx = gx.gather(0, best)[0, 0]; var dy = gy.gather(0, best)[0, 0];
        var md = m.data<float>().ToArray(); var ax = dx.data<float>().ToArray(); var ay = dy.data<float>().ToArray();
        int h = (int)H, w = (int)W;
        var keep = new byte[h * w];                                               // 0 none, 1 weak, 2 strong
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++)
            {
                int i = y * w + xx;
                double g = md[i];
                if (!(g > lower)) continue;
                double ang = Math.Atan2(ay[i], ax[i]) * 180 / Math.PI; if (ang < 0) ang += 180;
                (int oy, int ox) = ang < 22.5 || ang >= 157.5 ? (0, 1) : ang < 67.5 ? (1, 1) : ang < 112.5 ? (1, 0) : (1, -1);
                double n1 = At(md, h, w, y + oy, xx + ox), n2 = At(md, h, w, y - oy, xx - ox);
                if (g > n1 && g >= n2) keep[i] = (byte)(g > upper ? 2 : 1);       // OpenCV: > on one side, ≥ on the other
            }
        var stack = new Stack<int>();
        for (int i = 0; i < keep.Length; i++) if (keep[i] == 2) stack.Push(i);
        while (stack.Count > 0)
        {
            int i = stack.Pop(), y = i / w, xx = i % w;
            for (int ddy = -1; ddy <= 1; ddy++)
                for (int ddx = -1; ddx <= 1; ddx++)
                {
                    int yy = y + ddy, x2 = xx + ddx;
                    if (yy < 0 || yy >= h || x2 < 0 || x2 >= w) continue;
                    int j = yy * w + x2;
                    if (keep[j] == 1) { keep[j] = 2; stack.Push(j); }
                }
        }
        var e = torch.tensor(keep.Select(b => b == 2 ? 1f : 0f).ToArray(), [H, W]);
        return (e.MoveToOuterDisposeScope(), v, lower, upper);
    }

    static double At(float[] m, int h, int w, int y, int x) => y < 0 || y >= h || x < 0 || x >= w ? 0 : m[y * w + x];

    /// <summary>The ControlNet condition of a batch [B,3,H,W] in [−1,1]: edges replicated to 3 channels in [0, 1].</summary>
    public static Tensor Condition(Tensor images, double sigma)
    {
        var list = new List<Tensor>();
        for (long i = 0; i < images.shape[0]; i++)
        {
            using var im = images[i];
            var (e, _, _, _) = Auto(im, sigma);
            list.Add(e.unsqueeze(0).expand(3, -1, -1).unsqueeze(0));
        }
        return torch.cat(list.ToArray(), 0);
    }
}

/// <summary>
/// A small edge-conditioned ControlNet (accdiffusion-v2.md §5): a trainable copy of the TinyUNet's encoder and middle block,
/// a condition encoder (3 convs 16/32/64 → c0 at the first level), and zero-initialised 1×1 convs per skip and for the middle
/// block. Its residuals are added to the frozen UNet's skips and middle output, scaled by λ.
/// </summary>
public sealed class EdgeControlNet : nn.Module
{
    readonly TinyUNet trunk;
    public TinyUNet Trunk => trunk;
    readonly Conv2d h1, h2, h3, h4;
    readonly ModuleList<Conv2d> zeros;
    readonly Conv2d zeroMid;

    public EdgeControlNet(TinyUNet source, bool copyWeights = true) : base("edge_controlnet")
    {
        var cfg = source.Config;
        trunk = new TinyUNet(cfg);
        if (copyWeights)
            using (torch.no_grad())
                foreach (var ((_, d), (_, s)) in Trunk.named_parameters().Zip(source.named_parameters())) d.copy_(s);
        h1 = Conv2d(3, 16, 3, padding: 1); h2 = Conv2d(16, 32, 3, padding: 1); h3 = Conv2d(32, 64, 3, padding: 1); h4 = Conv2d(64, cfg.Channels[0], 3, padding: 1);
        zeros = new ModuleList<Conv2d>(cfg.Channels.Select(c => Conv2d(c, c, 1)).ToArray());
        zeroMid = Conv2d(cfg.Channels[^1], cfg.Channels[^1], 1);
        RegisterComponents();
        using (torch.no_grad())
        {
            foreach (var z in zeros) { z.weight!.zero_(); z.bias!.zero_(); }
            zeroMid.weight!.zero_(); zeroMid.bias!.zero_();
            h4.weight!.zero_(); h4.bias!.zero_();
        }
    }

    /// <summary>Residuals for the skips (one per level) and the middle block, from the noisy sample, timestep, prompt
    /// context and the edge condition [B,3,H,W] in [0,1].</summary>
    public (Tensor[] Skips, Tensor Mid) Forward(Tensor x, Tensor t, Tensor ctx, Tensor edges)
    {
        var c = functional.silu(h1.forward(edges)); c = functional.silu(h2.forward(c)); c = functional.silu(h3.forward(c));
        var hint = h4.forward(c);
        var (temb, skips, h) = Trunk.Down(x, t, ctx, hint: hint);
        h = Trunk.Mid(h, temb, ctx);
        return (skips.Select((s, l) => zeros[l].forward(s)).ToArray(), zeroMid.forward(h));
    }

    /// <summary>Parameters that training updates (the trunk's up path is unused).</summary>
    public IEnumerable<(string Name, Parameter Param)> Trainable() =>
        named_parameters().Where(p => !Unused.Any(u => p.name.StartsWith(u + "."))).Select(p => (p.name, p.parameter));

    static readonly string[] Unused = ["trunk.upRes", "trunk.upAttn", "trunk.ups", "trunk.normOut", "trunk.convOut", "trunk.tok", "trunk.pos", "trunk.text", "trunk.textNorm"];
}

/// <summary>ControlNet training: base frozen, condition = auto-Canny of the clean image, prompt dropout.</summary>
public sealed record ControlTrainConfig(int Steps, int Batch, double Lr, int Pool, double CannySigma = 0.3, double CfgDrop = 0.1)
{
    public static ControlTrainConfig Gpu { get; } = new(1000, 128, 1e-4, 10_000);
    public static ControlTrainConfig Test { get; } = new(50, 8, 1e-3, 64);
}

public static class ControlTraining
{
    /// <summary>Share of the time left (at the start of its training loop) the ControlNet may take under a deadline.</summary>
    public const double BudgetShare = 0.3;

    /// <summary>Trains the ControlNet (steps fitted to <paramref name="budgetShare"/> of the time left under a deadline) or
    /// loads it from the cache.</summary>
    public static (EdgeControlNet Net, TrainResult Result) TrainOrLoad(TinyUNet unet, string unetKey, ControlTrainConfig cfg, long seed, CheckpointCache? cache = null,
        double budgetShare = BudgetShare)
    {
        cache ??= CheckpointCache.Default();
        var dev = unet.parameters().First().device;
        var net = new EdgeControlNet(unet);
        net.to(dev);
        long n = net.Trainable().Sum(p => p.Param.numel());
        var path = cache.PathFor("diffusion", "edge-controlnet", new { unetKey, cfg, seed, v = 1 }, "safetensors");
        if (File.Exists(path) && TrainedCheckpoint.Read(path, cfg.Steps) is (var done, true, _))
        {
            Safetensors.LoadModule(path, net); net.eval();
            return (net, TrainResult.Loaded("EdgeControlNet", done, cfg.Steps, path, n));
        }
        var sched = new NoiseSchedule();
        var (images, prompts, classes, _) = ShapeScenes.Pool(seed, "controlnet", cfg.Pool, unet.Config.Resolution);
        classes.Dispose();
        using var edges = Canny.Condition(images, cfg.CannySigma);
        using var empty = torch.tensor(ShapeScenes.EmptyPrompt, [1, ShapeScenes.PromptLength]).to(dev);
        foreach (var p in unet.parameters()) p.requires_grad = false;
        foreach (var (name, p) in net.named_parameters()) p.requires_grad = net.Trainable().Any(x => x.Name == name);
        using var flat = FlatParameters.Create(net.Trainable());
        using var opt = new FlatAdamW(flat, cfg.Lr);
        var rng = Seeding.Rng(seed, "controlnet-train");
        var gen = Seeding.TorchGenerator(seed, "controlnet-noise");
        var losses = new List<double>(); var sw = Stopwatch.StartNew();
        var budget = TrainBudget.OfTimeLeft(cfg.Steps, budgetShare, dev);
        net.train();
        Progress.Run("Edge ControlNet", cfg.Steps, tick =>
        {
            for (int step = 0; step < budget.Target; step++)
            {
                using var scope = torch.NewDisposeScope();
                var idx = torch.tensor(Enumerable.Range(0, cfg.Batch).Select(_ => (long)rng.Next(cfg.Pool)).ToArray());
                var x0 = images.index_select(0, idx).to(dev); var e = edges.index_select(0, idx).to(dev); var p = prompts.index_select(0, idx).to(dev);
                var drop = torch.tensor(Enumerable.Range(0, cfg.Batch).Select(_ => rng.NextDouble() < cfg.CfgDrop).ToArray()).to(dev).view(-1, 1);
                p = torch.where(drop, empty.expand(cfg.Batch, -1), p);
                var t = Enumerable.Range(0, cfg.Batch).Select(_ => (long)rng.Next(sched.T)).ToArray();
                var eps = torch.randn(x0.shape, generator: gen).to(dev);
                var xt = sched.AddNoise(x0, eps, t);
                var tt = torch.tensor(t).to(dev);
                var ctx = unet.Encode(p);
                var (sk, mid) = net.Forward(xt, tt, ctx, e);
                var loss = functional.mse_loss(unet.Forward(xt, tt, ctx, skipResiduals: sk, midResidual: mid), eps);
                flat.ZeroGrad(); loss.backward(); opt.Step();
                budget.Step(step + 1);
                if (step % 10 == 0 || step == budget.Target - 1) losses.Add(loss.ToDouble());
                tick.Tick($"loss {losses[^1]:F4}");
            }
        });
        images.Dispose(); prompts.Dispose();
        net.eval();
        var r = new TrainResult("EdgeControlNet", losses.ToArray(), budget.Target, sw.Elapsed.TotalSeconds, false, path, n) { RequestedSteps = cfg.Steps };
        cache.Put(path, tmp => Safetensors.SaveModule(tmp, net, TrainedCheckpoint.Metadata("EdgeControlNet", r.Steps, r.RequestedSteps)));
        return (net, r);
    }
}
