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

    /// <summary>
    /// Runs one memory probe in a fresh process (set by the CLI, which can start itself again). When null, or on CPU, the
    /// probe runs in this process.
    /// </summary>
    public static Func<MemoryProbeRequest, MemoryRow>? ProbeLauncher { get; set; }

    public static RemaxResults Run(RemaxConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var device = rt.TorchDevice;
        long seed = cfg.Seed;
        int trainCount = cfg.Steps * cfg.PromptsPerStep;
        var (setup, sft) = WarmStart.Prepare(cfg.Model, cfg.Sft, trainCount, cfg.RlMinOps, cfg.RlMaxOps, cfg.EvalQuestions, cfg.EvalOps, cfg.MaxNewTokens, device, seed);
        log.WriteLine($"[remax] {setup.Parameters:N0} parameters; SFT {(setup.Sft.FromCache ? "from cache" : $"{setup.Sft.Seconds:F0} s")}; " +
                      $"greedy accuracy on {cfg.EvalOps}-op problems {setup.SftEval.Accuracy:P1}");
        foreach (var p in sft.parameters()) p.requires_grad = false;

        // Warm-up (untimed): one step of the first method.
        using (var w = WarmStart.Copy(sft))
        using (var c = WarmStart.Copy(sft))
        using (var t = new RemaxTrainer(cfg, new RemaxRun("warm-up", RlMethod.Ppo), w, sft, setup.Task, seed, c))
            t.Step(0, setup.Train.Take(cfg.PromptsPerStep).ToList());

        var runs = new List<RemaxRunResult>();
        foreach (var run in cfg.Runs)
        {
            using var policy = WarmStart.Copy(sft);
            using var criticTrunk = run.Method == RlMethod.Ppo ? WarmStart.Copy(sft) : null;
            using var trainer = new RemaxTrainer(cfg, run, policy, sft, setup.Task, seed, criticTrunk);
            var r = trainer.Run(setup.Train, setup.Eval);
            runs.Add(r);
            log.WriteLine($"[remax] {run.Name}: {r.TrainSeconds:F1} s ({1000 * r.SecondsPerIteration:F0} ms/iteration), accuracy {r.FinalAccuracy:P1}");
        }

        var variance = new List<VarianceRow>();
        var vPrompts = ArithWord.Generate(seed, "variance", cfg.VariancePrompts, cfg.RlMinOps, cfg.RlMaxOps);
        foreach (var shift in new[] { 0.0, cfg.VarianceShift })
        {
            using var frozen = WarmStart.Copy(sft);
            variance.AddRange(GradientVariance.Measure(frozen, setup.Task, vPrompts, cfg.VarianceDraws, cfg.MaxNewTokens, cfg.Temperature, cfg.TopP, shift, seed));
        }
        sft.Dispose();

        var memory = new List<MemoryRow>();
        var mc = cfg.MemoryModelOrDefault with { Vocab = setup.Task.Tokenizer.VocabSize };
        foreach (var batch in cfg.MemoryBatchList)
            foreach (var method in new[] { "ReMax", "Ppo" })
            {
                var req = new MemoryProbeRequest(method, batch, cfg.MemoryTokens, mc, seed);
                var row = rt.IsCuda && ProbeLauncher is not null ? ProbeLauncher(req) : MemoryProbe.Run(req, device);
                memory.Add(row);
                log.WriteLine($"[remax] memory {row.Method} batch {batch}: {(row.MeasuredBytes is long m ? $"{m / 1e9:F2} GB ({row.Source})" : "not measured (CPU)")}, " +
                              $"analytic weights+grads+Adam {(row.WeightBytes + row.GradBytes + row.AdamBytes) / 1e6:F0} MB");
            }

        var res = new RemaxResults(cfg.Preset, rt, started.ToString("O"), 0, cfg, setup.Sft, setup.SftEval, setup.Parameters,
            runs.ToArray(), memory.ToArray(), variance.ToArray(), []);
        res = res with { Claims = RemaxClaims.Evaluate(res), WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) };
        WriteAll(res, outDir);
        return res;
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
