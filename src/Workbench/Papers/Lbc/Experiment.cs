using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Vision;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.Lbc;

/// <summary>
/// LBC's headline experiment at toy scale: for every suite (model + recipe), seed and pattern, train Dense, ASP
/// (the dense model → magnitude N:M → retrain), STE, SR-STE and LBC under one recipe, then compare. Results are
/// written atomically after every run, so an interrupted run keeps what it finished.
/// </summary>
public static class LbcExperiment
{
    public const string Slug = "lbc";
    public const string Title = "LBC — Learning Best Combination for Efficient N:M Sparsity (NeurIPS 2022)";

    public static LbcResults Run(LbcConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var wall = Stopwatch.StartNew();
        var device = rt.TorchDevice;
        var runs = new List<MethodRun>();
        using var data = LbcData.Load(cfg, device);
        log.WriteLine($"[lbc] data: {data.Train.Count} train / {data.Test.Count} test images from {Path.GetDirectoryName(data.Train.Source)}");

        LbcResults Snapshot() => new("LBC", cfg.Preset, cfg, rt, runs.ToList(), LbcClaims.Evaluate(cfg, runs), Math.Round(wall.Elapsed.TotalSeconds, 1), started.ToString("O"),
            [new RunPart(cfg.SeedList, Math.Round(wall.Elapsed.TotalSeconds, 1), started.ToString("O"), $"{rt.Device} ({rt.DeviceName})", $"papers reproduce lbc --preset {cfg.Preset}")]);
        void Save() => AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), Snapshot(), indented: false);

        foreach (var suite in cfg.Suites)
        foreach (var seed in cfg.SeedList)
        {
            SparsifiableNet? dense = null;
            MethodRun? denseRun = null;
            if (suite.Methods.Contains(SparseMethod.Dense) || suite.Methods.Contains(SparseMethod.Asp))
            {
                dense = NewNet(suite.Model, seed, device);
                (denseRun, var cached) = TrainDense(ref dense, suite, seed, data, cfg, rt);
                runs.Add(denseRun);
                log.WriteLine($"[lbc] {suite.Model} dense seed {seed}: {denseRun.FinalAccuracy:P2} in {denseRun.Seconds:F1}s{(cached ? " (trained earlier: loaded from the checkpoint cache)" : "")}");
                Save();
            }
            foreach (var p in suite.Patterns)
            foreach (var method in suite.Methods.Where(m => m != SparseMethod.Dense))
            {
                using var net = NewNet(suite.Model, seed, device);
                if (method == SparseMethod.Asp) net.load_state_dict(dense!.state_dict());
                LbcTrainer.Attach(net, method, p, cfg.SrSteLambda);
                var run = LbcTrainer.Train(net, suite, method, p, seed, data, cfg,
                    priorGFlops: method == SparseMethod.Asp ? denseRun!.TotalTrainGFlops : 0,
                    priorSeconds: method == SparseMethod.Asp ? denseRun!.Seconds : 0);
                runs.Add(run);
                log.WriteLine($"[lbc] {suite.Model} {method} {p} seed {seed}: {run.FinalAccuracy:P2}, exact N:M {run.ExactNm}, {run.Seconds:F1}s");
                Save();
            }
            dense?.Dispose();
        }
        var results = Snapshot();
        WriteAll(results, outDir);
        return results;
    }

    /// <summary>Writes results.json, claims.md and report.html (+ plotly.min.js) to <paramref name="outDir"/>.</summary>
    public static void WriteAll(LbcResults results, string outDir)
    {
        AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), results, indented: false);
        AtomicFile.WriteAllText(Path.Combine(outDir, "claims.md"), LbcClaims.Markdown(results));
        LbcReport.Build(results).Save(Path.Combine(outDir, "report.html"));
    }

    /// <summary>
    /// Merges results of separate processes (e.g. one seed each) into one: runs are concatenated (a later file's run
    /// replaces an earlier one with the same model, method, pattern and seed), seeds are united, claims recomputed.
    /// All inputs must share the same config apart from the seeds (and the display-only ScoreSampleGroups).
    /// </summary>
    public static LbcResults Merge(IReadOnlyList<LbcResults> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("merge needs at least one results file.");
        // Seeds differ by design; ScoreSampleGroups only sets how many score rows are recorded for plots (no effect on training).
        string Key(LbcConfig c) => System.Text.Json.JsonSerializer.Serialize(c with { Seeds = null, ScoreSampleGroups = 0 }, AtomicFile.Json);
        var first = parts[0];
        foreach (var p in parts.Skip(1))
            if (Key(p.Config) != Key(first.Config))
                throw new ConfigException("merge: the results files were made with different configs (apart from seeds); merge only runs of one preset and config.");
        var runs = new Dictionary<(string, SparseMethod, string, long), MethodRun>();
        var order = new Dictionary<(string, SparseMethod, string), int>();          // first appearance: the experiment's own order
        foreach (var r in parts.SelectMany(p => p.Runs))
        {
            runs[(r.Model, r.Method, r.Pattern, r.Seed)] = r;
            order.TryAdd((r.Model, r.Method, r.Pattern), order.Count);
        }
        var seeds = parts.SelectMany(p => p.Config.SeedList).Distinct().Order().ToArray();
        var cfg = first.Config with { Seeds = seeds };
        var list = runs.Values.OrderBy(r => order[(r.Model, r.Method, r.Pattern)]).ThenBy(r => r.Seed).ToList();
        var allParts = parts.SelectMany(p => p.Parts ?? [new RunPart(p.Config.SeedList, p.WallSeconds, p.StartedUtc, $"{p.Runtime.Device} ({p.Runtime.DeviceName})", "")]).ToList();
        return new LbcResults(first.Paper, first.Preset, cfg, first.Runtime, list, LbcClaims.Evaluate(cfg, list),
            parts.Sum(p => p.WallSeconds), parts.Min(p => p.StartedUtc)!, allParts);
    }

    /// <summary>
    /// The dense model (the Dense baseline and ASP's starting point), reused from the checkpoint cache when the same suite,
    /// seed, data and recipe were trained before on the same kind of device: its weights and its training record are cached
    /// together, so a re-run (or a notebook) does not retrain it. Set <c>PAPERS_CACHE</c> to move the cache.
    /// </summary>
    static (MethodRun Run, bool FromCache) TrainDense(ref SparsifiableNet dense, LbcSuite suite, long seed, LbcData data, LbcConfig cfg, RuntimeInfo rt)
    {
        var cache = CheckpointCache.Default();
        var key = new { v = 1, suite, seed, cfg.TrainLimit, cfg.TestLimit, cfg.BatchSize, cfg.LabelSmoothing, rt.Device };
        var weights = cache.PathFor(Slug, $"dense-{suite.Model}", key, "bin");
        var record = cache.PathFor(Slug, $"dense-{suite.Model}", key, "json");
        if (File.Exists(weights) && File.Exists(record))
        {
            try
            {
                var cached = System.Text.Json.JsonSerializer.Deserialize<MethodRun>(File.ReadAllText(record), AtomicFile.Json)
                    ?? throw new System.Text.Json.JsonException("empty record");
                dense.load(weights);
                return (cached, true);
            }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException or ArgumentException or InvalidOperationException)
            {
                Console.Error.WriteLine($"[lbc] ignoring a broken cache entry {weights}: {e.Message}; retraining");
                dense.Dispose();
                dense = NewNet(suite.Model, seed, data.Train.Images.device);   // a half-loaded net must not be trained on
            }
        }
        var run = LbcTrainer.Train(dense, suite, SparseMethod.Dense, suite.Patterns[0], seed, data, cfg);
        var net = dense;
        cache.Put(weights, tmp => net.save(tmp));
        AtomicFile.WriteJson(record, run, indented: false);
        return (run, false);
    }

    /// <summary>A fresh network with the seed's initialisation (every method of a seed starts from the same weights).</summary>
    public static SparsifiableNet NewNet(LbcModel model, long seed, Device device)
    {
        Seeding.SeedAll(seed);
        var net = LbcTrainer.CreateNet(model);
        net.to(device);
        return net;
    }
}
