using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Rl;
using Workbench.Data;
using Workbench.Papers.Cppo;
using Workbench.Papers.Remax;
using Workbench.Runtime;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Tests;

/// <summary>ArithWord, the shared RL pieces (advantages, losses, GAE), CPPO's pruning and allocation, ReMax's returns,
/// and one step of each trainer on a tiny model.</summary>
public class RlTests
{
    static TinyLm TinyModel(ArithTask task, long seed = 1)
    {
        var m = new TinyLm(new TinyLmConfig(task.Tokenizer.VocabSize, 32, 2, 2, 160), seed);
        m.to(T.Rt.TorchDevice);
        return m;
    }

    // ---------------------------------------------------------------- ArithWord

    [Fact]
    public void ArithWord_traces_are_correct_chains_within_range()
    {
        var problems = ArithWord.Generate(3, "test", 300, 1, 4);
        foreach (var p in problems)
        {
            var eqs = p.Trace.Split(" ; ");
            Assert.Equal(p.Ops, eqs.Length);
            long? last = null;
            foreach (var e in eqs)
            {
                var t = e.Split(' ');             // a op b = c
                long a = long.Parse(t[0]), b = long.Parse(t[2]), c = long.Parse(t[4]);
                long want = t[1] switch { "+" => a + b, "-" => a - b, "*" => a * b, "/" => a / b, _ => throw new Exception(t[1]) };
                if (t[1] == "/") Assert.Equal(0, a % b);
                Assert.Equal(want, c);
                Assert.InRange(c, 0, ArithWord.MaxValue);
                last = c;
            }
            Assert.Equal(p.Answer, last);
            Assert.Equal(1.2, ArithWord.Score(p.Target, p.Answer).Reward, 12);
        }
        Assert.Equal(problems.Select(p => p.Question), ArithWord.Generate(3, "test", 300, 1, 4).Select(p => p.Question));
        Assert.NotEqual(problems.Select(p => p.Question), ArithWord.Generate(4, "test", 300, 1, 4).Select(p => p.Question));
        Assert.Equal(new[] { 1, 2, 3, 4 }, problems.Select(p => p.Ops).Distinct().Order());
    }

    [Fact]
    public void ArithWord_scores_answer_and_format_separately()
    {
        Assert.Equal(1.2, ArithWord.Score("5 * 6 = 30 ; 17 + 30 = 47 #### 47", 47).Reward, 12);
        Assert.Equal(0.2, ArithWord.Score("5 * 6 = 30 ; 17 + 30 = 47 #### 48", 47).Reward, 12);
        Assert.Equal(1.0, ArithWord.Score("garbage #### 47", 47).Reward, 12);
        Assert.Equal(1.0, ArithWord.Score("5 * 6 = 30 #### 47", 47, ended: false).Reward, 12);   // not ended: no format bonus
        Assert.Equal(0.0, ArithWord.Score("5 * 6 = 30 ; 17", 47).Reward, 12);
        Assert.Equal(0.0, ArithWord.Score("", 47).Reward, 12);
    }

    [Fact]
    public void Tokenizer_round_trips_and_names_unknown_words()
    {
        var tok = WordTokenizer.ForArithWord();
        var p = ArithWord.Generate(1, "tok", 20, 1, 4);
        foreach (var x in p)
        {
            Assert.Equal(x.Question, tok.Decode(tok.Encode(x.Question)));
            Assert.Equal(x.Target, tok.Decode(tok.Encode(x.Target).Append(tok.EosId).Append(tok.PadId), out var ended));
            Assert.True(ended);
        }
        Assert.True(tok.VocabSize < 100);
        var e = Assert.Throws<ArgumentException>(() => tok.Encode("Ann has 3 dragons ."));
        Assert.Contains("dragons", e.Message);
    }

    [Fact]
    public void Supervised_batches_put_the_loss_on_the_target_tokens_only()
    {
        var b = SupervisedBatch.Build([([1, 5, 6], [7, 2]), ([1, 8], [9, 9, 2])], 0);
        Assert.Equal(5, b.Length);
        Assert.Equal(new long[] { 1, 5, 6, 7, 2, 1, 8, 9, 9, 2 }, b.Ids);
        Assert.Equal(new long[] { 5, 6, 7, 2, 0, 8, 9, 9, 2, 0 }, b.Targets);
        // position t predicts token t+1: the loss counts where t+1 is inside the target
        Assert.Equal(new float[] { 0, 0, 1, 1, 0, 0, 1, 1, 1, 0 }, b.LossMask);
    }

    /// <summary>The Gpu presets cannot run here: check on CPU that their longest sequences fit the model (a failure on the
    /// H100 would waste device time).</summary>
    [Fact]
    public void Gpu_preset_sequences_fit_the_models_context()
    {
        var tok = WordTokenizer.ForArithWord();
        var c = CppoConfig.Gpu.Validate();
        int sft = ArithWord.Generate(9, "fit-sft", 20_000, c.Sft.MinOps, c.Sft.MaxOps).Max(p => tok.EncodePrompt(p.Question).Length + tok.Encode(p.Target).Length + 1);
        Assert.True(sft <= c.Model.MaxSeq, $"SFT sequence of {sft} tokens > MaxSeq {c.Model.MaxSeq}");
        var rl = ArithWord.Generate(9, "fit-rl", 20_000, c.RlMinOps, Math.Max(c.RlMaxOps, c.EvalOps));
        int prompt = rl.Max(p => tok.EncodePrompt(p.Question).Length), target = rl.Max(p => tok.Encode(p.Target).Length + 1);
        Assert.True(prompt + c.MaxNewTokens <= c.Model.MaxSeq, $"prompt {prompt} + {c.MaxNewTokens} new tokens > MaxSeq {c.Model.MaxSeq}");
        Assert.True(target <= c.MaxNewTokens, $"a {target}-token answer does not fit in {c.MaxNewTokens} new tokens");
        var r = RemaxConfig.Gpu.Validate();
        Assert.True(prompt + r.MaxNewTokens <= r.Model.MaxSeq);
        Assert.Equal(c.Sft, r.Sft);                      // one cached warm start serves both papers
        Assert.Equal(c.Model, r.Model);
        Assert.True(16 + r.MemoryTokens <= r.MemoryModelOrDefault.MaxSeq);
    }

    // ---------------------------------------------------------------- advantages, losses, GAE

    [Fact]
    public void Group_advantages_have_zero_mean_and_unit_scale_and_vanish_on_equal_rewards()
    {
        var rng = new Random(5);
        const int g = 8;
        var r = Enumerable.Range(0, 6 * g).Select(i => i / g == 2 ? 0.7 : Math.Round(rng.NextDouble() * 3) / 2).ToArray();
        var a = Advantages.GroupNormalized(r, g);
        for (int q = 0; q < 6; q++)
        {
            var grp = a.Skip(q * g).Take(g).ToArray();
            var rs = r.Skip(q * g).Take(g).ToArray();
            Assert.Equal(0, grp.Sum(), 1e-9);
            double mean = rs.Average(), std = Math.Sqrt(rs.Sum(x => (x - mean) * (x - mean)) / (g - 1));
            if (std > 0) Assert.Equal((g - 1) * std * std / ((std + 1e-4) * (std + 1e-4)), grp.Sum(x => x * x), 1e-9);
            else Assert.All(grp, x => Assert.Equal(0.0, x));
        }
        Assert.All(a.Skip(2 * g).Take(g), x => Assert.Equal(0.0, x));
        // Scale behaviour: multiplying rewards by c > 0 leaves A unchanged up to the eps; adding a constant leaves it unchanged.
        var shifted = Advantages.GroupNormalized(r.Select(x => x + 3).ToArray(), g);
        Assert.All(a.Zip(shifted), p => Assert.Equal(p.First, p.Second, 9));
        var loo = Advantages.LeaveOneOut(r, g);
        for (int i = 0; i < r.Length; i++)
        {
            int q = i / g;
            double others = Enumerable.Range(q * g, g).Where(j => j != i).Average(j => r[j]);
            Assert.Equal(r[i] - others, loo[i], 12);
        }
        Assert.Equal(1.0 / 6, Advantages.ZeroVarianceFraction(r, g), 12);
    }

    static (Tensor logp, Tensor refLogp, Tensor adv, Tensor mask, Tensor theta) LossInputs(long seed)
    {
        var gen = new Generator((ulong)seed);
        var theta = torch.randn([5, 7], ScalarType.Float64, generator: gen).requires_grad_(true);
        var logp = functional.logsigmoid(theta);                        // any differentiable log-probs
        var refLogp = functional.logsigmoid(torch.randn([5, 7], ScalarType.Float64, generator: gen));
        var adv = torch.randn([5], ScalarType.Float64, generator: gen);
        var mask = torch.ones([5, 7], ScalarType.Bool);
        mask[0, 5] = false; mask[0, 6] = false; mask[3, 2] = false;
        return (logp, refLogp, adv, mask, theta);
    }

    [Fact]
    public void Clipped_loss_matches_a_naive_loop_and_its_first_iteration_gradient_is_the_policy_gradient_plus_kl()
    {
        using var scope = torch.NewDisposeScope();
        var (logp, refLogp, adv, mask, theta) = LossInputs(11);
        var old = logp.detach() + 0.3 * torch.randn_like(logp);
        const double eps = 0.2, beta = 0.04;
        var parts = Losses.Clipped(logp, old, refLogp, adv, mask, eps, beta);
        // Naive reference: explicit loops over tokens.
        double sum = 0; int count = 0;
        var lp = logp.detach().data<double>().ToArray(); var ol = old.data<double>().ToArray(); var rf = refLogp.data<double>().ToArray();
        var a = adv.data<double>().ToArray(); var m = mask.data<bool>().ToArray();
        for (int i = 0; i < 5; i++)
            for (int t = 0; t < 7; t++)
            {
                if (!m[i * 7 + t]) continue;
                double rho = Math.Exp(lp[i * 7 + t] - ol[i * 7 + t]);
                double surr = Math.Min(rho * a[i], Math.Clamp(rho, 1 - eps, 1 + eps) * a[i]);
                double d = rf[i * 7 + t] - lp[i * 7 + t];
                sum += -surr + beta * (Math.Exp(d) - d - 1); count++;
            }
        Assert.Equal(sum / count, parts.Loss.ToDouble(), 12);
        Assert.Equal(count, parts.Tokens);

        // First inner iteration: old = θ detached ⇒ ρ = 1, no clipping, gradient = −token-mean(A ∇logπ) + β ∇ token-mean(k3).
        var first = Losses.Clipped(logp, logp.detach(), refLogp, adv, mask, eps, beta);
        Assert.Equal(0, first.ClipFraction);
        Assert.Equal(1, first.MeanRatio, 12);
        var g1 = torch.autograd.grad([first.Loss], [theta], retain_graph: true)[0];
        var mf = mask.to_type(ScalarType.Float64);
        var naive = (-(adv.unsqueeze(1) * logp * mf).sum() + beta * (Losses.K3(logp, refLogp) * mf).sum()) / mf.sum();
        var g2 = torch.autograd.grad([naive], [theta], retain_graph: true)[0];
        Assert.True((g1 - g2).abs().max().ToDouble() < 1e-12);

        // k3 ≥ 0 and 0 at π_θ = π_ref; token-mean: duplicating the batch leaves the loss unchanged.
        Assert.True(Losses.K3(logp, refLogp).min().ToDouble() >= 0);
        Assert.Equal(0, Losses.K3(logp, logp).abs().max().ToDouble(), 15);
        var dup = Losses.Clipped(torch.cat([logp, logp]), torch.cat([old, old]), torch.cat([refLogp, refLogp]), torch.cat([adv, adv]), torch.cat([mask, mask]), eps, beta);
        Assert.Equal(parts.Loss.ToDouble(), dup.Loss.ToDouble(), 12);
    }

    [Fact]
    public void A_completion_with_zero_advantage_and_no_kl_contributes_no_gradient()
    {
        using var scope = torch.NewDisposeScope();
        var (logp, refLogp, adv, mask, theta) = LossInputs(12);
        adv[2] = 0;
        var loss = Losses.Clipped(logp, logp.detach() + 0.1, refLogp, adv, mask, 0.2, 0.0).Loss;
        var g = torch.autograd.grad([loss], [theta])[0];
        Assert.Equal(0, g[2].abs().max().ToDouble());
        Assert.True(g[1].abs().max().ToDouble() > 0);
    }

    [Fact]
    public void Gae_reduces_to_returns_to_go_and_one_step_td()
    {
        var rng = new Random(3);
        var r = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 6).Select(_ => rng.NextDouble() - 0.5).ToArray()).ToArray();
        var v = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 6).Select(_ => rng.NextDouble()).ToArray()).ToArray();
        int[] len = [6, 4, 1];
        var (a1, ret1) = Gae.Compute(r, v, len, 1, 1);
        var (a0, _) = Gae.Compute(r, v, len, 1, 0);
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < 6; t++)
            {
                if (t >= len[i]) { Assert.Equal(0, a1[i][t]); continue; }
                double togo = Enumerable.Range(t, len[i] - t).Sum(k => r[i][k]);
                Assert.Equal(togo - v[i][t], a1[i][t], 12);
                Assert.Equal(togo, ret1[i][t], 12);
                double next = t + 1 < len[i] ? v[i][t + 1] : 0;
                Assert.Equal(r[i][t] + next - v[i][t], a0[i][t], 12);
            }
    }

    [Fact]
    public void Value_clip_is_inactive_near_the_old_values()
    {
        using var scope = torch.NewDisposeScope();
        var vOld = torch.tensor(new[] { 0.5, -1.0, 2.0 }, [1, 3]);
        var v = vOld + torch.tensor(new[] { 0.1, -0.2, 0.15 }, [1, 3]);
        var ret = torch.tensor(new[] { 3.0, -4.0, 0.0 }, [1, 3]);
        var mask = torch.ones([1, 3], ScalarType.Bool);
        Assert.Equal((0.5 * (v - ret).square()).mean().ToDouble(), Losses.ClippedValue(v, vOld, ret, mask, 0.2).ToDouble(), 12);
        var far = vOld + 1.0;   // moved beyond the clip: the clipped term (0.2 away) is larger when the return is below
        var expected = (0.5 * torch.maximum((far - ret).square(), (vOld + 0.2 - ret).square())).mean().ToDouble();
        Assert.Equal(expected, Losses.ClippedValue(far, vOld, ret, mask, 0.2).ToDouble(), 12);
    }

    // ---------------------------------------------------------------- CPPO pruning and allocation

    [Theory]
    [InlineData(16, 4, 0.5, PruneScope.Batch)]
    [InlineData(16, 4, 0.75, PruneScope.Batch)]
    [InlineData(7, 3, 0.5, PruneScope.Batch)]       // N = 21: floor(10.5) = 10 pruned
    [InlineData(5, 16, 0.9375, PruneScope.Batch)]
    [InlineData(6, 8, 0.875, PruneScope.Group)]
    [InlineData(6, 8, 0.0, PruneScope.Batch)]
    public void Pruning_removes_floor_NP_smallest_abs_advantages(int questions, int g, double p, PruneScope scope)
    {
        var rng = new Random(questions * 31 + g);
        var rewards = Enumerable.Range(0, questions * g).Select(_ => (double)rng.Next(3)).ToArray();
        var adv = Advantages.GroupNormalized(rewards, g);
        var res = Pruning.Prune(adv, p, PruneMetric.Smallest, scope, g);
        int n = questions * g;
        int expectedPruned = scope == PruneScope.Batch ? (int)Math.Floor(n * p + 1e-9) : questions * (int)Math.Floor(g * p + 1e-9);
        Assert.Equal(expectedPruned, res.Pruned.Length);
        Assert.Equal(n - expectedPruned, res.Kept.Length);
        Assert.Equal(res.Kept.Order(), res.Kept);
        Assert.Empty(res.Kept.Intersect(res.Pruned));
        if (scope == PruneScope.Batch && res.Pruned.Length > 0)
            Assert.True(res.Kept.Min(i => Math.Abs(adv[i])) >= res.Pruned.Max(i => Math.Abs(adv[i])));
        if (scope == PruneScope.Group)
        {
            Assert.All(res.KeptPerGroup, k => Assert.Equal(g - (int)Math.Floor(g * p + 1e-9), k));
            for (int q = 0; q < questions; q++)
            {
                var kept = res.Kept.Where(i => i / g == q).ToArray(); var pr = res.Pruned.Where(i => i / g == q).ToArray();
                if (pr.Length > 0) Assert.True(kept.Min(i => Math.Abs(adv[i])) >= pr.Max(i => Math.Abs(adv[i])));
            }
        }
        Assert.Equal(res.Kept, Pruning.Prune(adv, p, PruneMetric.Smallest, scope, g).Kept);   // deterministic ties
        var largest = Pruning.Prune(adv, p, PruneMetric.Largest, scope, g);
        if (scope == PruneScope.Batch && largest.Pruned.Length > 0)
            Assert.True(largest.Pruned.Min(i => Math.Abs(adv[i])) >= largest.Kept.Max(i => Math.Abs(adv[i])));
    }

    [Fact]
    public void Allocation_accepts_only_one_minus_one_over_m()
    {
        Assert.Equal(2, Pruning.AllocationMultiplier(0.5));
        Assert.Equal(4, Pruning.AllocationMultiplier(0.75));
        Assert.Equal(8, Pruning.AllocationMultiplier(0.875));
        Assert.Equal(16, Pruning.AllocationMultiplier(0.9375));
        Assert.Contains("1 − 1/m", Assert.Throws<ArgumentException>(() => Pruning.AllocationMultiplier(0.6)).Message);
        var bad = CppoConfig.Test with { Runs = [new("x", 0.6)] };
        Assert.Contains("Runs[x]", Assert.Throws<ConfigException>(() => bad.Validate()).Message);
    }

    [Fact]
    public void Cppo_steps_generate_m_times_the_questions_keep_grpos_batch_and_take_m_times_fewer_steps()
    {
        var task = ArithTask.Create();
        var cfg = CppoConfig.Test with { G = 4, QuestionsPerStep = 2, TrainQuestions = 8, EvalQuestions = 2, MaxNewTokens = 12, Beta = 0.04 };
        var train = ArithWord.Generate(1, "t", 8, 1, 2);
        var eval = ArithWord.Generate(1, "e", 2, 1, 1);
        using var reference = TinyModel(task);
        foreach (var p in reference.parameters()) p.requires_grad = false;
        CppoRunResult RunOne(CppoRun run)
        {
            using var policy = WarmStart.Copy(reference);
            using var t = new CppoTrainer(cfg, run, policy, reference, task, 1);
            return t.Run(train, eval, 1);
        }
        var grpo = RunOne(new CppoRun("GRPO", 0));
        var cppo = RunOne(new CppoRun("CPPO", 0.75));
        Assert.Equal(4, cppo.Multiplier);
        Assert.Equal(4 * 2, cppo.QuestionsPerStep);
        Assert.Equal(4 * 2 * 4, cppo.GeneratedPerStep);
        Assert.Equal(2 * 4, cppo.KeptPerStep);
        Assert.Equal(grpo.KeptPerStep, cppo.KeptPerStep);
        Assert.Equal(grpo.Steps / 4, cppo.Steps);
        Assert.Equal(grpo.OptimizerSteps / 4, cppo.OptimizerSteps);
        Assert.Equal(cfg.Mu * grpo.Steps, grpo.OptimizerSteps);
        Assert.All(cppo.Detail, s => Assert.Equal(s.Generated - (int)Math.Floor(s.Generated * 0.75), s.Kept));
        Assert.All(grpo.Detail, s => Assert.All(s.KeptMask, Assert.True));
    }

    [Fact]
    public void Cppo_with_P_zero_is_grpo_and_a_step_leaks_no_tensors()
    {
        var task = ArithTask.Create();
        var cfg = CppoConfig.Test with { G = 4, QuestionsPerStep = 2, TrainQuestions = 4, MaxNewTokens = 10 };
        var qs = ArithWord.Generate(2, "t", 2, 1, 2);
        using var reference = TinyModel(task, 2);
        foreach (var p in reference.parameters()) p.requires_grad = false;
        CppoStep One(CppoRun run, out double[] weights)
        {
            using var policy = WarmStart.Copy(reference);
            using var t = new CppoTrainer(cfg, run, policy, reference, task, 2);
            var s = t.Step(0, qs);
            weights = policy.parameters().SelectMany(p => p.detach().to(torch.CPU).to_type(ScalarType.Float64).data<double>().ToArray()).ToArray();
            return s;
        }
        var a = One(new CppoRun("GRPO", 0), out var wa);
        var b = One(new CppoRun("CPPO P=0 (batch scope, smallest)", 0.0, Allocation: true), out var wb);
        Assert.Equal(a.Loss, b.Loss);
        Assert.Equal(wa, wb);                 // same gradients ⇒ same weights after μ steps

        using var policy = WarmStart.Copy(reference);
        using var trainer = new CppoTrainer(cfg, new CppoRun("CPPO", 0.5), policy, reference, task, 2);
        trainer.Step(0, qs);                   // warm
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        trainer.Step(1, qs);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    // ---------------------------------------------------------------- ReMax

    [Fact]
    public void ReMax_returns_in_paper_and_code_mode_and_clipping()
    {
        var paper = Estimators.ReturnsRow(0.8, 4, 6, 1.0, 0, null);
        Assert.Equal(new[] { 0.8, 0.8, 0.8, 0.8, 0, 0 }, paper);
        var kl = new[] { 0.1, -0.2, 0.3, 0.0, 9, 9 };
        var withKl = Estimators.ReturnsRow(0.8, 4, 6, 1.0, 0.05, kl);
        for (int t = 0; t < 4; t++) Assert.Equal(0.8 + 0.05 * kl[t], withKl[t], 12);
        var code = Estimators.ReturnsRow(1.0, 4, 4, 0.99, 0, null);
        for (int t = 1; t <= 4; t++) Assert.Equal(Math.Pow(0.99, 4 - t + 1), code[t - 1], 12);
        Assert.Equal(5, Estimators.Clip(7.5, 5)); Assert.Equal(-5, Estimators.Clip(-9, 5)); Assert.Equal(0.3, Estimators.Clip(0.3, 5));
        var ppo = Estimators.PpoTokenRewards(9.0, 3, 5, 0.1, [0.5, 0.0, -0.5, 0, 0], 5);
        Assert.Equal(new[] { -0.05, 0.0, 0.05 + 5, 0, 0 }, ppo.Select(x => Math.Round(x, 12)));
    }

    /// <summary>One-step bandit (vocab 3): the Monte-Carlo mean of the ReMax estimate through <see cref="Losses.Reinforce"/> is
    /// unbiased (within 3σ of the exact gradient), is unchanged by a constant reward shift, while b = 0's variance grows with it.</summary>
    [Fact]
    public void ReMax_on_a_bandit_is_unbiased_and_shift_invariant()
    {
        using var scope = torch.NewDisposeScope();
        var theta0 = new[] { 0.2, -0.1, 0.05 };
        double[] reward = [1.0, 0.0, 0.3];
        var pi = theta0.Select(Math.Exp).ToArray(); var z = pi.Sum(); pi = pi.Select(x => x / z).ToArray();
        double er = pi.Zip(reward, (p, r) => p * r).Sum();
        var exact = Enumerable.Range(0, 3).Select(k => pi[k] * (reward[k] - er)).ToArray();   // ∇_θ E[r]
        int greedy = Array.IndexOf(pi, pi.Max());
        var rng = new Random(9);
        const int n = 4000;
        double[][] Draws(double shift, bool useGreedy)
        {
            var gs = new double[n][];
            for (int i = 0; i < n; i++)
            {
                double u = rng.NextDouble(); int a = u < pi[0] ? 0 : u < pi[0] + pi[1] ? 1 : 2;
                var theta = torch.tensor(theta0).requires_grad_(true);
                var logp = functional.log_softmax(theta, 0)[a].reshape(1, 1);
                double delta = (reward[a] + shift) - (useGreedy ? reward[greedy] + shift : 0);
                var loss = Losses.Reinforce(logp, torch.tensor(new[] { delta }, [1, 1]), torch.ones([1, 1], ScalarType.Bool));
                gs[i] = torch.autograd.grad([loss], [theta])[0].neg().data<double>().ToArray();   // ascent direction
            }
            return gs;
        }
        foreach (var useGreedy in new[] { true, false })
        {
            var gs = Draws(0, useGreedy);
            for (int k = 0; k < 3; k++)
            {
                var col = gs.Select(g => g[k]).ToArray();
                double mean = col.Average(), sd = Math.Sqrt(col.Sum(x => (x - mean) * (x - mean)) / (n - 1));
                Assert.InRange(exact[k], mean - 3 * sd / Math.Sqrt(n) - 1e-12, mean + 3 * sd / Math.Sqrt(n) + 1e-12);
            }
        }
        double Trace(double[][] gs) => Enumerable.Range(0, 3).Sum(k =>
        {
            var c = gs.Select(g => g[k]).ToArray(); double m = c.Average();
            return c.Sum(x => (x - m) * (x - m)) / (c.Length - 1);
        });
        rng = new Random(1); var g0 = Draws(0, true);
        rng = new Random(1); var g5 = Draws(5, true);
        Assert.Equal(Trace(g0), Trace(g5), 9);
        rng = new Random(1); var n0 = Draws(0, false);
        rng = new Random(1); var n5 = Draws(5, false);
        Assert.True(Trace(n5) > 10 * Trace(n0));
    }

    [Fact]
    public void ReMax_baseline_is_the_greedy_reward_and_ppo_trains_twice_the_parameters()
    {
        var task = ArithTask.Create();
        var cfg = RemaxConfig.Test with { PromptsPerStep = 3, MaxNewTokens = 10, Steps = 1 };
        var qs = ArithWord.Generate(4, "t", 3, 1, 2);
        using var reference = TinyModel(task, 4);
        foreach (var p in reference.parameters()) p.requires_grad = false;
        using var policy = WarmStart.Copy(reference);
        using var trainer = new RemaxTrainer(cfg, new RemaxRun("ReMax", RlMethod.ReMax), policy, reference, task, 4);
        // The greedy completions of the pre-update policy, scored independently.
        double[] expected;
        using (var g = Sequences.Sample(policy, task.Prompts(qs, T.Rt.TorchDevice), new GenerationOptions(cfg.MaxNewTokens, Greedy: true, EosId: task.Tokenizer.EosId, PadId: task.Tokenizer.PadId)))
            expected = task.Score(qs, 1, g.Tokens).Rewards;
        var step = trainer.Step(0, qs);
        Assert.Equal(expected, step.BaselineRewards);
        Assert.Equal(step.SampleRewards.Zip(step.BaselineRewards, (r, b) => Estimators.Clip(r - b, cfg.RewardClip)), step.Delta);
        Assert.Equal(2, trainer.DecodesPerPrompt);
        long actor = policy.parameters().Sum(p => p.numel());
        Assert.Equal(actor, trainer.TrainableParameters);

        using var policy2 = WarmStart.Copy(reference);
        using var criticTrunk = WarmStart.Copy(reference);
        using var ppo = new RemaxTrainer(cfg, new RemaxRun("PPO", RlMethod.Ppo), policy2, reference, task, 4, criticTrunk);
        Assert.Equal(2 * actor + task.Tokenizer.VocabSize * 0 + 32 + 1, ppo.TrainableParameters);   // critic = actor trunk + a scalar head
        Assert.Equal(2 * ppo.TrainableParameters * 4, ppo.OptimizerStateBytes);
        ppo.Step(0, qs);
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        ppo.Step(1, qs);
        trainer.Step(1, qs);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Memory_probe_counts_the_critic()
    {
        var mc = new TinyLmConfig(40, 32, 2, 2, 64);
        var remax = MemoryProbe.Run(new MemoryProbeRequest("ReMax", 2, 8, mc), T.Rt.TorchDevice);
        var ppo = MemoryProbe.Run(new MemoryProbeRequest("Ppo", 2, 8, mc), T.Rt.TorchDevice);
        Assert.Equal(mc.ParameterCount(), remax.Parameters);
        Assert.Equal(2 * mc.ParameterCount() + 32 + 1, ppo.Parameters);
        Assert.Equal(2 * remax.AdamBytes, ppo.AdamBytes - 2 * 4 * 33);
        Assert.Equal(remax.ActivationEstimateBytes, ppo.ActivationEstimateBytes);   // sequential updates: never both graphs at once
    }
}
