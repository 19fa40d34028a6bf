using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using Workbench.Blocks.Sparsity;
using Workbench.Blocks.Vision;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.Lbc;

/// <summary>Train / test tensors on the run's device.</summary>
public sealed record LbcData(ImageDataset Train, ImageDataset Test) : IDisposable
{
    public void Dispose() { Train.Dispose(); Test.Dispose(); }

    public static LbcData Load(LbcConfig cfg, Device device) =>
        new(FashionMnist.Load(train: true, cfg.TrainLimit, device), FashionMnist.Load(train: false, cfg.TestLimit, device));
}

/// <summary>
/// Trains one network under one sparsity method with the suite's recipe, the way LBC's official scripts do:
/// k is updated once per epoch, removal runs every iteration before the forward, SR-STE's decay is added after
/// backward, ASP re-zeroes pruned weights after each step, and (CNN recipe) LBC's scores freeze at t_f.
/// </summary>
public static class LbcTrainer
{
    public static SparsifiableNet CreateNet(LbcModel model) => model switch
    {
        LbcModel.Mlp => new Mlp(),
        LbcModel.Cnn => new SmallCnn(),
        LbcModel.Vit => new TinyVit(),
        _ => throw new ArgumentOutOfRangeException(nameof(model)),
    };

    /// <summary>Attaches the method's sparsifier to every sparse layer. ASP needs the trained dense net's weights
    /// (already loaded into <paramref name="net"/>).</summary>
    public static void Attach(SparsifiableNet net, SparseMethod method, NmPattern p, double srSteLambda)
    {
        foreach (var layer in net.SparseLayers)
        {
            NmSparsifier s = method switch
            {
                SparseMethod.Dense => new DenseSparsifier(),
                SparseMethod.Asp => new FixedMaskSparsifier(layer.Weight, p.N, p.M),
                SparseMethod.Ste => new SrSteSparsifier(p.N, p.M, 0),
                SparseMethod.SrSte => new SrSteSparsifier(p.N, p.M, srSteLambda),
                SparseMethod.Lbc => new LbcSparsifier(layer.Weight, p.N, p.M),
                _ => throw new ArgumentOutOfRangeException(nameof(method)),
            };
            layer.Attach(s);
        }
    }

    /// <summary>Learning rate at iteration <paramref name="it"/>: linear warm-up, then cosine to 0.</summary>
    public static double LearningRate(double lr, long it, long warmupIters, long totalIters)
    {
        if (it < warmupIters) return lr * (it + 1) / warmupIters;
        var t = (double)(it - warmupIters) / Math.Max(1, totalIters - warmupIters);
        return 0.5 * lr * (1 + Math.Cos(Math.PI * Math.Min(1, t)));
    }

    /// <summary>The optimizer with its parameter groups: [decay, no-decay] and the LBC scores group (if any).</summary>
    public sealed record Groups(OptimizerHelper Opt, List<torch.optim.ILearningRateController> Main, torch.optim.ILearningRateController? Scores);

    public static Groups BuildOptimizer(SparsifiableNet net, LbcSuite s)
    {
        var decay = new List<Parameter>(); var noDecay = new List<Parameter>(); var scores = new List<Parameter>();
        foreach (var (name, p) in net.named_parameters())
        {
            if (name.EndsWith("scores", StringComparison.Ordinal)) scores.Add(p);
            else if (s.Model == LbcModel.Vit ? (p.dim() <= 1 || name is "cls" or "pos") : name.Contains("bn", StringComparison.Ordinal)) noDecay.Add(p);
            else decay.Add(p);
        }
        OptimizerHelper opt;
        if (s.Optimizer == OptimizerKind.Sgd)
        {
            var groups = new List<SGD.ParamGroup> { new(decay, s.Lr, s.Momentum, 0, s.WeightDecay), new(noDecay, s.Lr, s.Momentum, 0, 0) };
            if (scores.Count > 0) groups.Add(new(scores, s.Lr, s.Momentum, 0, s.WeightDecay));   // scores: same lr and decay as weights
            opt = torch.optim.SGD(groups, s.Lr, s.Momentum);
        }
        else
        {
            var groups = new List<AdamW.ParamGroup> { new(decay, s.Lr, 0.9, 0.999, 1e-8, s.WeightDecay), new(noDecay, s.Lr, 0.9, 0.999, 1e-8, 0) };
            if (scores.Count > 0) groups.Add(new(scores, s.Lr, 0.9, 0.999, 1e-8, s.WeightDecay));  // DeiT: AdamW decay on 2-D scores
            opt = torch.optim.AdamW(groups, s.Lr);
        }
        var all = opt.ParamGroups.ToList();
        return new Groups(opt, all.Take(2).ToList(), all.Count > 2 ? all[2] : null);
    }

    /// <summary>
    /// One training iteration: removal / mask update before the forward, cross-entropy, backward, the sparsifiers'
    /// gradient hooks (SR-STE decay), the optimizer step and the post-step hooks (ASP). Returns the detached loss.
    /// </summary>
    public static Tensor Iteration(SparsifiableNet net, OptimizerHelper opt, Tensor x, Tensor y, double labelSmoothing)
    {
        using var scope = torch.NewDisposeScope();
        foreach (var l in net.SparseLayers) l.Sparsifier.BeforeForward();
        var loss = torch.nn.functional.cross_entropy(net.forward(x), y, label_smoothing: labelSmoothing);
        opt.zero_grad();
        loss.backward();
        foreach (var l in net.SparseLayers) l.Sparsifier.AfterBackward(l.Weight);
        opt.step();
        foreach (var l in net.SparseLayers) l.Sparsifier.AfterStep(l.Weight);
        return loss.detach().MoveToOuterDisposeScope();
    }

    sealed class CompositeRestore(IEnumerable<IDisposable> parts) : IDisposable
    {
        readonly List<IDisposable> list = parts.ToList();
        public void Dispose() { foreach (var p in list) p.Dispose(); }
    }

    /// <summary>Top-1 accuracy on a dataset (no autograd, eval mode, batches of 1000).</summary>
    public static double Evaluate(SparsifiableNet net, ImageDataset data)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        // The evaluated model is the N:M one: the current removal is applied for the evaluation only (an optimizer step
        // with momentum can move removed LBC scores off zero), and the scores are restored afterwards, so evaluating
        // never changes training.
        using var restore = new CompositeRestore(net.SparseLayers.Select(l => l.Sparsifier).OfType<LbcSparsifier>().Select(l => l.EvaluationView()));
        net.eval();
        var correct = torch.zeros(1, dtype: ScalarType.Int64, device: data.Labels.device);
        for (long i = 0; i < data.Count; i += 1000)
        {
            long n = Math.Min(1000, data.Count - i);
            var logits = net.forward(data.Images.narrow(0, i, n));
            correct.add_(logits.argmax(1).eq(data.Labels.narrow(0, i, n)).sum());
        }
        net.train();
        return correct.item<long>() / (double)data.Count;
    }

    /// <summary>Trains <paramref name="net"/> (sparsifiers already attached) for the suite's epochs.</summary>
    public static MethodRun Train(SparsifiableNet net, LbcSuite s, SparseMethod method, NmPattern p, long seed, LbcData data,
        LbcConfig cfg, Action<EpochTrace>? observer = null, double priorGFlops = 0, double priorSeconds = 0)
    {
        var device = data.Train.Images.device;
        var opt = BuildOptimizer(net, s);
        var lbc = net.SparseLayers.Select(l => l.Sparsifier).OfType<LbcSparsifier>().ToList();
        int c = lbc.Count > 0 ? lbc[0].Table.C : 1;
        long n = data.Train.Count, perEpoch = (n + cfg.BatchSize - 1) / cfg.BatchSize;
        long total = perEpoch * s.Epochs, warm = perEpoch * s.WarmupEpochs;
        var gen = Seeding.TorchGenerator(seed, $"shuffle/{s.Model}/{method}/{p}");
        var sample = SampleGroups(net, cfg.ScoreSampleGroups, seed);
        Tensor[]? prevMasks = method == SparseMethod.Dense ? null : Masks(net);
        var traces = new List<EpochTrace>();
        TaylorCheck? taylor = null;
        double gflops = priorGFlops, seconds = priorSeconds;
        long it = 0;
        net.train();
        var label = $"{s.Model} {method} {(method == SparseMethod.Dense ? "dense" : p.ToString())} seed {seed}";
        Progress.Run(label, s.Epochs, tick =>
        {
            for (int e = 0; e < s.Epochs; e++)
            {
                var sw = Stopwatch.StartNew();
                int k = 0;
                if (lbc.Count > 0)
                {
                    k = LbcSteps.RemovalCount(e, c, 0, s.Tf, s.P);
                    foreach (var l in lbc) l.K = k;
                    if (s.FreezeAtTf && k == c - 1 && !lbc[0].Frozen) foreach (var l in lbc) l.Freeze();
                }
                using var lossSum = torch.zeros(1, device: device);
                // The Taylor check (first epoch of an LBC run): accumulate −lr·∂L/∂A for sampled scores of the first layer.
                var first = e == 0 && lbc.Count > 0 ? lbc[0] : null;
                using var taylorIdx = first is null ? null : torch.randperm(first.Scores.numel(), generator: Seeding.TorchGenerator(seed, "taylor")).narrow(0, 0, Math.Min(400, first.Scores.numel())).to(device);
                using var taylorStart = first is null ? null : first.Scores.detach().flatten().index_select(0, taylorIdx!);
                using var taylorSum = first is null ? null : torch.zeros_like(taylorStart!);
                using (var perm = torch.randperm(n, generator: gen).to(device))
                {
                    for (long bi = 0; bi < perEpoch; bi++, it++)
                    {
                        using var scope = torch.NewDisposeScope();
                        var lr = LearningRate(s.Lr, it, warm, total);
                        foreach (var g in opt.Main) g.LearningRate = lr;
                        if (opt.Scores is not null) opt.Scores.LearningRate = lbc.Count > 0 && lbc[0].Frozen ? 0 : lr;
                        var idx = perm.narrow(0, bi * cfg.BatchSize, Math.Min(cfg.BatchSize, n - bi * cfg.BatchSize));
                        var x = data.Train.Images.index_select(0, idx);
                        var y = data.Train.Labels.index_select(0, idx);
                        var loss = Iteration(net, opt.Opt, x, y, cfg.LabelSmoothing);
                        lossSum.add_(loss * x.shape[0]);
                        if (first?.Scores.grad is { } sg) taylorSum!.add_(sg.flatten().index_select(0, taylorIdx!), alpha: -lr);
                    }
                }
                if (first is not null)
                {
                    var measured = (first.Scores.detach().flatten().index_select(0, taylorIdx!) - taylorStart!).cpu().data<float>().Select(v => Sig(v)).ToArray();
                    var predicted = taylorSum!.cpu().data<float>().Select(v => Sig(v)).ToArray();
                    taylor = new TaylorCheck(e, predicted, measured, Correlation(predicted, measured));
                }
                var trace = EpochStats(net, method, e, k, c, lossSum.item<float>() / n, Evaluate(net, data.Test), ref prevMasks, sample, n);
                seconds += sw.Elapsed.TotalSeconds;
                trace = trace with { Seconds = Math.Round(sw.Elapsed.TotalSeconds, 3) };
                gflops += trace.TrainGFlops;
                traces.Add(trace);
                observer?.Invoke(trace);
                tick.Tick($"loss {trace.TrainLoss:F3} acc {trace.TestAccuracy:P1}{(lbc.Count > 0 ? $" k {k}" : "")} {trace.Seconds:F1}s");
            }
        });
        if (prevMasks is not null) foreach (var t in prevMasks) t.Dispose();
        opt.Opt.Dispose();                                                   // momentum / Adam moments of the whole model
        var (exact, wins, labels, finalScores) = FinalChecks(net, method, p, seed);
        return new MethodRun(s.Model.ToString(), method, method == SparseMethod.Dense ? "dense" : p.ToString(), seed, traces,
            traces[^1].TestAccuracy, exact, gflops, seconds, net.SparseLayers.Select(l => l.LayerName).ToArray(), wins, labels, finalScores, taylor);
    }

    static double Correlation(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average();
        double cov = a.Zip(b).Sum(p => (p.First - ma) * (p.Second - mb));
        double va = Math.Sqrt(a.Sum(v => (v - ma) * (v - ma))), vb = Math.Sqrt(b.Sum(v => (v - mb) * (v - mb)));
        return va == 0 || vb == 0 ? 0 : Math.Round(cov / (va * vb), 4);
    }

    /// <summary>Rounds to 5 significant digits (keeps results files small; plots need no more).</summary>
    static double Sig(double v) => v == 0 || !double.IsFinite(v) ? v : double.Parse(v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);
    static double Sig(float v) => Sig((double)v);

    static long[]? SampleGroups(SparsifiableNet net, int count, long seed)
    {
        var first = net.SparseLayers.Select(l => l.Sparsifier).OfType<LbcSparsifier>().FirstOrDefault();
        if (first is null) return null;
        var g = first.Scores.shape[0];
        var rng = Seeding.Rng(seed, "score-sample");
        return Enumerable.Range(0, (int)g).OrderBy(_ => rng.Next()).Take(Math.Min(count, (int)g)).Select(i => (long)i).Order().ToArray();
    }

    static Tensor[] Masks(SparsifiableNet net)
    {
        using var _ = torch.no_grad();
        return net.SparseLayers.Select(l => l.Sparsifier.Mask(l.Weight).DetachFromDisposeScope()).ToArray();
    }

    static EpochTrace EpochStats(SparsifiableNet net, SparseMethod method, int e, int k, int c, double loss, double acc,
        ref Tensor[]? prevMasks, long[]? sample, long samples)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var layers = net.SparseLayers;
        int m = layers[0].Sparsifier.M;
        var kept = new double[m + 1];
        var layerDensity = new double[layers.Count];
        double flipped = 0, entries = 0, keptTotal = 0;
        var masks = method == SparseMethod.Dense ? null : Masks(net);
        // Counted training FLOPs: 2 per multiply-add, for the forward, the activation gradient and the weight gradient.
        // Dense layers (first conv / patch embedding, classifier) count fully.
        var sparseSet = new HashSet<INmLayer>(layers);
        double gflops = net.AllLayers.Where(l => !sparseSet.Contains(l)).Sum(l => 2.0 * 3 * l.DenseMacsPerSample * samples) / 1e9;
        for (int i = 0; i < layers.Count; i++)
        {
            var l = layers[i];
            double d = 1;
            if (masks is not null)
            {
                var perGroup = NmGroups.KeptPerGroup(masks[i], m);
                var counts = perGroup.bincount(null, minlength: m + 1).cpu().data<long>().ToArray();
                for (int j = 0; j <= m; j++) kept[j] += counts[j];
                keptTotal += perGroup.shape[0];
                d = masks[i].mean().item<float>();
                if (prevMasks is not null)
                {
                    flipped += masks[i].ne(prevMasks[i]).sum().item<long>();
                    entries += masks[i].numel();
                }
            }
            layerDensity[i] = d;
            // a sparse layer: forward (d) + activation gradient (d) + weight gradient (d, or dense for SR-STE / STE)
            double wgrad = l.Sparsifier.DenseWeightGradient ? 1 : d;
            gflops += 2.0 * l.DenseMacsPerSample * samples * (d + d + wgrad) / 1e9;
        }
        if (keptTotal > 0) for (int j = 0; j <= m; j++) kept[j] /= keptTotal;
        double density = layers.Select((l, i) => layerDensity[i] * l.Weight.numel()).Sum() / layers.Sum(l => (double)l.Weight.numel());
        if (prevMasks is not null) foreach (var t in prevMasks) t.Dispose();
        if (masks is not null) foreach (var t in masks) t.DetachFromDisposeScope();
        prevMasks = masks;

        double[][]? scoreSample = null;
        if (sample is not null && layers[0].Sparsifier is LbcSparsifier ls)
        {
            var rows = ls.LiveScores().index_select(0, torch.tensor(sample, device: ls.Scores.device)).cpu();
            var flat = rows.data<float>().ToArray();
            int cc = (int)rows.shape[1];
            scoreSample = Enumerable.Range(0, (int)rows.shape[0]).Select(r => flat.Skip(r * cc).Take(cc).Select(v => Sig(v)).ToArray()).ToArray();
        }
        return new EpochTrace(e, Sig(loss), acc, k, c - k, Sig(density), kept.Select(Sig).ToArray(), layerDensity.Select(Sig).ToArray(),
            Sig(entries > 0 ? flipped / entries : 0), Sig(gflops), 0, scoreSample);
    }

    static (bool Exact, int[][]? Wins, string[]? Labels, Histogram? Scores) FinalChecks(SparsifiableNet net, SparseMethod method, NmPattern p, long seed)
    {
        if (method == SparseMethod.Dense) return (false, null, null, null);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        bool exact = true;
        foreach (var l in net.SparseLayers)
        {
            using var mask = l.Sparsifier.Mask(l.Weight);
            exact &= NmGroups.KeptPerGroup(mask, p.M).eq(p.N).all().item<bool>();
        }
        var lbc = net.SparseLayers.Select(l => l.Sparsifier).OfType<LbcSparsifier>().ToList();
        if (lbc.Count == 0) return (exact, null, null, null);
        // The winner is the surviving combination: a removed (zero) score must not win over a negative live one.
        var wins = lbc.Select(l => { var a = l.LiveScores(); return a.masked_fill(a.eq(0), double.NegativeInfinity).argmax(1); })
            .Select((w, i) => w.bincount(null, minlength: lbc[i].Table.C).cpu().data<long>().Select(v => (int)v).ToArray()).ToArray();
        var labels = Enumerable.Range(0, lbc[0].Table.C).Select(lbc[0].Table.Label).ToArray();
        var live = lbc[0].LiveScores().flatten();
        live = live.masked_select(live.ne(0)).cpu();
        var hist = Histogram.Of(live.data<float>().ToArray().Select(v => (double)v).ToArray());
        return (exact, wins, labels, hist);
    }
}
