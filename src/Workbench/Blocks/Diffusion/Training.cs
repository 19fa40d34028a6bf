using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Optim;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion;

/// <summary>Training of the base model: <c>Steps</c> AdamW steps at batch <c>Batch</c> on a pool of <c>Pool</c> scenes
/// rendered at the base side; prompt dropped to [BOS, EOS] with probability <c>CfgDrop</c>; EMA when <c>Ema</c> &gt; 0.</summary>
public sealed record DiffusionTrainConfig(int Steps, int Batch, double Lr, int Pool, double Ema = 0.999, double CfgDrop = 0.1, double WeightDecay = 0.01)
{
    public static DiffusionTrainConfig Gpu { get; } = new(3000, 256, 2e-4, 20_000);
    public static DiffusionTrainConfig Test { get; } = new(150, 16, 2e-3, 256, Ema: 0);

    public DiffusionTrainConfig Validate()
    {
        const string n = nameof(DiffusionTrainConfig);
        Check.Positive(n, nameof(Steps), Steps); Check.Positive(n, nameof(Batch), Batch); Check.Positive(n, nameof(Lr), Lr);
        Check.Positive(n, nameof(Pool), Pool); Check.InRange(n, nameof(Ema), Ema, 0, 0.99999); Check.InRange(n, nameof(CfgDrop), CfgDrop, 0, 1);
        return this;
    }
}

/// <summary>What training did (empty loss and zero time when loaded from the cache). <c>Steps</c> are the steps actually
/// done (also when loaded: the checkpoint records them); <c>RequestedSteps</c> what the config asked for, fewer done when a
/// time budget (<see cref="Deadline"/>) cut the run.</summary>
public sealed record TrainResult(string What, double[] Loss, int Steps, double Seconds, bool FromCache, string CheckpointPath, long Parameters)
{
    public int RequestedSteps { get; init; }

    /// <summary>The record of a checkpoint loaded from the cache (steps read from its metadata).</summary>
    public static TrainResult Loaded(string what, int steps, int requested, string path, long parameters) =>
        new(what, [], steps, 0, true, path, parameters) { RequestedSteps = requested };

    /// <summary>"500 of 3,000 steps (time budget, …)" when the run was cut, else null.</summary>
    public string? Cut => TimeBudget.CutNote(Steps, RequestedSteps);
    /// <summary>"trained 3,000 steps in 95.2 s" or "loaded from the cache, 500 steps [cut: 500 of 3,000 steps …]".</summary>
    public string Describe() => (FromCache ? $"loaded from the cache, {Steps:N0} steps" : $"trained {Steps:N0} steps in {Seconds:F1} s") + (Cut is { } c ? $" [cut: {c}]" : "");
}

public static class DiffusionTraining
{
    /// <summary>Builds the UNet and trains it, or loads the cached weights for the same (model config, train config, seed).</summary>
    public static (TinyUNet Model, TrainResult Result) TrainOrLoad(UNetConfig mc, DiffusionTrainConfig tc, Device device, long seed, CheckpointCache? cache = null)
    {
        tc.Validate();
        cache ??= CheckpointCache.Default();
        Seeding.SeedAll(seed);
        var model = new TinyUNet(mc);
        model.to(device);
        long nParams = model.parameters().Sum(p => p.numel());
        var path = CheckpointPath(mc, tc, seed, cache);
        if (File.Exists(path) && TrainedCheckpoint.Read(path, tc.Steps) is (var done, true, _))
        {
            Safetensors.LoadModule(path, model);
            model.eval();
            return (model, TrainResult.Loaded("TinyUNet", done, tc.Steps, path, nParams));
        }
        var r = Train(model, tc, seed);
        cache.Put(path, tmp => Safetensors.SaveModule(tmp, model, TrainedCheckpoint.Metadata("ShapeScenes TinyUNet", r.Steps, r.RequestedSteps)));
        model.eval();
        return (model, r with { CheckpointPath = path, Parameters = nParams });
    }

    /// <summary>Where <see cref="TrainOrLoad"/> keeps the UNet of (model config, train config, seed).</summary>
    public static string CheckpointPath(UNetConfig mc, DiffusionTrainConfig tc, long seed, CheckpointCache? cache = null) =>
        (cache ?? CheckpointCache.Default()).PathFor("diffusion", "tiny-unet", new { mc, tc, seed, v = 1 }, "safetensors");

    /// <summary>The cached UNet that <see cref="TrainOrLoad"/> would load, never training (a probe in a fresh process measures
    /// sampling only). Throws <see cref="FileNotFoundException"/> when there is none, and <see cref="InvalidOperationException"/>
    /// when the cached one was cut by a time budget and this process has no deadline (the same rule as
    /// <see cref="TrainedCheckpoint.Read"/>).</summary>
    public static (TinyUNet Model, TrainResult Result) LoadCached(UNetConfig mc, DiffusionTrainConfig tc, Device device, long seed, CheckpointCache? cache = null)
    {
        tc.Validate();
        var path = CheckpointPath(mc, tc, seed, cache);
        if (!File.Exists(path))
            throw new FileNotFoundException($"No cached TinyUNet for this config and seed {seed} at {path}: run `papers reproduce` once to train it " +
                                            $"(with the same {CheckpointCache.Variable}); a probe never trains.", path);
        var (done, use, _) = TrainedCheckpoint.Read(path, tc.Steps);
        if (!use)
            throw new InvalidOperationException($"The cached TinyUNet at {path} was cut by a time budget ({done:N0} of {tc.Steps:N0} steps) and is reused " +
                                                $"only by the budgeted run that trained it ({Deadline.Variable}, {Deadline.RunIdVariable}); a probe never trains.");
        var model = new TinyUNet(mc);
        model.to(device);
        Safetensors.LoadModule(path, model);
        model.eval();
        return (model, TrainResult.Loaded("TinyUNet", done, tc.Steps, path, model.parameters().Sum(p => p.numel())));
    }

    /// <summary>Share of the time left that UNet training may take under a deadline.</summary>
    public const double BudgetShare = 0.4;

    /// <summary>ε-prediction MSE with uniform timesteps; FlatAdamW (constant learning rate); EMA of the flat buffer copied
    /// back at the end. Under a deadline the step count is fitted to <paramref name="budgetShare"/> of the time left
    /// (<see cref="TrainBudget"/>) and the EMA horizon scaled to it.</summary>
    public static TrainResult Train(TinyUNet model, DiffusionTrainConfig tc, long seed, double budgetShare = BudgetShare)
    {
        var device = model.parameters().First().device;
        var sched = new NoiseSchedule();
        var (images, prompts, classes, _) = ShapeScenes.Pool(seed, "train", tc.Pool, model.Config.Resolution);
        classes.Dispose();
        using var imgs = images.to(device); using var prm = prompts.to(device);
        images.Dispose(); prompts.Dispose();
        using var empty = torch.tensor(ShapeScenes.EmptyPrompt, [1, ShapeScenes.PromptLength]).to(device);
        model.train();
        using var flat = FlatParameters.Create(model.named_parameters().Select(p => (p.name, p.parameter)));
        using var opt = new FlatAdamW(flat, tc.Lr, 0.9, 0.999, 1e-8, tc.WeightDecay);
        using var ema = tc.Ema > 0 ? flat.Data.detach().clone() : null;
        var rng = Seeding.Rng(seed, "diffusion-train");
        var gen = Seeding.TorchGenerator(seed, "diffusion-noise");
        var losses = new List<double>();
        var sw = Stopwatch.StartNew();
        var budget = TrainBudget.OfTimeLeft(tc.Steps, budgetShare, device);
        double decay = tc.Ema;
        Progress.Run("TinyUNet training", tc.Steps, tick =>
        {
            for (int step = 0; step < budget.Target; step++)
            {
                using var scope = torch.NewDisposeScope();
                var idx = torch.tensor(Enumerable.Range(0, tc.Batch).Select(_ => (long)rng.Next(tc.Pool)).ToArray()).to(device);
                var x0 = imgs.index_select(0, idx);
                var p = prm.index_select(0, idx);
                var drop = torch.tensor(Enumerable.Range(0, tc.Batch).Select(_ => rng.NextDouble() < tc.CfgDrop).ToArray()).to(device).view(-1, 1);
                p = torch.where(drop, empty.expand(tc.Batch, -1), p);
                var t = Enumerable.Range(0, tc.Batch).Select(_ => (long)rng.Next(sched.T)).ToArray();
                var eps = torch.randn(x0.shape, generator: gen).to(device);
                var xt = sched.AddNoise(x0, eps, t);
                var pred = model.Forward(xt, torch.tensor(t).to(device), model.Encode(p));
                var loss = nn.functional.mse_loss(pred, eps);
                flat.ZeroGrad();
                loss.backward();
                opt.Step();
                if (ema is not null) using (torch.no_grad()) ema.mul_(decay).add_(flat.Data * (1 - decay));
                if (budget.Step(step + 1)) decay = budget.EmaDecay(tc.Ema);
                if (step % 10 == 0 || step == budget.Target - 1) losses.Add(loss.ToDouble());
                tick.Tick($"loss {losses[^1]:F4}");
            }
        });
        if (ema is not null) using (torch.no_grad()) flat.Data.copy_(ema);
        return new TrainResult("TinyUNet", losses.ToArray(), budget.Target, sw.Elapsed.TotalSeconds, false, "", 0) { RequestedSteps = tc.Steps };
    }
}
