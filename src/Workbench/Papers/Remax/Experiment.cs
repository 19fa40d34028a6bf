using System.Diagnostics;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Rl;
using Workbench.Data;
using Workbench.Runtime;

namespace Workbench.Papers.Remax;

public static class RemaxExperiment
{
    public const string Slug = "remax";
    public const string Title = "ReMax — REINFORCE with a greedy baseline vs PPO (arXiv 2310.10505)";

    /// <summary>Under a deadline: the share of the time left (after the warm start) that the RL runs are sized to; the memory
    /// probes then get <see cref="MemoryShare"/> of what is left after the runs, and the gradient variance the rest.</summary>
    public const double RunsShare = 0.6, MemoryShare = 0.5;

    /// <summary>
    /// The SFT warm start (shared with CPPO through the checkpoint cache), the RL runs, the memory probes, the gradient
    /// variance. results.json is written after the runs, after the probes and at the end, so a later failure or kill keeps
    /// what was measured; a failed probe is recorded as a row without a measurement (<see cref="MemoryProbe.Fallback"/>).
    /// Under a deadline (<see cref="Deadline"/>): the warm start is sized to its share, one step per method and one evaluation
    /// chunk are timed, the shared step count (and if need be the evaluation sizes) is fitted so all runs take
    /// <see cref="RunsShare"/> of the time left, a run estimated to end after the deadline is not started, probe pairs stop
    /// when the next would not fit, and the variance draws (the same for both reward shifts) are fitted to what is left.
    /// </summary>
    public static RemaxResults Run(RemaxConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var device = rt.TorchDevice;
        long seed = cfg.Seed;
        var requested = cfg;
        int trainCount = cfg.Steps * cfg.PromptsPerStep;
        var (setup, sft) = WarmStart.Prepare(cfg.Model, cfg.Sft, trainCount, cfg.RlMinOps, cfg.RlMaxOps, cfg.EvalQuestions, cfg.EvalOps, cfg.MaxNewTokens, device, seed);
        log.WriteLine($"[remax] {setup.Parameters:N0} parameters; SFT {(setup.Sft.FromCache ? "from cache" : $"{setup.Sft.Seconds:F0} s")}" +
                      $"{(setup.Sft.Cut is string cut ? $" ({cut})" : "")}; greedy accuracy on {cfg.EvalOps}-op problems {setup.SftEval.Accuracy:P1}");
        foreach (var p in sft.parameters()) p.requires_grad = false;

        // Warm-up (untimed): one step of the first method.
        using (var w = WarmStart.Copy(sft))
        using (var c = WarmStart.Copy(sft))
        using (var t = new RemaxTrainer(cfg, new RemaxRun("warm-up", RlMethod.Ppo), w, sft, setup.Task, seed, c))
            t.Step(0, setup.Train.Take(cfg.PromptsPerStep).ToList());

        RemaxPlan? plan = null;
        var skipped = new List<string>();
        if (RlBudget.SecondsFor(RunsShare) is double seconds)
        {
            plan = Plan(requested, Calibrate(requested, setup, sft, seed), seconds);
            cfg = plan.Config;
            log.WriteLine($"[remax] time budget: {seconds:F0} s for the runs; " + (plan.Budget.Note ?? "all sizes as configured") +
                          $"; estimated {plan.Budget.EstimatedSeconds:F0} s ({string.Join(", ", plan.Budget.Calibration.Select(kv => $"{kv.Key} {kv.Value:F2}"))})");
        }
        var eval = setup.Eval.Take(cfg.EvalQuestions).ToList();

        var runs = new List<RemaxRunResult>();
        foreach (var run in cfg.Runs)
        {
            if (plan is not null && runs.Count > 0 && !RlBudget.FitsTimeLeft(plan.RunSeconds(run)))
            {
                skipped.Add(run.Name);
                log.WriteLine($"[remax] {run.Name}: not started ({Deadline.SecondsLeft:F0} s left, estimated {plan.RunSeconds(run):F0} s)");
                continue;
            }
            using var policy = WarmStart.Copy(sft);
            using var criticTrunk = run.Method == RlMethod.Ppo ? WarmStart.Copy(sft) : null;
            using var trainer = new RemaxTrainer(cfg, run, policy, sft, setup.Task, seed, criticTrunk);
            var r = trainer.Run(setup.Train, eval);
            runs.Add(r);
            log.WriteLine($"[remax] {run.Name}: {r.TrainSeconds:F1} s ({1000 * r.SecondsPerIteration:F0} ms/iteration), accuracy {r.FinalAccuracy:P1}");
        }

        var memory = new List<MemoryRow>();
        var variance = new List<VarianceRow>();
        RemaxResults Results() => new(cfg.Preset, rt, started.ToString("O"), Math.Round(sw.Elapsed.TotalSeconds, 1), cfg, setup.Sft, setup.SftEval, setup.Parameters,
            runs.ToArray(), memory.ToArray(), variance.ToArray(), [], plan is null ? null : plan.Budget with { Skipped = skipped.ToArray() });
        void Write(string what)
        {
            var res = Results();
            WriteAll(res with { Claims = RemaxClaims.Evaluate(res) }, outDir);
            log.WriteLine($"[remax] results written ({what})");
        }
        Write("after the RL runs");

        // Memory: a fresh process per configuration on CUDA; a failed probe leaves an analytic row that says so.
        var mc = cfg.MemoryModelOrDefault with { Vocab = setup.Task.Tokenizer.VocabSize };
        double? memSeconds = RlBudget.SecondsFor(MemoryShare);
        var memClock = Stopwatch.StartNew();
        double lastPair = 0;
        foreach (var batch in cfg.MemoryBatchList)
        {
            if (memSeconds is double ms && (Deadline.Passed || (memory.Count > 0 && memClock.Elapsed.TotalSeconds + lastPair > ms)))
            {
                skipped.Add($"memory probes at batch {batch}");
                log.WriteLine($"[remax] memory probes at batch {batch}: not started (time budget)");
                continue;
            }
            var pairClock = Stopwatch.StartNew();
            foreach (var method in new[] { "ReMax", "Ppo" })
            {
                var req = new MemoryProbeRequest(method, batch, cfg.MemoryTokens, mc, seed);
                var row = MemoryProbe.RunOrFallback(req, q => MemoryProbe.RunFreshOrHere(q, device));
                memory.Add(row);
                log.WriteLine($"[remax] memory {row.Method} batch {batch}: {(row.MeasuredBytes is long m ? $"{m / 1e9:F2} GB ({row.Source})" : $"not measured ({row.Source})")}, " +
                              $"analytic weights+grads+Adam {(row.WeightBytes + row.GradBytes + row.AdamBytes) / 1e6:F0} MB");
            }
            lastPair = pairClock.Elapsed.TotalSeconds;
        }
        Write("after the memory probes");

        // Gradient variance on the frozen warm start: the same draws (and count) for both reward shifts.
        var vPrompts = ArithWord.Generate(seed, "variance", cfg.VariancePrompts, cfg.RlMinOps, cfg.RlMaxOps);
        double? varSeconds = RlBudget.SecondsFor();
        if (varSeconds is double vs0 && (Deadline.Passed || vs0 <= 0)) skipped.Add("gradient variance");
        else
        {
            int draws = cfg.VarianceDraws;
            foreach (var shift in new[] { 0.0, cfg.VarianceShift })
            {
                using var frozen = WarmStart.Copy(sft);
                var rows = GradientVariance.Measure(frozen, setup.Task, vPrompts, draws, cfg.MaxNewTokens, cfg.Temperature, cfg.TopP, shift, seed,
                    budgetSeconds: shift == 0 ? varSeconds / 2 : null);
                draws = rows[0].Draws;
                variance.AddRange(rows);
            }
            if (draws < cfg.VarianceDraws) cfg = cfg with { VarianceDraws = draws };
            if (plan is not null && TimeBudget.CutNote(draws, requested.VarianceDraws, "variance draws") is string vn)
                plan = plan with { Budget = plan.Budget with { Note = plan.Budget.Note is null ? vn : plan.Budget.Note + "; " + vn } };
        }
        sft.Dispose();

        var res = Results();
        res = res with { Claims = RemaxClaims.Evaluate(res) };
        WriteAll(res, outDir);
        return res;
    }

    /// <summary>Seconds of one step per method (on throw-away copies after the warm-up step) and of one evaluation chunk.</summary>
    public sealed record RemaxCalibration(IReadOnlyDictionary<RlMethod, double> StepSeconds, double EvalChunkSeconds);

    /// <summary>The sizes the runs use under a budget, their record and the cost model.</summary>
    public sealed record RemaxPlan(RemaxConfig Config, RlBudgetRecord Budget, RemaxCalibration Calibration)
    {
        public double RunSeconds(RemaxRun run) => Cost(Calibration, [run], Config.Steps, Config.EvalPoints, Config.EvalQuestions);
    }

    public static RemaxCalibration Calibrate(RemaxConfig cfg, RlSetup setup, TinyLm sft, long seed)
    {
        var steps = new Dictionary<RlMethod, double>();
        var qs = setup.Train.Take(cfg.PromptsPerStep).ToList();
        foreach (var method in cfg.Runs.Select(r => r.Method).Distinct())
        {
            using var policy = WarmStart.Copy(sft);
            using var critic = method == RlMethod.Ppo ? WarmStart.Copy(sft) : null;
            using var t = new RemaxTrainer(cfg, new RemaxRun("calibration", method), policy, sft, setup.Task, seed, critic);
            var clock = Stopwatch.StartNew();
            t.Step(0, qs);
            steps[method] = clock.Elapsed.TotalSeconds;
        }
        var ec = Stopwatch.StartNew();
        setup.Task.Evaluate(sft, setup.Eval.Take(RlBudget.EvalChunk).ToList(), cfg.MaxNewTokens);
        return new RemaxCalibration(steps, ec.Elapsed.TotalSeconds);
    }

    /// <summary>Estimated seconds of <paramref name="runs"/>: steps × the method's calibrated step, plus (evalPoints + 1) evaluations.</summary>
    public static double Cost(RemaxCalibration cal, IEnumerable<RemaxRun> runs, int steps, int evalPoints, int evalQuestions) =>
        runs.Sum(r => steps * cal.StepSeconds[r.Method] + (evalPoints + 1) * RlBudget.EvalSeconds(evalQuestions, cal.EvalChunkSeconds));

    /// <summary>The shared step count (1..<see cref="RemaxConfig.Steps"/>) and evaluation sizes that let all runs fit in
    /// <paramref name="seconds"/> (<see cref="RlBudget.Fit"/>); every run gets the same, so they see the same prompts.</summary>
    public static RemaxPlan Plan(RemaxConfig cfg, RemaxCalibration cal, double seconds)
    {
        var s = RlBudget.Fit(Enumerable.Range(1, cfg.Steps), cfg.EvalPoints, cfg.EvalQuestions, (st, ep, eq) => Cost(cal, cfg.Runs, st, ep, eq), seconds);
        var calib = cal.StepSeconds.ToDictionary(kv => $"{kv.Key} step s", kv => Math.Round(kv.Value, 3));
        calib["eval chunk s"] = Math.Round(cal.EvalChunkSeconds, 3);
        var budget = RlBudgetRecord.From(s, Deadline.SecondsLeft ?? seconds, seconds, "steps", cfg.Steps, cfg.EvalPoints, cfg.EvalQuestions, calib);
        return new RemaxPlan(cfg with { Steps = s.Units, EvalPoints = s.EvalPoints, EvalQuestions = s.EvalQuestions }, budget, cal);
    }

    public static void WriteAll(RemaxResults res, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var slim = res with { Runs = res.Runs.Select(r => r with { Detail = r.Detail.Take(1).ToArray() }).ToArray() };
        AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), slim, indented: false);
        AtomicFile.WriteAllText(Path.Combine(outDir, "claims.md"), RemaxClaims.Markdown(res));
        RemaxReport.Build(res).Save(Path.Combine(outDir, "report.html"));
    }
}
