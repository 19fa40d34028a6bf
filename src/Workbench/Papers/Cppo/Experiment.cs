using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Rl;
using Workbench.Data;
using Workbench.Runtime;

namespace Workbench.Papers.Cppo;

public static class CppoExperiment
{
    public const string Slug = "cppo";
    public const string Title = "CPPO — Completion Pruning Policy Optimization on top of GRPO (arXiv 2503.22342)";

    /// <summary>
    /// The SFT warm start, then every configured run for each seed. Under a deadline (<see cref="Deadline"/>, e.g.
    /// <c>papers reproduce cppo --budget S</c>) the warm start is sized to its share of the time left, a calibration times one
    /// generation round (with its μ updates) per allocation multiplier and one evaluation chunk, and <see cref="Plan"/> picks
    /// the training and evaluation sizes that let all runs fit, the same for every run so they stay comparable. A run that
    /// is estimated not to finish before the deadline is not started; the results say which runs are missing.
    /// Without a deadline every size is the config's.
    /// </summary>
    public static CppoResults Run(CppoConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var device = rt.TorchDevice;
        var runs = new List<CppoRunResult>();
        var requested = cfg;
        RlSetup? first = null;
        CppoPlan? plan = null;
        var skipped = new List<string>();
        var seeds = cfg.SeedList;
        for (int si = 0; si < seeds.Length; si++)
        {
            long seed = seeds[si];
            if (si > 0 && Deadline.Passed) { skipped.AddRange(cfg.Runs.Select(r => $"{r.Name} (seed {seed})")); continue; }
            var (setup, sft) = WarmStart.Prepare(cfg.Model, cfg.Sft, requested.TrainQuestions, cfg.RlMinOps, cfg.RlMaxOps, requested.EvalQuestions, cfg.EvalOps,
                cfg.MaxNewTokens, device, seed, sftSeconds: TimeBudget.Share(Sft.DefaultBudgetShare / (seeds.Length - si)));
            first ??= setup;
            log.WriteLine($"[cppo] seed {seed}: {setup.Parameters:N0} parameters; SFT {(setup.Sft.FromCache ? "from cache" : $"{setup.Sft.Seconds:F0} s")}" +
                          $"{(setup.Sft.Cut is string c ? $" ({c})" : "")}; greedy accuracy on {cfg.EvalOps}-op problems {setup.SftEval.Accuracy:P1}");
            foreach (var p in sft.parameters()) p.requires_grad = false;
            // Warm-up: one untimed step so the first timed run does not pay for kernel loading and allocator growth.
            using (var warm = WarmStart.Copy(sft))
            using (var t = new CppoTrainer(cfg, cfg.Runs[0], warm, sft, setup.Task, seed))
                t.Step(0, setup.Train.Take(cfg.QuestionsPerStep).ToList());
            if (plan is null && RlBudget.SecondsFor(1, seeds.Length - si) is double seconds)
            {
                plan = Plan(requested, Calibrate(requested, setup, sft, seed), seconds);
                cfg = plan.Config;
                log.WriteLine($"[cppo] time budget: {seconds:F0} s for the runs; " + (plan.Budget.Note ?? "all sizes as configured") +
                              $"; estimated {plan.Budget.EstimatedSeconds:F0} s ({string.Join(", ", plan.Budget.Calibration.Select(kv => $"{kv.Key} {kv.Value:F2}"))})");
            }
            var train = setup.Train.Take(cfg.TrainQuestions).ToList();
            var eval = setup.Eval.Take(cfg.EvalQuestions).ToList();
            foreach (var run in cfg.Runs)
            {
                // Under a deadline: start no run after it, nor one estimated to end after it (the first run always starts).
                if (plan is not null && runs.Count > 0 && !RlBudget.FitsTimeLeft(plan.RunSeconds(run)))
                {
                    skipped.Add($"{run.Name} (seed {seed})");
                    log.WriteLine($"[cppo] {run.Name}: not started ({Deadline.SecondsLeft:F0} s left, estimated {plan.RunSeconds(run):F0} s)");
                    continue;
                }
                using var policy = WarmStart.Copy(sft);
                using var trainer = new CppoTrainer(cfg, run, policy, sft, setup.Task, seed);
                var r = trainer.Run(train, eval, seed, detailSteps: 2);
                runs.Add(r);
                log.WriteLine($"[cppo] {run.Name}: {r.TrainSeconds:F1} s, {r.OptimizerSteps} optimizer steps, accuracy {r.FinalAccuracy:P1}");
                // Under a budget, write what is done after every run: a run killed later (a time limit) still leaves results.
                if (plan is not null)
                {
                    var notReached = cfg.Runs.SkipWhile(x => x != run).Skip(1).Select(x => $"{x.Name} (seed {seed}, not reached yet)");
                    Write(plan.Budget with { Skipped = [.. skipped, .. notReached] });
                }
            }
            sft.Dispose();
        }
        return Write(plan is null ? null : plan.Budget with { Skipped = skipped.ToArray() });

        CppoResults Write(RlBudgetRecord? budget)
        {
            var res = new CppoResults(cfg.Preset, rt, started.ToString("O"), 0, cfg, first!.Sft, first.SftEval, first.Parameters, runs.ToArray(), [], budget);
            res = res with { Claims = CppoClaims.Evaluate(res), WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) };
            WriteAll(res, outDir);
            return res;
        }
    }

    /// <summary>Seconds of one generation round (with its μ updates) per allocation multiplier m (m·Q questions), and of one
    /// evaluation chunk (<see cref="RlBudget.EvalChunk"/> questions, or the whole set when smaller), timed on throw-away copies of
    /// the warm start after the warm-up step.</summary>
    public sealed record CppoCalibration(IReadOnlyDictionary<int, double> RoundSeconds, double EvalChunkSeconds);

    /// <summary>The sizes the runs use under a budget (<see cref="Config"/>), their record, and the cost model behind them.</summary>
    public sealed record CppoPlan(CppoConfig Config, RlBudgetRecord Budget, CppoCalibration Calibration)
    {
        /// <summary>Estimated seconds of one run: its generation rounds plus its evaluations (step 0 and each eval point).</summary>
        public double RunSeconds(CppoRun run) => Cost(Config, Calibration, [run], Config.TrainQuestions, Config.EvalPoints, Config.EvalQuestions);
    }

    public static CppoCalibration Calibrate(CppoConfig cfg, RlSetup setup, TinyLm sft, long seed)
    {
        var rounds = new Dictionary<int, double>();
        foreach (var run in cfg.Runs.GroupBy(r => r.Multiplier).Select(g => g.First()).OrderBy(r => r.Multiplier))
        {
            using var copy = WarmStart.Copy(sft);
            using var t = new CppoTrainer(cfg, run, copy, sft, setup.Task, seed);
            var clock = Stopwatch.StartNew();
            t.Step(0, setup.Train.Take(cfg.QuestionsPerStep * run.Multiplier).ToList());
            rounds[run.Multiplier] = clock.Elapsed.TotalSeconds;
        }
        var ec = Stopwatch.StartNew();
        setup.Task.Evaluate(sft, setup.Eval.Take(RlBudget.EvalChunk).ToList(), cfg.MaxNewTokens);
        return new CppoCalibration(rounds, ec.Elapsed.TotalSeconds);
    }

    /// <summary>Estimated seconds of <paramref name="runs"/> with the given sizes: per run, (questions / (Q·m)) rounds at the
    /// calibrated seconds of its multiplier, plus (evalPoints + 1) evaluations.</summary>
    public static double Cost(CppoConfig cfg, CppoCalibration cal, IEnumerable<CppoRun> runs, int trainQuestions, int evalPoints, int evalQuestions) =>
        runs.Sum(r => trainQuestions / (cfg.QuestionsPerStep * r.Multiplier) * cal.RoundSeconds[r.Multiplier]
                      + (evalPoints + 1) * RlBudget.EvalSeconds(evalQuestions, cal.EvalChunkSeconds));

    /// <summary>
    /// The sizes all runs use so that they fit in <paramref name="seconds"/>: <see cref="CppoConfig.TrainQuestions"/> from
    /// <see cref="CppoConfig.AllowedTrainQuestions"/> (whole steps for every run), and if need be fewer evaluation points and
    /// questions (<see cref="RlBudget.Fit"/>). The same sizes for every run keep them comparable.
    /// </summary>
    public static CppoPlan Plan(CppoConfig cfg, CppoCalibration cal, double seconds)
    {
        var s = RlBudget.Fit(cfg.AllowedTrainQuestions(), cfg.EvalPoints, cfg.EvalQuestions, (tq, ep, eq) => Cost(cfg, cal, cfg.Runs, tq, ep, eq), seconds);
        var calib = cal.RoundSeconds.ToDictionary(kv => $"round m={kv.Key} s", kv => Math.Round(kv.Value, 3));
        calib["eval chunk s"] = Math.Round(cal.EvalChunkSeconds, 3);
        var budget = RlBudgetRecord.From(s, Deadline.SecondsLeft ?? seconds, seconds, "training questions", cfg.TrainQuestions, cfg.EvalPoints, cfg.EvalQuestions, calib);
        return new CppoPlan(cfg with { TrainQuestions = s.Units, EvalPoints = s.EvalPoints, EvalQuestions = s.EvalQuestions }, budget, cal);
    }

    /// <summary>Combines runs made separately (one seed per process) into one result with recomputed claims.</summary>
    public static CppoResults Merge(IReadOnlyList<CppoResults> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("merge needs at least one results folder.");
        string Key(CppoConfig c) => System.Text.Json.JsonSerializer.Serialize(c with { Seeds = null }, AtomicFile.Json);
        var first = parts[0];
        if (parts.Any(p => Key(p.Config) != Key(first.Config)))
            throw new ConfigException("merge: the results were made with different configs (apart from seeds); merge only runs of one preset and config.");
        var seeds = parts.SelectMany(p => p.Config.SeedList).ToList();
        if (seeds.Distinct().Count() != seeds.Count) throw new ConfigException($"merge: seed(s) {string.Join(", ", seeds.GroupBy(s => s).Where(g => g.Count() > 1).Select(g => g.Key))} appear twice.");
        var merged = first with
        {
            Config = first.Config with { Seeds = seeds.ToArray() },
            Runs = parts.SelectMany(p => p.Runs).ToArray(),
            WallSeconds = parts.Sum(p => p.WallSeconds),
        };
        return merged with { Claims = CppoClaims.Evaluate(merged) };
    }

    public static void WriteAll(CppoResults res, string outDir)
    {
        Directory.CreateDirectory(outDir);
        // results.json keeps per-step detail only for the first step of each run (the notebook shows all of them).
        var slim = res with { Runs = res.Runs.Select(r => r with { Detail = r.Detail.Take(1).ToArray() }).ToArray() };
        AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), slim, indented: false);
        AtomicFile.WriteAllText(Path.Combine(outDir, "claims.md"), CppoClaims.Markdown(res));
        CppoReport.Build(res).Save(Path.Combine(outDir, "report.html"));
    }
}
