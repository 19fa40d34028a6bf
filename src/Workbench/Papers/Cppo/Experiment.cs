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

    public static CppoResults Run(CppoConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var device = rt.TorchDevice;
        var runs = new List<CppoRunResult>();
        RlSetup? first = null;
        foreach (var seed in cfg.SeedList)
        {
            var (setup, sft) = WarmStart.Prepare(cfg.Model, cfg.Sft, cfg.TrainQuestions, cfg.RlMinOps, cfg.RlMaxOps, cfg.EvalQuestions, cfg.EvalOps, cfg.MaxNewTokens, device, seed);
            first ??= setup;
            log.WriteLine($"[cppo] seed {seed}: {setup.Parameters:N0} parameters; SFT {(setup.Sft.FromCache ? "from cache" : $"{setup.Sft.Seconds:F0} s")}; " +
                          $"greedy accuracy on {cfg.EvalOps}-op problems {setup.SftEval.Accuracy:P1}");
            foreach (var p in sft.parameters()) p.requires_grad = false;
            // Warm-up: one untimed step so the first timed run does not pay for kernel loading and allocator growth.
            using (var warm = WarmStart.Copy(sft))
            using (var t = new CppoTrainer(cfg, cfg.Runs[0], warm, sft, setup.Task, seed))
                t.Step(0, setup.Train.Take(cfg.QuestionsPerStep).ToList());
            foreach (var run in cfg.Runs)
            {
                using var policy = WarmStart.Copy(sft);
                using var trainer = new CppoTrainer(cfg, run, policy, sft, setup.Task, seed);
                var r = trainer.Run(setup.Train, setup.Eval, seed, detailSteps: 2);
                runs.Add(r);
                log.WriteLine($"[cppo] {run.Name}: {r.TrainSeconds:F1} s, {r.OptimizerSteps} optimizer steps, accuracy {r.FinalAccuracy:P1}");
            }
            sft.Dispose();
        }
        var res = new CppoResults(cfg.Preset, rt, started.ToString("O"), 0, cfg, first!.Sft, first.SftEval, first.Parameters, runs.ToArray(), []);
        res = res with { Claims = CppoClaims.Evaluate(res), WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) };
        WriteAll(res, outDir);
        return res;
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
