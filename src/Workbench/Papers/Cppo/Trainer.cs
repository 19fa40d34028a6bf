using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Optim;
using Workbench.Blocks.Rl;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.Cppo;

/// <summary>
/// GRPO with CPPO's pruning and allocation as separate steps (cppo.md §2). <see cref="Step"/> runs one generation round;
/// <see cref="Run"/> runs an epoch and evaluates at a few points outside the timed interval.
/// </summary>
public sealed class CppoTrainer : IDisposable
{
    readonly CppoConfig cfg;
    readonly CppoRun run;
    readonly TinyLm policy, reference;
    readonly ArithTask task;
    readonly FlatParameters flat;
    readonly FlatAdamW opt;
    readonly Generator sampler;
    readonly Random pruneRng;
    readonly Device device;
    int optimizerSteps;
    public PhaseTimer Timer { get; }

    /// <summary>Linear learning-rate warm-up steps. <see cref="Run"/> sets it to <see cref="CppoConfig.WarmupFor"/> of the
    /// run's own optimizer steps (so a run with m× fewer steps also warms up m× shorter); before that, the value for one
    /// epoch over <see cref="CppoConfig.TrainQuestions"/>.</summary>
    public int WarmupSteps { get; set; }

    /// <param name="policy">The model to train (its parameters are moved into one flat buffer).</param>
    /// <param name="reference">The frozen reference policy for the KL term (may be null when β = 0).</param>
    public CppoTrainer(CppoConfig cfg, CppoRun run, TinyLm policy, TinyLm? reference, ArithTask task, long seed)
    {
        this.cfg = cfg.Validate(); this.run = run; this.policy = policy; this.task = task;
        if (cfg.Beta > 0 && reference is null) throw new ArgumentException("CppoTrainer: β > 0 needs a reference model.");
        this.reference = reference!;
        device = policy.parameters().First().device;
        flat = FlatParameters.Create(policy.named_parameters().Select(p => (p.name, p.parameter)));
        opt = new FlatAdamW(flat, cfg.Lr, 0.9, 0.999, 1e-8, 0.0);   // TRL defaults: AdamW, no weight decay
        sampler = Seeding.TorchGenerator(seed, "cppo-sample");        // same stream for every run: same first samples
        pruneRng = Seeding.Rng(seed, "cppo-prune-random");
        Timer = new PhaseTimer(device);
        WarmupSteps = cfg.WarmupFor(cfg.TrainQuestions / (cfg.QuestionsPerStep * run.Multiplier) * cfg.Mu);
    }

    public int OptimizerSteps => optimizerSteps;

    /// <summary>One generation round on <paramref name="questions"/> (m·Q of them): sample G each, score, advantages,
    /// prune, old/ref log-probs on the kept completions, then μ clipped-objective updates on the same kept batch.</summary>
    public CppoStep Step(int index, IReadOnlyList<ArithProblem> questions)
    {
        using var stepScope = torch.NewDisposeScope();
        int g = cfg.G;
        var opts = new GenerationOptions(cfg.MaxNewTokens, cfg.Temperature, EosId: task.Tokenizer.EosId, PadId: task.Tokenizer.PadId);
        using var rollout = Timer.Time("generate", () => Sequences.Sample(policy, task.Prompts(questions, device, g), opts, sampler));
        var scored = Timer.Time("score", () => task.Score(questions, g, rollout.Tokens));
        var adv = Advantages.GroupNormalized(scored.Rewards, g);
        var pr = Timer.Time("prune", () => Pruning.Prune(adv, run.P, run.Metric, run.Scope, g, pruneRng));
        using var kept = pr.Pruned.Length == 0 ? null : rollout.Select(pr.Kept);
        var batch = kept ?? rollout;
        using var advT = torch.tensor(pr.Kept.Select(i => (float)adv[i]).ToArray()).to(device);
        Tensor? oldLogp = null, refLogp = null;
        Timer.Time("old+ref", () =>
        {
            using var _ = torch.no_grad();
            if (cfg.Mu > 1) oldLogp = Sequences.CompletionLogProbs(policy, batch).DetachFromDisposeScope();
            if (cfg.Beta > 0) refLogp = Sequences.CompletionLogProbs(reference, batch).DetachFromDisposeScope();
        });
        double loss = 0, clip = 0, kl = 0;
        for (int it = 0; it < cfg.Mu; it++)
        {
            Timer.Time("update", () =>
            {
                using var scope = torch.NewDisposeScope();
                var logp = Sequences.CompletionLogProbs(policy, batch);
                var parts = Losses.Clipped(logp, oldLogp ?? logp.detach(), refLogp, advT, batch.Mask, cfg.Eps, cfg.Beta);
                flat.ZeroGrad();
                parts.Loss.backward();
                flat.ClipGradNorm(1.0);
                opt.Lr = cfg.Lr * Math.Min(1.0, (optimizerSteps + 1.0) / Math.Max(1, WarmupSteps));
                opt.Step();
                optimizerSteps++;
                if (it == 0) loss = parts.Loss.ToDouble();
                if (it == cfg.Mu - 1) { clip = parts.ClipFraction; kl = parts.MeanKl; }
            });
        }
        oldLogp?.Dispose(); refLogp?.Dispose();
        var keptMask = new bool[adv.Length];
        foreach (var k in pr.Kept) keptMask[k] = true;
        return new CppoStep(index, questions.Count, g, adv.Length, pr.Kept.Length, scored.Rewards, adv, keptMask, pr.Threshold, pr.KeptPerGroup,
            scored.Rewards.Average(), scored.Accuracy, Advantages.ZeroVarianceFraction(scored.Rewards, g), loss, clip, kl,
            rollout.CompletionTokens, batch.CompletionTokens, Timer.Snapshot(), GpuMemory.UsedBytes(device));
    }

    /// <summary>One epoch over <paramref name="train"/> with greedy evaluations on <paramref name="eval"/> (not timed).</summary>
    public CppoRunResult Run(IReadOnlyList<ArithProblem> train, IReadOnlyList<ArithProblem> eval, long seed, int detailSteps = int.MaxValue)
    {
        int m = run.Multiplier, qps = cfg.QuestionsPerStep * m, steps = train.Count / qps;
        WarmupSteps = cfg.WarmupFor(steps * cfg.Mu);
        var evalAt = Enumerable.Range(1, cfg.EvalPoints).Select(i => (int)Math.Round(i * steps / (double)cfg.EvalPoints)).ToHashSet();
        var curve = new List<EvalPoint>();
        EvalResult Eval(int step)
        {
            var e = task.Evaluate(policy, eval, cfg.MaxNewTokens);
            curve.Add(new EvalPoint(step, Timer.Total, e.Accuracy, e.WellFormed));
            return e;
        }
        Eval(0);
        EvalResult last = null!;
        var records = new List<CppoStep>();
        Progress.Run($"{run.Name} (seed {seed})", steps, tick =>
        {
            for (int s = 0; s < steps; s++)
            {
                var rec = Step(s, train.Skip(s * qps).Take(qps).ToList());
                records.Add(rec);
                if (evalAt.Contains(s + 1)) last = Eval(s + 1);
                tick.Tick($"reward {rec.MeanReward:F2}, acc {curve[^1].Accuracy:P0}");
            }
        });
        long gen = records.Sum(r => r.GeneratedTokens), kept = records.Sum(r => r.TrainedTokens);
        int passes = (cfg.Mu > 1 ? 1 : 0) + (cfg.Beta > 0 ? 1 : 0);
        var detail = records.Where((r, i) => i < detailSteps || i == records.Count - 1).ToArray();
        return new CppoRunResult(run.Name, run.P, run.Allocation, run.Metric.ToString(), run.Scope.ToString(), m, seed,
            steps, optimizerSteps, qps, qps * cfg.G, records.Count == 0 ? 0 : records[0].Kept,
            Math.Round(Timer.Total, 3), Timer.Snapshot(), gen, kept * passes, kept * cfg.Mu,
            curve.ToArray(), curve[^1].Accuracy, last?.AccuracyByOps ?? new Dictionary<int, double>(),
            records.Select(r => r.MeanReward).ToArray(), records.Select(r => r.ZeroVarianceGroups).ToArray(),
            records.Select(r => r.ClipFraction).ToArray(), records.Select(r => r.Kl).ToArray(), detail,
            records.Select(r => r.GeneratedTokens).ToArray(), records.Select(r => r.TrainedTokens).ToArray(),
            records.Select(r => r.GpuMemoryBytes).Max());
    }

    public void Dispose() { opt.Dispose(); flat.Dispose(); sampler.Dispose(); }
}
