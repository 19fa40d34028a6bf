using TorchSharp;
using TorchSharp.Modules;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Optim;
using Workbench.Blocks.Rl;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.Remax;

/// <summary>PPO's critic: a trunk of the actor's architecture (initialised from the SFT model) and a scalar head (zero-initialised).</summary>
public sealed class ValueModel : nn.Module
{
    readonly TinyLm trunk;
    readonly Linear head;

    public ValueModel(TinyLm trunk) : base("value_model")
    {
        this.trunk = trunk;
        head = nn.Linear(trunk.Config.Dim, 1);
        using (torch.no_grad()) { head.weight!.zero_(); head.bias!.zero_(); }
        RegisterComponents();
        head.to(trunk.parameters().First().device);
    }

    /// <summary>V at the positions that predict each completion token: [B,N].</summary>
    public Tensor Values(Rollout r)
    {
        using var scope = torch.NewDisposeScope();
        return head.forward(Sequences.CompletionHidden(trunk, r)).squeeze(-1).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// ReMax, REINFORCE, RLOO and PPO on one loop (remax.md §2). Each <see cref="Step"/> is one generated batch followed by one
/// optimizer step for the actor (and one for the critic in PPO), timed per phase.
/// </summary>
public sealed class RemaxTrainer : IDisposable
{
    readonly RemaxConfig cfg;
    readonly RemaxRun run;
    readonly TinyLm policy, reference;
    readonly ArithTask task;
    readonly FlatParameters flat;
    readonly FlatAdamW opt;
    readonly ValueModel? critic;
    readonly FlatParameters? criticFlat;
    readonly FlatAdamW? criticOpt;
    readonly Generator sampler;
    readonly Device device;
    public PhaseTimer Timer { get; }

    public RemaxTrainer(RemaxConfig cfg, RemaxRun run, TinyLm policy, TinyLm reference, ArithTask task, long seed, TinyLm? criticTrunk = null)
    {
        this.cfg = cfg.Validate(); this.run = run; this.policy = policy; this.reference = reference; this.task = task;
        device = policy.parameters().First().device;
        flat = FlatParameters.Create(policy.named_parameters().Select(p => (p.name, p.parameter)));
        opt = new FlatAdamW(flat, cfg.Lr, 0.9, 0.95, 1e-8, cfg.WeightDecay);
        if (run.Method == RlMethod.Ppo)
        {
            if (criticTrunk is null) throw new ArgumentException("PPO needs a critic trunk (a copy of the SFT model).");
            critic = new ValueModel(criticTrunk);
            criticFlat = FlatParameters.Create(critic.named_parameters().Select(p => (p.name, p.parameter)));
            criticOpt = new FlatAdamW(criticFlat, cfg.CriticLr, 0.9, 0.95, 1e-8, cfg.WeightDecay);
        }
        sampler = Seeding.TorchGenerator(seed, "remax-sample");
        Timer = new PhaseTimer(device);
    }

    /// <summary>Parameters that receive gradients (actor, plus critic for PPO).</summary>
    public long TrainableParameters => flat.Data.numel() + (criticFlat?.Data.numel() ?? 0);
    /// <summary>Bytes of Adam's two moments for everything trained.</summary>
    public long OptimizerStateBytes => 2 * TrainableParameters * flat.Data.element_size();

    public int DecodesPerPrompt => run.Method is RlMethod.ReMax or RlMethod.Rloo ? 2 : 1;

    public RemaxStep Step(int index, IReadOnlyList<ArithProblem> questions)
    {
        using var stepScope = torch.NewDisposeScope();
        var tok = task.Tokenizer;
        var sampleOpts = new GenerationOptions(cfg.MaxNewTokens, cfg.Temperature, cfg.TopP, EosId: tok.EosId, PadId: tok.PadId);
        int repeat = run.Method == RlMethod.Rloo ? 2 : 1;
        using var rollout = Timer.Time("sample decode", () => Sequences.Sample(policy, task.Prompts(questions, device, repeat), sampleOpts, sampler));
        var scored = Timer.Time("score", () => task.Score(questions, repeat, rollout.Tokens));
        double[] baseline;
        if (run.Method == RlMethod.ReMax)
        {
            // The greedy baseline uses the pre-update weights, the same maximum length, no grad (Generation runs under no_grad).
            using var greedy = Timer.Time("greedy decode", () => Sequences.Sample(policy, task.Prompts(questions, device),
                sampleOpts with { Greedy = true, TopP = 1.0 }));
            baseline = Timer.Time("score", () => task.Score(questions, 1, greedy.Tokens)).Rewards;
        }
        else if (run.Method == RlMethod.Rloo)
        {
            var loo = Advantages.LeaveOneOut(scored.Rewards, 2);
            baseline = scored.Rewards.Select((r, i) => r - loo[i]).ToArray();
        }
        else baseline = new double[scored.Rewards.Length];
        var delta = scored.Rewards.Select((r, i) => Estimators.Clip(r - baseline[i], cfg.RewardClip)).ToArray();

        Tensor oldLogp = null!, refLogp = null!, oldValues = null!;
        Timer.Time("log-probs", () =>
        {
            using var _ = torch.no_grad();
            oldLogp = Sequences.CompletionLogProbs(policy, rollout).DetachFromDisposeScope();
            refLogp = Sequences.CompletionLogProbs(reference, rollout).DetachFromDisposeScope();
        });
        if (critic is not null)
            Timer.Time("critic forward", () => { using var _ = torch.no_grad(); oldValues = critic.Values(rollout).DetachFromDisposeScope(); });

        int b = rollout.Count, n = (int)rollout.Tokens.shape[1];
        var lengths = rollout.Lengths.Select(l => (int)l).ToArray();
        var oldA = oldLogp.to(torch.CPU).to_type(ScalarType.Float64).data<double>().ToArray();
        var refA = refLogp.to(torch.CPU).to_type(ScalarType.Float64).data<double>().ToArray();
        double[] Row(double[] a, int i) => a.Skip(i * n).Take(n).ToArray();
        double kl = 0; long tokens = rollout.CompletionTokens;
        for (int i = 0; i < b; i++) for (int t = 0; t < lengths[i]; t++) kl += oldA[i * n + t] - refA[i * n + t];
        kl /= Math.Max(1, tokens);

        double loss = 0, ev = double.NaN;
        if (critic is null)
        {
            var returns = Enumerable.Range(0, b).SelectMany(i =>
                Estimators.ReturnsRow(delta[i], lengths[i], n, run.Gamma, cfg.Beta, Row(refA, i).Zip(Row(oldA, i), (r, o) => r - o).ToArray())).ToArray();
            Timer.Time("actor update", () =>
            {
                using var scope = torch.NewDisposeScope();
                var g = torch.tensor(returns, [b, n]).to_type(oldLogp.dtype).to(device);
                var logp = Sequences.CompletionLogProbs(policy, rollout);
                var l = Losses.Reinforce(logp, g, rollout.Mask);
                Update(flat, opt, l);
                loss = l.ToDouble();
            });
        }
        else
        {
            var vOld = oldValues.to(torch.CPU).to_type(ScalarType.Float64).data<double>().ToArray();
            var rewards = Enumerable.Range(0, b).Select(i => Estimators.PpoTokenRewards(scored.Rewards[i], lengths[i], n, cfg.Beta,
                Row(oldA, i).Zip(Row(refA, i), (o, r) => o - r).ToArray(), cfg.RewardClip)).ToArray();
            var (adv, ret) = Gae.Compute(rewards, Enumerable.Range(0, b).Select(i => Row(vOld, i)).ToArray(), lengths, cfg.PpoGamma, cfg.PpoLambda);
            ev = ExplainedVariance(ret, Enumerable.Range(0, b).Select(i => Row(vOld, i)).ToArray(), lengths);
            Timer.Time("actor update", () =>
            {
                using var scope = torch.NewDisposeScope();
                var a = torch.tensor(adv.SelectMany(x => x).ToArray(), [b, n]).to_type(oldLogp.dtype).to(device);
                var logp = Sequences.CompletionLogProbs(policy, rollout);
                var parts = Losses.Clipped(logp, oldLogp, null, a, rollout.Mask, cfg.RatioClip, 0);
                Update(flat, opt, parts.Loss);
                loss = parts.Loss.ToDouble();
            });
            Timer.Time("critic update", () =>
            {
                using var scope = torch.NewDisposeScope();
                var r = torch.tensor(ret.SelectMany(x => x).ToArray(), [b, n]).to_type(oldValues.dtype).to(device);
                var l = Losses.ClippedValue(critic.Values(rollout), oldValues, r, rollout.Mask, cfg.ValueClip);
                Update(criticFlat!, criticOpt!, l);
            });
        }
        oldLogp.Dispose(); refLogp.Dispose(); oldValues?.Dispose();
        return new RemaxStep(index, scored.Rewards, baseline, delta, scored.Rewards.Average(), scored.Accuracy, loss, kl, ev, tokens, Timer.Snapshot(),
            GpuMemory.UsedBytes(device));
    }

    static void Update(FlatParameters f, FlatAdamW o, Tensor loss)
    {
        f.ZeroGrad();
        loss.backward();
        f.ClipGradNorm(1.0);
        o.Step();
    }

    /// <summary>1 − Var(R − V) / Var(R) over the valid tokens.</summary>
    public static double ExplainedVariance(double[][] returns, double[][] values, int[] lengths)
    {
        var r = new List<double>(); var d = new List<double>();
        for (int i = 0; i < returns.Length; i++) for (int t = 0; t < lengths[i]; t++) { r.Add(returns[i][t]); d.Add(returns[i][t] - values[i][t]); }
        if (r.Count < 2) return double.NaN;
        static double Var(List<double> x) { var m = x.Average(); return x.Sum(v => (v - m) * (v - m)) / x.Count; }
        var vr = Var(r);
        return vr == 0 ? double.NaN : 1 - Var(d) / vr;
    }

    /// <summary><see cref="RemaxConfig.Steps"/> iterations over <paramref name="train"/> with greedy evaluations (not timed).</summary>
    public RemaxRunResult Run(IReadOnlyList<ArithProblem> train, IReadOnlyList<ArithProblem> eval, int detailSteps = 2)
    {
        int q = cfg.PromptsPerStep;
        if (train.Count < cfg.Steps * q) throw new ArgumentException($"{train.Count} training problems; {cfg.Steps} steps × {q} prompts need {cfg.Steps * q}.");
        var evalAt = Enumerable.Range(1, cfg.EvalPoints).Select(i => (int)Math.Round(i * cfg.Steps / (double)cfg.EvalPoints)).ToHashSet();
        var curve = new List<EvalPoint>();
        void Eval(int step) { var e = task.Evaluate(policy, eval, cfg.MaxNewTokens); curve.Add(new EvalPoint(step, Timer.Total, e.Accuracy, e.WellFormed)); }
        Eval(0);
        var steps = new List<RemaxStep>();
        Progress.Run(run.Name, cfg.Steps, tick =>
        {
            for (int s = 0; s < cfg.Steps; s++)
            {
                var rec = Step(s, train.Skip(s * q).Take(q).ToList());
                steps.Add(rec);
                if (evalAt.Contains(s + 1)) Eval(s + 1);
                tick.Tick($"reward {rec.MeanReward:F2}");
            }
        });
        return new RemaxRunResult(run.Name, run.Method.ToString(), run.Gamma, cfg.Steps, Math.Round(Timer.Total, 3), Timer.Total / cfg.Steps,
            Timer.Snapshot(), TrainableParameters, OptimizerStateBytes, DecodesPerPrompt, curve.ToArray(), curve[^1].Accuracy,
            steps.Select(x => x.MeanReward).ToArray(), steps.Select(x => x.Kl).ToArray(), steps.Select(x => x.ExplainedVariance).ToArray(),
            steps.Where((_, i) => i < detailSteps || i == steps.Count - 1).ToArray(), steps.Select(x => x.GpuMemoryBytes).Max());
    }

    public void Dispose()
    {
        opt.Dispose(); flat.Dispose(); criticOpt?.Dispose(); criticFlat?.Dispose(); critic?.Dispose(); sampler.Dispose();
    }
}
