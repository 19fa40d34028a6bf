using System.Globalization;
using TorchSharp;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Blocks.Lm;
using Workbench.Data;
using Workbench.Runtime;
using Xunit;

namespace Workbench.Tests;

/// <summary>Time budgets in the diffusion papers: the prompt-major bench stops between prompts at the deadline with every
/// arm on the same prompts, and training fits its step count to its share and records it (also in the cached checkpoint).
/// These tests set <c>PAPERS_DEADLINE</c>, so they share the "deadline" collection and restore it.</summary>
[Collection("deadline")]
public class DiffusionBudgetTests
{
    static readonly UNetConfig Tiny = new(16, [8, 16], 1, [1], 16, 1, Heads: 2);

    static Denoiser MakeDenoiser()
    {
        _ = T.Rt;
        torch.manual_seed(1);
        var m = new TinyUNet(Tiny);
        m.eval();
        return new Denoiser(m, new NoiseSchedule());
    }

    static Evaluators MakeEvaluators()
    {
        torch.manual_seed(2);
        var det = new PixelDetector(4); det.eval();
        var feat = new FeatureNet(4, 8); feat.eval();
        return new Evaluators(det, feat, 16, 2);
    }

    static string UnixIn(double seconds) =>
        (DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 + seconds).ToString("F3", CultureInfo.InvariantCulture);

    static (BenchResult Result, List<(string Arm, int Scale, long Seed)> Calls) RunBench(Denoiser den, Evaluators ev, long[][] prompts, Action<string, long>? onCall = null)
    {
        var calls = new List<(string, int, long)>();
        var st = new SamplerSettings(Steps: 2, ViewBatch: 4);
        BenchArm Arm(string name, Func<Denoiser, long[], int, long, HighResOutput> run, int[]? only = null) =>
            new(name, (d, p, s, seed) => { calls.Add((name, s, seed)); var o = run(d, p, s, seed); onCall?.Invoke(name, seed); return o; }, only);
        var arms = new[]
        {
            Arm("Direct", (d, p, s, seed) => Samplers.Direct(d, p, s, st, seed)),
            Arm("MultiDiffusion", (d, p, s, seed) => Samplers.MultiDiffusion(d, p, s, st, seed)),
            Arm("Direct at 2× only", (d, p, s, seed) => Samplers.Direct(d, p, s, st, seed), [2]),
        };
        var r = Bench.Run(den, ev, prompts, arms, [1, 2], 5, cropsPerImage: 3);
        return (r, calls);
    }

    [Fact]
    public void Bench_is_prompt_major_and_a_deadline_after_the_first_prompt_leaves_every_arm_the_same_fewer_prompts()
    {
        var den = MakeDenoiser();
        using var ev = MakeEvaluators();
        var prompts = Bench.Prompts(3, 3);
        var saved = Environment.GetEnvironmentVariable(Deadline.Variable);
        try
        {
            // No deadline: prompt-major order (every arm and scale for prompt 0, then prompt 1, …), all prompts.
            Environment.SetEnvironmentVariable(Deadline.Variable, null);
            var (full, fullCalls) = RunBench(den, ev, prompts[..2]);
            Assert.Null(full.Cut);
            Assert.Equal(2, full.PromptsRequested);
            Assert.Equal(10, fullCalls.Count);                         // 2 prompts × (2 arms × 2 scales + 1 arm × 1 scale)
            Assert.All(fullCalls.Take(5), c => Assert.Equal(5, c.Seed));        // prompt 0 (seed + 1000·0) first …
            Assert.All(fullCalls.Skip(5), c => Assert.Equal(1005, c.Seed));     // … then prompt 1
            Assert.All(full.Metrics, m => Assert.Equal(2, m.Prompts));

            // The deadline passes while prompt 0 runs (set by its last arm): prompt 0 finishes, no new prompt starts.
            Environment.SetEnvironmentVariable(Deadline.Variable, UnixIn(3600));
            var (cut, cutCalls) = RunBench(den, ev, prompts, (arm, seed) =>
            {
                if (arm == "Direct at 2× only" && seed == 5) Environment.SetEnvironmentVariable(Deadline.Variable, UnixIn(-1));
            });
            Assert.Equal(5, cutCalls.Count);
            Assert.Single(cut.Prompts);
            Assert.Equal(prompts[0], cut.Prompts[0]);
            Assert.Equal(3, cut.PromptsRequested);
            Assert.NotNull(cut.Cut);
            Assert.Contains("1 of 3 prompts", cut.Cut);
            Assert.Equal(5, cut.Metrics.Length);                        // every (arm, scale) cell is still reported …
            Assert.All(cut.Metrics, m => Assert.Equal(1, m.Prompts));   // … on the same single prompt
            Assert.All(cut.Images, e => Assert.Equal(0, e.Prompt));

            // Aggregation is that of a full run over the prompts done (FID references sliced to those prompts).
            Environment.SetEnvironmentVariable(Deadline.Variable, null);
            var (one, _) = RunBench(den, ev, prompts[..1]);
            Assert.Equal(one.Metrics.Select(m => (m.Arm, m.Scale, m.Ce, m.FidR, m.FidC, m.Samples)),
                         cut.Metrics.Select(m => (m.Arm, m.Scale, m.Ce, m.FidR, m.FidC, m.Samples)));
        }
        finally { Environment.SetEnvironmentVariable(Deadline.Variable, saved); }
    }

    [Fact]
    public void Training_under_a_tiny_budget_stops_at_the_fitted_count_records_it_and_the_checkpoint_carries_it()
    {
        _ = T.Rt;
        var cache = new CheckpointCache(T.TempDir());
        var tc = new DiffusionTrainConfig(Steps: 1000, Batch: 2, Lr: 1e-3, Pool: 16, Ema: 0.99);
        var saved = Environment.GetEnvironmentVariable(Deadline.Variable);
        var savedId = Environment.GetEnvironmentVariable(Deadline.RunIdVariable);
        try
        {
            Environment.SetEnvironmentVariable(Deadline.RunIdVariable, "device-call-1");
            Environment.SetEnvironmentVariable(Deadline.Variable, UnixIn(1.0));       // UNet share 40% → under 0.4 s
            var (model, r) = DiffusionTraining.TrainOrLoad(Tiny, tc, T.Rt.TorchDevice, 3, cache);
            model.Dispose();
            Assert.False(r.FromCache);
            Assert.Equal(1000, r.RequestedSteps);
            Assert.InRange(r.Steps, 1, 999);      // fitted (after the probe steps, or earlier on a slow machine), or stopped at the deadline
            Assert.NotNull(r.Cut);
            Assert.Contains($"{r.Steps:N0} of 1,000 steps", r.Cut);
            Assert.Equal((r.Steps + 9) / 10 + ((r.Steps - 1) % 10 == 0 ? 0 : 1), r.Loss.Length);   // every 10th step and the last

            // A later load under a deadline (the next paper of the same device call) reports the steps actually done.
            Environment.SetEnvironmentVariable(Deadline.Variable, UnixIn(600));
            var (again, loaded) = DiffusionTraining.TrainOrLoad(Tiny, tc, T.Rt.TorchDevice, 3, cache);
            again.Dispose();
            Assert.True(loaded.FromCache);
            Assert.Equal(r.Steps, loaded.Steps);
            Assert.Equal(1000, loaded.RequestedSteps);
            Assert.NotNull(loaded.Cut);

            // A later budgeted run (another device call, another run id) does not inherit the cut: it trains again.
            Environment.SetEnvironmentVariable(Deadline.RunIdVariable, "device-call-2");
            Assert.False(TrainedCheckpoint.Read(r.CheckpointPath, tc.Steps).Use);

            // Without a deadline the cut checkpoint is not taken for the full run.
            Environment.SetEnvironmentVariable(Deadline.Variable, null);
            Environment.SetEnvironmentVariable(Deadline.RunIdVariable, "device-call-1");
            var (steps, use, _) = TrainedCheckpoint.Read(r.CheckpointPath, tc.Steps);
            Assert.Equal(r.Steps, steps);
            Assert.False(use);
        }
        finally { Environment.SetEnvironmentVariable(Deadline.Variable, saved); Environment.SetEnvironmentVariable(Deadline.RunIdVariable, savedId); }
    }

    [Fact]
    public void Train_budget_is_a_no_op_without_a_deadline_and_fits_the_probe_rate_with_one()
    {
        var saved = Environment.GetEnvironmentVariable(Deadline.Variable);
        try
        {
            Environment.SetEnvironmentVariable(Deadline.Variable, null);
            var free = TrainBudget.OfTimeLeft(300, 0.5, torch.CPU);
            for (int done = 1; done <= 300; done++) Assert.False(free.Step(done));
            Assert.Equal(300, free.Target);
            Assert.Null(free.Seconds);

            // 10 ms a step, a 0.5 s share: about 50 steps fit; the loop ends exactly at the fitted target.
            Environment.SetEnvironmentVariable(Deadline.Variable, UnixIn(1.0));
            var b = TrainBudget.OfTimeLeft(1000, 0.5, torch.CPU, probe: 5, minimum: 8);
            int n = 0;
            while (n < b.Target) { Thread.Sleep(10); n++; b.Step(n); }
            Assert.True(b.Fitted);
            Assert.Equal(b.Target, n);
            Assert.InRange(n, 8, 60);
            Assert.InRange(b.EmaDecay(0.999), 0.9, 0.999);                          // shorter horizon for the shorter run
            Assert.Equal(0.999, TrainBudget.OfTimeLeft(10, 0.5, torch.CPU).EmaDecay(0.999));
        }
        finally { Environment.SetEnvironmentVariable(Deadline.Variable, saved); }
    }
}
