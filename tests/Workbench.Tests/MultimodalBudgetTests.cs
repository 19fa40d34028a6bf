using System.Globalization;
using System.Text.Json;
using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Multimodal;
using Workbench.Claims;
using Workbench.Data;
using Workbench.Papers.Parvts;
using Workbench.Papers.Vtw;
using Workbench.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

/// <summary>Tiny model-T parts shared by the budget tests.</summary>
static class Mm
{
    public static MultimodalConfig Tiny(int layers = 2) =>
        MultimodalConfig.Test with { Lm = MultimodalConfig.Test.Lm with { Dim = 32, Layers = layers, Heads = 2 }, VisionDim = 16 };

    public static MultimodalLm Model(int layers = 2, long seed = 1)
    {
        _ = T.Rt;
        var m = new MultimodalLm(Tiny(layers), seed);
        m.eval();
        return m;
    }

    /// <summary>Runs <paramref name="body"/> with PAPERS_DEADLINE <paramref name="seconds"/> from now, restoring the variable after.</summary>
    public static void WithDeadline(double seconds, Action body)
    {
        var old = Environment.GetEnvironmentVariable(Deadline.Variable);
        var oldId = Environment.GetEnvironmentVariable(Deadline.RunIdVariable);
        try
        {
            double at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 + seconds;
            Environment.SetEnvironmentVariable(Deadline.Variable, at.ToString("R", CultureInfo.InvariantCulture));
            Environment.SetEnvironmentVariable(Deadline.RunIdVariable, "test-run");          // one budgeted run (a device call)
            body();
        }
        finally
        {
            Environment.SetEnvironmentVariable(Deadline.Variable, old);
            Environment.SetEnvironmentVariable(Deadline.RunIdVariable, oldId);
        }
    }
}

/// <summary>Rendering once and sizing evaluations (no deadline needed).</summary>
public class MultimodalEvalBudgetTests
{
    [Fact]
    public void Cached_eval_images_give_bit_identical_log_probs_to_rendering_each_batch()
    {
        using var m = Mm.Model(3);
        var samples = SceneVqa.EvalSet(m.Config.Data, 2, 4);                    // 20 samples, every type, ragged last batch of 6
        using var set = RenderedSamples.Render(m, samples);
        using (var again = SceneVqa.Images(samples.Select(s => s.Scene), m.Config.Data))
            Assert.True(again.eq(set.Images.cpu()).all().item<bool>());
        foreach (var plan in new Func<VqaBatch, Tensor, TokenPlan>?[] { null, (_, _) => VtwSteps.Withdraw(m.Layout, 1), (b, _) => VtwSteps.FastV(m.Layout, b.LastOrig, 1, 0.5) })
        {
            var rendered = MultimodalTraining.FirstTokenLogProbs(m, samples, 7, plan);
            var cached = MultimodalTraining.FirstTokenLogProbs(m, set, 7, plan);
            Assert.Equal(rendered.Length, cached.Length);
            for (int i = 0; i < rendered.Length; i++) Assert.Equal(rendered[i], cached[i]);       // exact: same bytes in, same kernels
        }
        var o = new ParvtsOptions(R: 0.25, K: 1, Fusion: FusionRule.Attention);
        var pr = ParvtsExperiment.LogProbs(m, samples, 7, o);
        var pc = ParvtsExperiment.LogProbs(m, samples, 7, o, set.Images);
        for (int i = 0; i < pr.Length; i++) Assert.Equal(pr[i], pc[i]);
        // The test can fail: different images change the log-probs.
        using var shuffled = new RenderedSamples(samples, set.Images.flip(0));
        Assert.NotEqual(rendered0(m, samples), MultimodalTraining.FirstTokenLogProbs(m, shuffled, 7)[0]);
        static double[] rendered0(MultimodalLm m, SceneSample[] s) => MultimodalTraining.FirstTokenLogProbs(m, s, 7)[0];
    }

    [Fact]
    public void The_eval_size_picker_returns_the_largest_size_that_fits()
    {
        var rng = new Random(11);
        for (int trial = 0; trial < 500; trial++)
        {
            int requested = 1 + rng.Next(3000), types = 1 + rng.Next(10), batch = 1 + rng.Next(300), minimum = 1 + rng.Next(20);
            double evals = 1 + 60 * rng.NextDouble(), prep = 1e-3 * rng.NextDouble(), perBatch = 0.05 * rng.NextDouble(), seconds = 120 * rng.NextDouble();
            int p = EvalBudget.PickPerType(requested, types, evals, batch, prep, perBatch, seconds, minimum);
            Assert.InRange(p, Math.Min(minimum, requested), requested);
            if (p > Math.Min(minimum, requested)) Assert.True(EvalBudget.Cost(p, types, evals, batch, prep, perBatch) <= seconds);
            if (p < requested) Assert.True(EvalBudget.Cost(p + 1, types, evals, batch, prep, perBatch) > seconds);    // the largest
            Assert.Equal(requested, EvalBudget.PickPerType(requested, types, evals, batch, prep, perBatch, null, minimum));   // no budget: all
        }
    }

    [Fact]
    public void Sizing_measures_a_batch_and_predicts_a_fit_within_the_seconds_given()
    {
        using var m = Mm.Model();
        var data = m.Config.Data;
        int types = data.TypeList.Length;
        var free = EvalBudget.Size(m, n => SceneVqa.EvalSet(data, n, 1), 5000, types, 20, 16, null);
        Assert.Equal(5000, free.Used);
        Assert.Null(free.Cut);
        var s = EvalBudget.Size(m, n => SceneVqa.EvalSet(data, n, 1), 5000, types, 20, 16, seconds: 1.5, minimum: 2);
        Assert.True(s.PrepSecondsPerSample > 0 && s.SecondsPerBatch > 0);
        Assert.InRange(s.Used, 2, 4999);                                          // 5000·10 samples × 20 evaluations cannot fit in 1.5 s
        Assert.True(s.Used == 2 || s.PredictedSeconds <= s.Seconds!.Value);
        Assert.Contains("of 5,000 eval samples per type", s.Cut);
    }

    [Fact]
    public void VTW_and_ParVTS_Gpu_presets_share_the_model_T_checkpoint()
    {
        // The cache key is (model config, training config, seed, vocabulary): equal here, so VTW loads what ParVTS trained.
        Assert.Equal(VtwConfig.Gpu.Model, ParvtsConfig.Gpu.Model);
        Assert.Equal(VtwConfig.Gpu.Train, ParvtsConfig.Gpu.Train);
        Assert.Equal(VtwConfig.Gpu.Seed, ParvtsConfig.Gpu.Seed);
    }

    [Fact]
    public void Rendering_within_a_budget_renders_a_prefix_with_the_same_bytes()
    {
        _ = T.Rt;
        var cfg = SceneVqaConfig.Gpu;
        var scenes = SceneVqa.Generate(cfg, 2, "pool", 3000).Select(s => s.Scene).ToList();
        var (img, n) = SceneVqa.ImagesWithin(scenes, cfg, seconds: 0.05, minimum: 40);
        using var _i = img;
        Assert.InRange(n, 40, 2999);                                              // 3000 48-px scenes take far longer than 50 ms
        Assert.Equal(new long[] { n, 3, cfg.Image, cfg.Image }, img.shape);
        using var reference = SceneVqa.Images(scenes.Take(n), cfg);
        Assert.True(reference.eq(img).all().item<bool>());
        var (all, count) = SceneVqa.ImagesWithin(scenes.Take(50).ToList(), cfg, null);
        using var _a = all;
        Assert.Equal(50, count);
    }
}

/// <summary>Budgeted runs: these set PAPERS_DEADLINE (process-wide), so they run in their own collection and restore it.</summary>
[Collection("deadline")]
public class MultimodalDeadlineTests
{
    [Fact]
    public void Training_under_a_deadline_stops_at_the_fitted_step_count_and_the_cached_checkpoint_reports_it()
    {
        using var m = Mm.Model();
        var cache = new CheckpointCache(T.TempDir());
        var cfg = new MmTrainConfig(Steps: 100_000, Batch: 8, Lr: 3e-3, WarmupSteps: 10, Pool: 64);
        MmTrainResult r = null!, again = null!;
        double share = 0;
        Mm.WithDeadline(6, () =>
        {
            share = TimeBudget.Share(0.5)!.Value;
            r = MultimodalTraining.TrainOrLoad(m, cfg, 5, cache, budgetShare: 0.5);
            using var m2 = new MultimodalLm(Mm.Tiny(), 9);
            again = MultimodalTraining.TrainOrLoad(m2, cfg, 5, cache, budgetShare: 0.5);          // a later paper under a deadline reuses it
            foreach (var ((_, a), (_, b)) in m.named_parameters().Zip(m2.named_parameters()))
                Assert.True(a.eq(b).all().item<bool>());
        });
        Assert.False(r.FromCache);
        Assert.Equal(100_000, r.RequestedSteps);
        Assert.InRange(r.Steps, MultimodalTraining.UntimedSteps + 2, 99_999);
        Assert.Contains("of 100,000 steps", r.Cut);
        Assert.True(r.Seconds <= 1.5 * share + 2.0, $"trained {r.Seconds:F2} s against a {share:F2} s share");   // 2 shared CI cores: slack
        if (!r.Cut!.Contains("stopped at"))
        {
            // The loop ran to its fitted count: the last loss is the one recorded at step Steps − 1 (every 10th step and the last).
            int expected = (r.Steps - 1) / 10 + 1 + ((r.Steps - 1) % 10 == 0 ? 0 : 1);
            Assert.Equal(expected, r.Loss.Length);
        }
        Assert.InRange(r.WarmupSteps, 1, cfg.WarmupSteps);
        Assert.True(again.FromCache);
        Assert.Equal((r.Steps, r.RequestedSteps, r.WarmupSteps, r.Pool, r.Cut), (again.Steps, again.RequestedSteps, again.WarmupSteps, again.Pool, again.Cut));
        var meta = Safetensors.ReadMetadata(r.CheckpointPath);
        Assert.Equal(r.Steps.ToString(CultureInfo.InvariantCulture), meta["steps"]);
        Assert.Equal("100000", meta["requested_steps"]);
    }

    [Fact]
    public void Without_a_deadline_training_runs_every_step_and_records_no_cut()
    {
        Assert.Null(Deadline.At);
        using var m = Mm.Model();
        var r = MultimodalTraining.Train(m, new MmTrainConfig(Steps: 12, Batch: 4, Lr: 3e-3, WarmupSteps: 3, Pool: 16), 3);
        Assert.Equal((12, 12, 3, 16), (r.Steps, r.RequestedSteps, r.WarmupSteps, r.Pool));
        Assert.Null(r.Cut);
    }

    static VtwConfig TinyVtw => VtwConfig.Test with
    {
        Model = Mm.Tiny(), Train = new MmTrainConfig(Steps: 4, Batch: 4, Lr: 3e-3, WarmupSteps: 1, Pool: 16),
        EvalPerType = 50, Calibration = 4, ProfileSamples = 4, LatencyBatch = 2, LatencyReps = 1, GenerateTokens = 2, FastVLayer = 1,
    };

    [Fact]
    public void VTW_past_its_deadline_skips_evaluations_and_still_writes_results_with_pending_claims()
    {
        var dir = T.TempDir();
        VtwResults res = null!;
        Mm.WithDeadline(0.5, () => res = VtwExperiment.Run(TinyVtw, T.Rt, dir, TextWriter.Null));   // the reserve (≥ 1 s) is never met
        int L = TinyVtw.Model.Lm.Layers;
        Assert.Equal(10, res.Eval!.Used);                                          // the minimum, of 50 requested
        Assert.Contains(res.Cuts, c => c.Contains("eval samples per type"));
        Assert.Single(res.Sweep);                                                  // only k = L (the full model, no evaluation)
        Assert.Equal(L, res.Sweep[0].K);
        Assert.All(Enumerable.Range(0, L), k => Assert.Contains($"sweep k = {k}", res.Skipped!));
        Assert.Empty(res.Baselines);
        Assert.Equal(Verdict.Pending, res.Claims[0].Verdict);
        Assert.True(File.Exists(Path.Combine(dir, "results.json")) && File.Exists(Path.Combine(dir, "report.html")));
        Assert.Contains("Cut by the time budget", File.ReadAllText(Path.Combine(dir, "claims.md")));
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json")));
        Assert.True(doc.RootElement.TryGetProperty("Skipped", out _) || doc.RootElement.TryGetProperty("skipped", out _));
    }

    [Fact]
    public void ParVTS_past_its_deadline_skips_the_sweep_and_still_writes_results()
    {
        var dir = T.TempDir();
        var cfg = ParvtsConfig.Test with { Model = Mm.Tiny(), Train = TinyVtw.Train, EvalPerType = 50, LatencyBatch = 2, LatencyReps = 1, FastVLayer = 1 };
        ParvtsResults res = null!;
        Mm.WithDeadline(0.5, () => res = ParvtsExperiment.Run(cfg, T.Rt, dir, TextWriter.Null));
        Assert.Empty(res.Points);
        Assert.NotEmpty(res.Skipped!);
        Assert.All(res.Claims, c => Assert.Equal(Verdict.Pending, c.Verdict));
        Assert.NotNull(res.Coverage);
        Assert.True(File.Exists(Path.Combine(dir, "claims.md")));
    }
}
