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

/// <summary>Evaluator sizes and training: the per-pixel detector (channels, resolutions it is trained at) and the feature
/// network (channels, feature dimension), each trained for <c>Steps</c> at batch <c>Batch</c>.</summary>
public sealed record EvaluatorConfig(int DetectorChannels, int[] DetectorSides, int FeatureChannels, int FeatureDim, int Steps, int Batch, int PoolPerSide, double Lr = 2e-3)
{
    public static EvaluatorConfig Gpu { get; } = new(48, [32, 64, 96, 128], 32, 128, 1500, 64, 2000);
    public static EvaluatorConfig Test { get; } = new(16, [16, 32], 16, 32, 120, 16, 128);
}

/// <summary>Per-pixel classifier (25 classes: background + 24 object tokens), dilated convs 1/2/4/8 (receptive field 31 px),
/// fully convolutional, so it reads any resolution.</summary>
public sealed class PixelDetector : Module<Tensor, Tensor>
{
    readonly Conv2d c1, c2, c3, c4, c5, head;
    public PixelDetector(int c) : base("pixel_detector")
    {
        c1 = Conv2d(3, c, 3, padding: 1); c2 = Conv2d(c, c, 3, padding: 2, dilation: 2); c3 = Conv2d(c, c, 3, padding: 4, dilation: 4);
        c4 = Conv2d(c, c, 3, padding: 8, dilation: 8); c5 = Conv2d(c, c, 1); head = Conv2d(c, 1 + ShapeScenes.ObjectTokens, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = functional.relu(c1.forward(x));
        h = functional.relu(c2.forward(h)); h = functional.relu(c3.forward(h)); h = functional.relu(c4.forward(h));
        return head.forward(functional.relu(c5.forward(h)));
    }
}

/// <summary>Base-resolution multi-label classifier (24 objects + 4 backgrounds); its pooled feature replaces Inception.</summary>
public sealed class FeatureNet : Module<Tensor, Tensor>
{
    readonly Conv2d c1, c2, c3;
    readonly Linear head;
    public FeatureNet(int c, int dim) : base("feature_net")
    {
        c1 = Conv2d(3, c, 3, padding: 1); c2 = Conv2d(c, 2 * c, 3, stride: 2, padding: 1); c3 = Conv2d(2 * c, dim, 3, stride: 2, padding: 1);
        head = Linear(dim, ShapeScenes.ObjectTokens + ShapeScenes.Backgrounds);
        RegisterComponents();
    }

    /// <summary>Pooled feature [B, dim].</summary>
    public Tensor Features(Tensor x) =>
        functional.relu(c3.forward(functional.relu(c2.forward(functional.relu(c1.forward(x)))))).mean([2L, 3L]);

    public override Tensor forward(Tensor x) => head.forward(Features(x));
}

/// <summary>Counts per object token, from a class map: connected components (4-neighbour) of each class with at least
/// <c>minPixels</c> pixels.</summary>
public static class Counting
{
    public static int[] Components(int[] classMap, int H, int W, int minPixels)
    {
        var counts = new int[ShapeScenes.ObjectTokens];
        var seen = new bool[H * W];
        var stack = new Stack<int>();
        for (int i = 0; i < H * W; i++)
        {
            int c = classMap[i];
            if (c == 0 || seen[i]) continue;
            int size = 0;
            stack.Push(i); seen[i] = true;
            while (stack.Count > 0)
            {
                int j = stack.Pop(); size++;
                int y = j / W, x = j % W;
                foreach (var k in new[] { y > 0 ? j - W : -1, y < H - 1 ? j + W : -1, x > 0 ? j - 1 : -1, x < W - 1 ? j + 1 : -1 })
                    if (k >= 0 && !seen[k] && classMap[k] == c) { seen[k] = true; stack.Push(k); }
            }
            if (size >= minPixels) counts[c - 1]++;
        }
        return counts;
    }

    /// <summary>Count error CE = Σ_tokens |n̂ − n|, repetition (some n̂ &gt; n), missing (some n̂ &lt; n).</summary>
    public static (int Ce, bool Repeated, bool Missing) Compare(int[] predicted, int[] truth)
    {
        int ce = 0; bool rep = false, miss = false;
        for (int i = 0; i < truth.Length; i++)
        {
            ce += Math.Abs(predicted[i] - truth[i]);
            rep |= predicted[i] > truth[i]; miss |= predicted[i] < truth[i];
        }
        return (ce, rep, miss);
    }
}

/// <summary>The trained evaluators and their measured quality on held-out scenes.</summary>
public sealed class Evaluators(PixelDetector detector, FeatureNet features, int baseSide, int minPixels) : IDisposable
{
    public PixelDetector Detector { get; } = detector;
    public FeatureNet Features { get; } = features;
    public int BaseSide { get; } = baseSide;
    /// <summary>Smallest component counted: 8 px at base 32, scaled by (base/32)².</summary>
    public int MinPixels { get; } = minPixels;

    /// <summary>Detector class map [H·W] of one image [3,H,W] (or [1,3,H,W]).</summary>
    public int[] ClassMap(Tensor image)
    {
        using var _ = torch.NewDisposeScope();
        using var g = torch.no_grad();
        var x = image.dim() == 3 ? image.unsqueeze(0) : image;
        var dev = Detector.parameters().First().device;
        return Detector.forward(x.to(dev)).argmax(1)[0].cpu().to(int32).data<int>().ToArray();
    }

    /// <summary>Counts per object token of one image.</summary>
    public int[] Count(Tensor image)
    {
        long H = image.shape[^2], W = image.shape[^1];
        return Counting.Components(ClassMap(image), (int)H, (int)W, MinPixels);
    }

    /// <summary>Pooled features [B, dim] of base-size images [B,3,base,base] (others are area-resized first).</summary>
    public Tensor Feature(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        using var g = torch.no_grad();
        var dev = Features.parameters().First().device;
        var x = images.to(dev);
        if (x.shape[^1] != BaseSide) x = functional.interpolate(x, [BaseSide, BaseSide], mode: InterpolationMode.Area);
        return Features.Features(x).cpu().to(float64).MoveToOuterDisposeScope();
    }

    /// <summary>Fréchet distance between two feature sets [n, d]: |μ₁ − μ₂|² + tr(Σ₁ + Σ₂ − 2(Σ₁^½ Σ₂ Σ₁^½)^½), with
    /// 1e-6·I added to each covariance (n can be below d in the Test preset, where the number means little).</summary>
    public static double Frechet(Tensor a, Tensor b)
    {
        using var _ = torch.NewDisposeScope();
        a = a.to(float64); b = b.to(float64);
        long d = a.shape[1];
        var ma = a.mean([0L]); var mb = b.mean([0L]);
        Tensor Cov(Tensor x, Tensor m) { var c = x - m; return c.T.matmul(c) / Math.Max(1, x.shape[0] - 1) + torch.eye(d, dtype: float64) * 1e-6; }
        var sa = Cov(a, ma); var sb = Cov(b, mb);
        var (la, va) = torch.linalg.eigh(sa);
        var root = va.matmul(torch.diag(la.clamp_min(0).sqrt())).matmul(va.T);
        var m = root.matmul(sb).matmul(root);
        var (lm, _) = torch.linalg.eigh((m + m.T) / 2);
        return ((ma - mb).pow(2).sum() + sa.trace() + sb.trace() - 2 * lm.clamp_min(0).sqrt().sum()).ToDouble();
    }

    public void Dispose() { Detector.Dispose(); Features.Dispose(); }

    /// <summary>Trains (or loads from the cache) both evaluators; returns them with their training records and the detector's
    /// held-out per-pixel accuracy and exact-count rate.</summary>
    public static (Evaluators Eval, TrainResult Detector, TrainResult Feature, double PixelAccuracy, double CountExact) TrainOrLoad(
        EvaluatorConfig ec, int baseSide, Device device, long seed, CheckpointCache? cache = null)
    {
        cache ??= CheckpointCache.Default();
        Seeding.SeedAll(seed);
        var det = new PixelDetector(ec.DetectorChannels); det.to(device);
        var feat = new FeatureNet(ec.FeatureChannels, ec.FeatureDim); feat.to(device);
        var key = new { ec, baseSide, seed, v = 1 };
        var pd = cache.PathFor("diffusion", "detector", key, "safetensors");
        var pf = cache.PathFor("diffusion", "featurenet", key, "safetensors");
        TrainResult rd, rf;
        if (File.Exists(pd) && TrainedCheckpoint.Read(pd, ec.Steps) is (var dd, true, _))
        {
            Safetensors.LoadModule(pd, det); rd = TrainResult.Loaded("PixelDetector", dd, ec.Steps, pd, Params(det));
        }
        else
        {
            var t = TrainDetector(det, ec, seed) with { CheckpointPath = pd, Parameters = Params(det) };
            cache.Put(pd, tmp => Safetensors.SaveModule(tmp, det, TrainedCheckpoint.Metadata("PixelDetector", t.Steps, t.RequestedSteps)));
            rd = t;
        }
        if (File.Exists(pf) && TrainedCheckpoint.Read(pf, ec.Steps) is (var df, true, _))
        {
            Safetensors.LoadModule(pf, feat); rf = TrainResult.Loaded("FeatureNet", df, ec.Steps, pf, Params(feat));
        }
        else
        {
            var t = TrainFeature(feat, ec, baseSide, seed) with { CheckpointPath = pf, Parameters = Params(feat) };
            cache.Put(pf, tmp => Safetensors.SaveModule(tmp, feat, TrainedCheckpoint.Metadata("FeatureNet", t.Steps, t.RequestedSteps)));
            rf = t;
        }
        det.eval(); feat.eval();
        var ev = new Evaluators(det, feat, baseSide, Math.Max(2, 8 * baseSide * baseSide / (32 * 32)));
        // Held-out check at the largest trained side.
        int side = ec.DetectorSides[^1];
        var (img, _, cls, scenes) = ShapeScenes.Pool(seed, "detector-check", 16, side);
        double acc = 0; int exact = 0;
        for (int i = 0; i < scenes.Length; i++)
        {
            using var im = img[i];
            var map = ev.ClassMap(im);
            var truth = cls[i].data<long>().ToArray();
            acc += map.Zip(truth, (a, b) => a == b ? 1.0 : 0).Average();
            var c = Counting.Components(map, side, side, ev.MinPixels * side * side / (baseSide * baseSide) / 4);
            if (Counting.Compare(c, ShapeScenes.Render(scenes[i], 4).Counts).Ce == 0) exact++;
        }
        img.Dispose(); cls.Dispose();
        return (ev, rd, rf, acc / scenes.Length, exact / (double)scenes.Length);
    }

    static long Params(nn.Module m) => m.parameters().Sum(p => p.numel());

    /// <summary>Shares of the time left that the detector and then the feature network may take under a deadline (about
    /// 10% together).</summary>
    public const double DetectorBudgetShare = 0.06, FeatureBudgetShare = 0.045;

    static TrainResult TrainDetector(PixelDetector det, EvaluatorConfig ec, long seed)
    {
        var dev = det.parameters().First().device;
        var pools = ec.DetectorSides.Select(s => ShapeScenes.Pool(seed, $"detector-{s}", ec.PoolPerSide, s)).ToArray();
        var rng = Seeding.Rng(seed, "detector");
        using var flat = FlatParameters.Create(det.named_parameters().Select(p => (p.name, p.parameter)));
        using var opt = new FlatAdamW(flat, ec.Lr);
        var losses = new List<double>(); var sw = Stopwatch.StartNew();
        var budget = TrainBudget.OfTimeLeft(ec.Steps, DetectorBudgetShare, dev);
        det.train();
        Progress.Run("Pixel detector", ec.Steps, tick =>
        {
            for (int step = 0; step < budget.Target; step++)
            {
                using var scope = torch.NewDisposeScope();
                var pool = pools[step % pools.Length];
                int b = Math.Max(2, ec.Batch * ec.DetectorSides[0] * ec.DetectorSides[0] / (int)(pool.Images.shape[^1] * pool.Images.shape[^1]));
                var idx = torch.tensor(Enumerable.Range(0, b).Select(_ => (long)rng.Next(ec.PoolPerSide)).ToArray());
                var loss = functional.cross_entropy(det.forward(pool.Images.index_select(0, idx).to(dev)), pool.Classes.index_select(0, idx).to(dev));
                flat.ZeroGrad(); loss.backward(); opt.Step();
                budget.Step(step + 1);
                if (step % 10 == 0 || step == budget.Target - 1) losses.Add(loss.ToDouble());
                tick.Tick($"loss {losses[^1]:F3}");
            }
        });
        foreach (var p in pools) { p.Images.Dispose(); p.Prompts.Dispose(); p.Classes.Dispose(); }
        return new TrainResult("PixelDetector", losses.ToArray(), budget.Target, sw.Elapsed.TotalSeconds, false, "", 0) { RequestedSteps = ec.Steps };
    }

    static TrainResult TrainFeature(FeatureNet net, EvaluatorConfig ec, int baseSide, long seed)
    {
        var dev = net.parameters().First().device;
        var (img, _, cls, scenes) = ShapeScenes.Pool(seed, "featurenet", ec.PoolPerSide * 2, baseSide);
        cls.Dispose();
        int nl = ShapeScenes.ObjectTokens + ShapeScenes.Backgrounds;
        var labels = new float[scenes.Length * nl];
        for (int i = 0; i < scenes.Length; i++)
        {
            foreach (var o in scenes[i].Objects) labels[i * nl + o.Token] = 1;
            labels[i * nl + ShapeScenes.ObjectTokens + scenes[i].Background] = 1;
        }
        using var y = torch.tensor(labels, [scenes.Length, nl]);
        var rng = Seeding.Rng(seed, "featurenet");
        using var flat = FlatParameters.Create(net.named_parameters().Select(p => (p.name, p.parameter)));
        using var opt = new FlatAdamW(flat, ec.Lr);
        var losses = new List<double>(); var sw = Stopwatch.StartNew();
        var budget = TrainBudget.OfTimeLeft(ec.Steps, FeatureBudgetShare, dev);
        net.train();
        Progress.Run("Feature network", ec.Steps, tick =>
        {
            for (int step = 0; step < budget.Target; step++)
            {
                using var scope = torch.NewDisposeScope();
                var idx = torch.tensor(Enumerable.Range(0, ec.Batch).Select(_ => (long)rng.Next(scenes.Length)).ToArray());
                var loss = functional.binary_cross_entropy_with_logits(net.forward(img.index_select(0, idx).to(dev)), y.index_select(0, idx).to(dev));
                flat.ZeroGrad(); loss.backward(); opt.Step();
                budget.Step(step + 1);
                if (step % 10 == 0 || step == budget.Target - 1) losses.Add(loss.ToDouble());
                tick.Tick($"loss {losses[^1]:F3}");
            }
        });
        img.Dispose();
        return new TrainResult("FeatureNet", losses.ToArray(), budget.Target, sw.Elapsed.TotalSeconds, false, "", 0) { RequestedSteps = ec.Steps };
    }
}
