using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Optim;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Rl;

/// <summary>Supervised warm start on ArithWord (cppo.md §5: SFT on 1–3-operation problems).</summary>
public sealed record SftConfig(int Examples, int Epochs, int Batch, double Lr, int MinOps = 1, int MaxOps = 3, double WeightDecay = 0.01,
    double WarmupFraction = 0.05)
{
    /// <summary>The Test presets' warm start (CPPO and ReMax share it, so the cache holds it once): 1–2-operation problems,
    /// enough for a d = 64 model to write well-formed traces and get some answers right.</summary>
    public static SftConfig Test { get; } = new(Examples: 4000, Epochs: 2, Batch: 32, Lr: 3e-3, MinOps: 1, MaxOps: 2);

    /// <summary>The Gpu presets' warm start (CPPO and ReMax share it through the cache): 100k 1–3-operation problems, 2 epochs at
    /// batch 128. Calibrated on CPU: one epoch of 20k at batch 64 (313 steps) reached loss 0.37 with 100% well-formed traces but
    /// wrong sums (accuracy 17% / 5% / 0.5% on 1- / 2- / 4-op problems), so the spec's 20k × 1–2 min is not enough here.</summary>
    public static SftConfig Gpu { get; } = new(Examples: 100_000, Epochs: 2, Batch: 128, Lr: 1e-3);

    public SftConfig Validate()
    {
        const string n = nameof(SftConfig);
        Check.Positive(n, nameof(Examples), Examples); Check.Positive(n, nameof(Epochs), Epochs);
        Check.Positive(n, nameof(Batch), Batch); Check.Positive(n, nameof(Lr), Lr);
        Check.That(MinOps >= 1 && MaxOps >= MinOps, n, nameof(MinOps), "need 1 <= MinOps <= MaxOps.");
        Check.InRange(n, nameof(WarmupFraction), WarmupFraction, 0, 1);
        return this;
    }
}

/// <summary>What the warm start did (or that it came from the cache). <paramref name="Steps"/> = optimizer steps actually
/// taken (read back from the checkpoint when it came from the cache); <paramref name="RequestedSteps"/> = what the config asks
/// for; <paramref name="Cut"/> = the time-budget note when fewer were taken (the learning-rate schedule was then built for
/// <paramref name="Steps"/>, so a cut warm start still ends annealed).</summary>
public sealed record SftResult(double[] Loss, int Steps, double Seconds, bool FromCache, string CheckpointPath, int RequestedSteps = 0, string? Cut = null);

public static class Sft
{
    /// <summary>The share of the time left (under <see cref="Deadline"/>) that a warm start may take when its caller does not
    /// say: the RL runs after it need the rest.</summary>
    public const double DefaultBudgetShare = 0.35;

    /// <summary>Steps timed before the step count is fitted to the budget (after the first, which pays for kernel loading).</summary>
    public const int ProbeSteps = 10;

    /// <summary>Optimizer steps the config asks for: ⌈Examples / Batch⌉ per epoch.</summary>
    public static int RequestedSteps(SftConfig cfg) => (cfg.Examples + cfg.Batch - 1) / cfg.Batch * cfg.Epochs;

    /// <summary>The cache entry of a warm start: everything that determines it (model config with its vocabulary size, SFT
    /// config, seed, vocabulary). Papers that share a warm start (CPPO and ReMax) must produce the same path.</summary>
    public static string CachePath(CheckpointCache cache, TinyLmConfig model, SftConfig cfg, long seed, WordTokenizer tokenizer) =>
        cache.PathFor("rl", "sft", new { Config = model, cfg, seed, vocab = string.Join(" ", tokenizer.Vocabulary), v = 1 }, "safetensors");

    /// <summary>
    /// Trains <paramref name="model"/> on <c>&lt;bos&gt; question &lt;ans&gt; trace #### answer &lt;eos&gt;</c> with the loss on the
    /// answer part only (AdamW, linear warm-up then cosine), or loads the cached result for the same model config, SFT config,
    /// seed and vocabulary. The checkpoint is a safetensors file in the <see cref="CheckpointCache"/>; its metadata carries the
    /// steps actually taken. Under a deadline the training is sized to <paramref name="budgetSeconds"/> (default:
    /// <see cref="DefaultBudgetShare"/> of the time left) and a cut checkpoint is cached as such: a later run under a deadline
    /// reuses it (and reports the steps it had), a run without a deadline trains the full warm start again.
    /// </summary>
    public static SftResult TrainOrLoad(TinyLm model, ArithTask task, SftConfig cfg, long seed, CheckpointCache? cache = null, double? budgetSeconds = null)
    {
        cfg.Validate();
        cache ??= CheckpointCache.Default();
        var path = CachePath(cache, model.Config, cfg, seed, task.Tokenizer);
        int requested = RequestedSteps(cfg);
        if (File.Exists(path) && TrainedCheckpoint.Read(path, requested) is (var done, true, _))
        {
            Safetensors.LoadModule(path, model);
            return new SftResult([], done, 0, true, path, requested, TimeBudget.CutNote(done, requested));
        }
        // (A warm start cut by an earlier deadline is not what an unbudgeted run asks for: it is trained in full again.)
        var r = Train(model, task, cfg, seed, budgetSeconds ?? TimeBudget.Share(DefaultBudgetShare));
        cache.Put(path, tmp => Safetensors.SaveModule(tmp, model, TrainedCheckpoint.Metadata("ArithWord SFT warm start", r.Steps, requested)));
        return r with { CheckpointPath = path };
    }

    /// <param name="budgetSeconds">Seconds this call may take (data preparation included), or null for all the requested
    /// steps. With a budget, the first step and the next <see cref="ProbeSteps"/> are timed, the step count is fitted with
    /// <see cref="TimeBudget.FitSteps"/>, and the warm-up/cosine schedule is rebuilt for the fitted count.</param>
    public static SftResult Train(TinyLm model, ArithTask task, SftConfig cfg, long seed, double? budgetSeconds = null)
    {
        var clock = Stopwatch.StartNew();   // the budget counts data preparation too
        var device = model.parameters().First().device;
        var data = ArithWord.Generate(seed, "sft", cfg.Examples, cfg.MinOps, cfg.MaxOps);
        var tok = task.Tokenizer;
        var seqs = data.Select(p => (Prompt: tok.EncodePrompt(p.Question), Target: tok.Encode(p.Target).Append(tok.EosId).ToArray())).ToArray();
        int maxLen = seqs.Max(s => s.Prompt.Length + s.Target.Length);
        if (maxLen > model.Config.MaxSeq) throw new ConfigException($"SFT: a training sequence has {maxLen} tokens, above the model's MaxSeq {model.Config.MaxSeq}.");
        int requested = RequestedSteps(cfg);
        using var flat = FlatParameters.Create(model.named_parameters().Select(p => (p.name, p.parameter)));
        using var opt = new FlatAdamW(flat, cfg.Lr, 0.9, 0.95, 1e-8, cfg.WeightDecay);
        var rng = Seeding.Rng(seed, "sft-shuffle");
        var losses = new List<double>();
        var sw = Stopwatch.StartNew();
        // The budget counts data preparation too. Step 0 (kernel loading, allocator growth) is timed on its own.
        var budget = new TrainBudget(requested, budgetSeconds - clock.Elapsed.TotalSeconds, device, probe: ProbeSteps,
            minimum: Math.Min(requested, ProbeSteps + 1));
        int warm = (int)(requested * cfg.WarmupFraction), done = 0;
        Progress.Run("SFT warm start", requested, tick =>
        {
            int step = 0;
            for (int e = 0; e < cfg.Epochs && step < budget.Target; e++)
            {
                var order = Enumerable.Range(0, seqs.Length).OrderBy(_ => rng.Next()).ToArray();
                for (int s = 0; s < order.Length && step < budget.Target; s += cfg.Batch, step++)
                {
                    using var scope = torch.NewDisposeScope();
                    var sb = SupervisedBatch.Build(order.Skip(s).Take(cfg.Batch).Select(i => seqs[i]).ToArray(), tok.PadId);
                    var x = torch.tensor(sb.Ids, [sb.Rows, sb.Length]).to(device);
                    var y = torch.tensor(sb.Targets, [sb.Rows, sb.Length]).to(device);
                    var m = torch.tensor(sb.LossMask, [sb.Rows, sb.Length]).to(device);
                    var logp = LmUtil.TokenLogProbs(model.Forward(x), y);
                    var loss = -(logp * m).sum() / m.sum();
                    opt.Lr = Schedules.WarmupCosine(cfg.Lr, step, warm, budget.Target);
                    flat.ZeroGrad();
                    loss.backward();
                    flat.ClipGradNorm(1.0);
                    opt.Step();
                    if (step % 10 == 0 || step == budget.Target - 1) losses.Add(loss.ToDouble());
                    done = step + 1;
                    // A fitted count rebuilds the warm-up/cosine schedule for it (the warm-up keeps its fraction).
                    // (A warm-up still under way follows the new count; once the cosine has begun, the warm-up stays.)
                    if (budget.Step(done) && done < warm) warm = Math.Max(done, (int)(budget.Target * cfg.WarmupFraction));
                    tick.Tick($"loss {losses[^1]:F3}");
                }
            }
        });
        return new SftResult(losses.ToArray(), done, sw.Elapsed.TotalSeconds, false, "", requested, budget.Cut(done));
    }
}
