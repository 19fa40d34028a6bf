using System.Globalization;
using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Rl;
using Workbench.Claims;
using Workbench.Data;
using Workbench.Papers.Cppo;
using Workbench.Papers.Remax;
using Workbench.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

/// <summary>The RL papers under a time budget (<see cref="Deadline"/>): the SFT warm start stops at its fitted step count and
/// caches what it did, CPPO/ReMax pick allowed sizes that fit, skipped runs are named; plus the reviewer's fixes (clip
/// fraction, probe fallback, warm-up ratio). Tests that set <c>PAPERS_DEADLINE</c> restore it in <c>finally</c>.</summary>
[Collection("deadline")]
public class RlBudgetTests
{
    static TinyLm TinyModel(ArithTask task, long seed = 1)
    {
        var m = new TinyLm(new TinyLmConfig(task.Tokenizer.VocabSize, 32, 2, 2, 160), seed);
        m.to(T.Rt.TorchDevice);
        return m;
    }

    /// <summary>Runs <paramref name="body"/> with PAPERS_DEADLINE = now + <paramref name="seconds"/> (or unset when null).</summary>
    static void WithDeadline(double? seconds, Action body)
    {
        var old = Environment.GetEnvironmentVariable(Deadline.Variable);
        var oldId = Environment.GetEnvironmentVariable(Deadline.RunIdVariable);
        try
        {
            Environment.SetEnvironmentVariable(Deadline.Variable, seconds is double s
                ? (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 + s).ToString("F3", CultureInfo.InvariantCulture) : null);
            Environment.SetEnvironmentVariable(Deadline.RunIdVariable, seconds is null ? null : "test-run");   // one budgeted run
            body();
        }
        finally { Environment.SetEnvironmentVariable(Deadline.Variable, old); Environment.SetEnvironmentVariable(Deadline.RunIdVariable, oldId); }
    }

    static readonly SftConfig SmallSft = new(Examples: 400, Epochs: 1, Batch: 8, Lr: 1e-3);   // 50 steps

    [Fact]
    public void Sft_under_a_deadline_stops_at_the_fitted_step_count_caches_it_and_trains_in_full_without_one()
    {
        _ = T.Rt;
        var task = ArithTask.Create();
        var cache = new CheckpointCache(T.TempDir());
        int requested = Sft.RequestedSteps(SmallSft);
        Assert.Equal(50, requested);
        WithDeadline(0.05, () =>
        {
            // A 50 ms budget: either the deadline passes during the first steps and the loop stops right after that step
            // (as after a SIGTERM), or the fit after the probe bottoms out at its minimum (1 + ProbeSteps steps).
            using var lm = TinyModel(task);
            var r = Sft.TrainOrLoad(lm, task, SmallSft, 1, cache);
            Assert.False(r.FromCache);
            Assert.InRange(r.Steps, 1, 1 + Sft.ProbeSteps);
            Assert.Equal(requested, r.RequestedSteps);
            Assert.Contains($"{r.Steps:N0} of {requested:N0} steps", r.Cut);
            Assert.Equal(r.Steps.ToString(CultureInfo.InvariantCulture), Safetensors.ReadMetadata(r.CheckpointPath)["steps"]);

            // Another paper under a deadline (ReMax after CPPO) reuses the cut warm start and reports the steps it had.
            using var lm2 = TinyModel(task, 2);
            var again = Sft.TrainOrLoad(lm2, task, SmallSft, 1, cache);
            Assert.True(again.FromCache);
            Assert.Equal(r.Steps, again.Steps);
            Assert.NotNull(again.Cut);
        });
        WithDeadline(null, () =>
        {
            using var lm = TinyModel(task);
            var full = Sft.TrainOrLoad(lm, task, SmallSft, 1, cache);
            Assert.False(full.FromCache);                 // a cut entry is not what an unbudgeted run asks for
            Assert.Equal(requested, full.Steps);
            Assert.Null(full.Cut);
            using var lm2 = TinyModel(task, 2);
            var cached = Sft.TrainOrLoad(lm2, task, SmallSft, 1, cache);
            Assert.True(cached.FromCache);
            Assert.Equal(requested, cached.Steps);
        });
    }

    [Fact]
    public void Sft_with_a_generous_budget_takes_every_step_and_the_cppo_and_remax_gpu_presets_share_one_cache_entry()
    {
        _ = T.Rt;
        var task = ArithTask.Create();
        using var lm = TinyModel(task);
        var r = Sft.Train(lm, task, SmallSft, 1, budgetSeconds: 3600);
        Assert.Equal(Sft.RequestedSteps(SmallSft), r.Steps);
        Assert.Null(r.Cut);

        var cache = new CheckpointCache(T.TempDir());
        int v = task.Tokenizer.VocabSize;
        Assert.Equal(CppoConfig.Gpu.SeedList[0], RemaxConfig.Gpu.Seed);
        Assert.Equal(Sft.CachePath(cache, CppoConfig.Gpu.Model with { Vocab = v }, CppoConfig.Gpu.Sft, CppoConfig.Gpu.SeedList[0], task.Tokenizer),
                     Sft.CachePath(cache, RemaxConfig.Gpu.Model with { Vocab = v }, RemaxConfig.Gpu.Sft, RemaxConfig.Gpu.Seed, task.Tokenizer));
    }

    [Fact]
    public void Cppo_size_picker_returns_an_allowed_training_size_that_fits_the_same_for_every_run()
    {
        var cfg = CppoConfig.Gpu;
        var cal = new CppoExperiment.CppoCalibration(new Dictionary<int, double> { [1] = 0.30, [2] = 0.40, [4] = 0.55, [8] = 0.80, [16] = 1.30 }, 0.4);
        var allowed = cfg.AllowedTrainQuestions();
        Assert.All(allowed, q => Assert.All(cfg.Runs, r => Assert.Equal(0, q % (cfg.QuestionsPerStep * r.Multiplier))));
        Assert.Equal(cfg.TrainQuestions, allowed[0]);

        foreach (var seconds in new[] { 40.0, 100.0, 200.0 })
        {
            var plan = CppoExperiment.Plan(cfg, cal, seconds);
            var c = plan.Config;
            Assert.Contains(c.TrainQuestions, allowed);
            c.Validate();
            double cost = CppoExperiment.Cost(cfg, cal, cfg.Runs, c.TrainQuestions, c.EvalPoints, c.EvalQuestions);
            Assert.True(plan.Budget.Fits);
            Assert.True(cost * RlBudget.Safety <= seconds, $"{seconds} s: estimated {cost:F1} s");
            Assert.Equal(cost, cfg.Runs.Sum(plan.RunSeconds), 6);
            // The next larger allowed size would not have fitted with the same evaluation sizes.
            var larger = allowed.Where(q => q > c.TrainQuestions).DefaultIfEmpty(0).Min();
            if (larger > 0) Assert.True(CppoExperiment.Cost(cfg, cal, cfg.Runs, larger, c.EvalPoints, c.EvalQuestions) * RlBudget.Safety > seconds);
            Assert.Equal(c.TrainQuestions < cfg.TrainQuestions || c.EvalPoints < cfg.EvalPoints || c.EvalQuestions < cfg.EvalQuestions, plan.Budget.Note is not null);
        }
        var all = CppoExperiment.Plan(cfg, cal, 1e6);
        Assert.Equal(cfg, all.Config);
        Assert.Null(all.Budget.Note);
        var none = CppoExperiment.Plan(cfg, cal, 1);
        Assert.False(none.Budget.Fits);
        Assert.Equal(allowed[^1], none.Config.TrainQuestions);
        Assert.Equal(1, none.Config.EvalPoints);
        Assert.True(none.Config.EvalQuestions >= RlBudget.MinEvalQuestions);
        Assert.Contains("not to fit", none.Budget.Note);
    }

    [Fact]
    public void Remax_size_picker_shares_one_step_count_that_fits()
    {
        var cfg = RemaxConfig.Gpu;
        var cal = new RemaxExperiment.RemaxCalibration(new Dictionary<RlMethod, double>
            { [RlMethod.ReMax] = 0.45, [RlMethod.Reinforce] = 0.27, [RlMethod.Rloo] = 0.3, [RlMethod.Ppo] = 0.35 }, 0.4);
        var plan = RemaxExperiment.Plan(cfg, cal, 90);
        Assert.InRange(plan.Config.Steps, 1, cfg.Steps - 1);
        Assert.True(RemaxExperiment.Cost(cal, cfg.Runs, plan.Config.Steps, plan.Config.EvalPoints, plan.Config.EvalQuestions) * RlBudget.Safety <= 90);
        Assert.Contains("steps", plan.Budget.Note);
        plan.Config.Validate();
    }

    [Fact]
    public void Cppo_under_a_spent_budget_runs_the_first_run_names_the_missing_ones_and_writes_results()
    {
        _ = T.Rt;
        var cfg = CppoConfig.Test with
        {
            Model = new TinyLmConfig(0, 32, 2, 2, 160), Sft = SmallSft with { Examples = 4000 }, TrainQuestions = 8, QuestionsPerStep = 4, G = 4,
            MaxNewTokens = 16, EvalQuestions = 8, EvalPoints = 2,
        };
        var dir = T.TempDir();
        CppoResults res = null!;
        WithDeadline(1.0, () => res = CppoExperiment.Run(cfg, T.Rt, dir, TextWriter.Null));
        Assert.Single(res.Runs);
        Assert.Equal("GRPO", res.Runs[0].Name);
        Assert.NotNull(res.Budget);
        Assert.Contains("CPPO P=0.5 (seed 1)", res.Budget!.Skipped);
        Assert.Equal(1, res.Config.EvalPoints);                      // the cheapest sizes: nothing fits in a spent budget
        Assert.NotNull(res.Sft.Cut);
        Assert.Contains(res.Claims, c => c.Verdict == Verdict.Pending && c.OurValue.Contains("CPPO P=0.5"));
        var md = File.ReadAllText(Path.Combine(dir, "claims.md"));
        Assert.Contains("Time budget", md);
        Assert.Contains("CPPO P=0.5", md);
        Assert.Equal(res.Config.TrainQuestions, CppoResults.Load(dir).Config.TrainQuestions);
    }

    [Fact]
    public void Clip_fraction_counts_only_tokens_where_the_clip_is_active()
    {
        using var scope = torch.NewDisposeScope();
        // Five one-token sequences: ρ = 1.5 with A > 0 (clipped), 1.5 with A < 0 (not), 0.5 with A < 0 (clipped),
        // 0.5 with A > 0 (not), 1.0 (not).
        var ratio = new[] { 1.5, 1.5, 0.5, 0.5, 1.0 };
        var adv = torch.tensor(new[] { 1.0, -1.0, -1.0, 1.0, 1.0 });
        var old = torch.zeros(5, 1, dtype: ScalarType.Float64);
        var logp = torch.tensor(ratio.Select(x => Math.Log(x)).ToArray(), [5, 1]).requires_grad_(true);
        var mask = torch.ones([5, 1], ScalarType.Bool);
        var parts = Losses.Clipped(logp, old, null, adv, mask, 0.2, 0);
        Assert.Equal(2 / 5.0, parts.ClipFraction, 12);
        // The counted tokens are exactly those whose gradient the clip removes.
        var g = torch.autograd.grad([parts.Loss], [logp])[0].reshape(-1).data<double>().ToArray();
        var active = Losses.ClipActive(torch.tensor(ratio).unsqueeze(1), adv, 0.2).reshape(-1).data<bool>().ToArray();
        for (int i = 0; i < 5; i++) Assert.Equal(active[i], g[i] == 0);
    }

    [Fact]
    public void A_failing_memory_probe_yields_an_analytic_fallback_row()
    {
        var mc = new TinyLmConfig(40, 32, 2, 2, 64);
        foreach (var method in new[] { "ReMax", "Ppo" })
        {
            var req = new MemoryProbeRequest(method, 2, 8, mc);
            var row = MemoryProbe.RunOrFallback(req, _ => throw new InvalidOperationException("the child process exited with 134"));
            Assert.Null(row.MeasuredBytes);
            Assert.StartsWith("probe failed: the child process exited with 134", row.Source);
            var real = MemoryProbe.Run(req, T.Rt.TorchDevice);
            Assert.Equal(real with { MeasuredBytes = null, Source = row.Source, Seconds = 0, BaselineBytes = null }, row);
        }
        // PPO's two backwards run one after the other: its activation estimate is the actor's, not twice it.
        var ok = MemoryProbe.RunOrFallback(new MemoryProbeRequest("Ppo", 2, 8, mc), q => MemoryProbe.Run(q, T.Rt.TorchDevice));
        Assert.Equal(MemoryProbe.ActivationEstimate(mc, 2, 16 + 8, 8), ok.ActivationEstimateBytes);
        // The report draws measured peaks beside the analytic bars (the branch only a GPU run reaches).
        var rows = new[] { ok with { MeasuredBytes = 1_000_000_000, Source = "NVML process" }, ok with { Method = "ReMax", MeasuredBytes = null, Source = "probe failed: x" } };
        Assert.NotNull(RemaxReport.MemoryBars(rows));
    }

    [Fact]
    public void Variance_draws_fit_the_budget_and_the_greedy_estimate_is_shift_invariant_with_the_same_draws()
    {
        var task = ArithTask.Create();
        using var lm = TinyModel(task, 3);
        var prompts = ArithWord.Generate(3, "v", 2, 1, 2);
        var a = GradientVariance.Measure(lm, task, prompts, 50, 8, 1.0, 0.9, 0, 3, budgetSeconds: 1e-6);
        Assert.All(a, r => Assert.Equal(GradientVariance.ProbeDraws, r.Draws));
        var b = GradientVariance.Measure(lm, task, prompts, a[0].Draws, 8, 1.0, 0.9, 1.0, 3);
        var ga = a.Single(r => r.Estimator.StartsWith("greedy")); var gb = b.Single(r => r.Estimator.StartsWith("greedy"));
        Assert.Equal(ga.WeightSum, gb.WeightSum);
        Assert.True(Math.Abs(ga.CovarianceTrace - gb.CovarianceTrace) <= RemaxClaims.ShiftTolerance * ga.CovarianceTrace + 1e-12);
    }

    [Fact]
    public void Cppo_warm_up_is_a_tenth_of_each_runs_optimizer_steps()
    {
        var cfg = CppoConfig.Gpu;
        Assert.Equal(0.1, cfg.WarmupRatio);
        Assert.Equal(26, cfg.WarmupFor(2048 / 16 * 2));        // GRPO: 256 optimizer steps
        Assert.Equal(2, cfg.WarmupFor(2048 / (16 * 16) * 2));  // P = 0.9375: 16 optimizer steps
        Assert.Equal(0, (cfg with { WarmupRatio = 0 }).WarmupFor(256));
        var task = ArithTask.Create();
        using var reference = TinyModel(task);
        using var policy = WarmStart.Copy(reference);
        using var t = new CppoTrainer(CppoConfig.Test with { WarmupRatio = 0.1, TrainQuestions = 16 }, new CppoRun("P=0.75", 0.75), policy, reference, task, 1);
        Assert.Equal(1, t.WarmupSteps);                         // 16 / (4·4) rounds × μ = 2 → ⌈0.2⌉
    }
}
