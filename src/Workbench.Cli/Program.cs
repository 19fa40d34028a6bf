using System.Diagnostics;
using Workbench.Papers;
using Workbench.Runtime;

namespace Workbench.Cli;

public static class Program
{
    const string Usage = """
        papers — the Papers research workbench

        usage:
          papers reproduce <paper> [--preset test|gpu] [--device auto|cpu|cuda] [--out DIR] [--seed N] [--epochs N]
              Runs a paper's headline experiment and writes results.json, claims.md and report.html to DIR
              (default runs/<paper>-<preset>). --device auto takes CUDA when it can be loaded, else CPU.
          papers merge <paper> <results-dir>... --out DIR
              Merges separate runs of one config (e.g. one seed per process) into one results folder with
              recomputed claims (mean ± sd over seeds) and report.
          papers info [--device auto|cpu|cuda]
              Loads libtorch and reports what was loaded (origin, device, memory).
          papers list
              Lists the papers that can be reproduced.
        """;

    public static int Main(string[] args)
    {
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help") { Console.WriteLine(Usage); return args.Length == 0 ? 2 : 0; }
            var opts = ParseOptions(args.Skip(1).ToArray(), out var positional);
            switch (args[0])
            {
                case "list":
                    foreach (var p in Registry.All) Console.WriteLine($"{p.Slug,-16} {p.Title}");
                    return 0;
                case "info":
                {
                    var rt = TorchRuntime.Init(TorchRuntime.ParseChoice(opts.GetValueOrDefault("device")));
                    Console.WriteLine(rt);
                    return 0;
                }
                case "reproduce":
                {
                    if (positional.Count != 1) throw new ConfigException("reproduce needs exactly one paper, e.g. `papers reproduce lbc`. Run `papers list` to see them.");
                    var paper = Registry.Find(positional[0]);
                    var preset = Presets.Parse(opts.GetValueOrDefault("preset"));
                    var outDir = opts.GetValueOrDefault("out") ?? Path.Combine("runs", $"{paper.Slug}-{preset.ToString().ToLowerInvariant()}");
                    var ro = new ReproduceOptions(preset, outDir,
                        opts.TryGetValue("seed", out var s) ? ParseLong("seed", s) : null,
                        opts.TryGetValue("epochs", out var e) ? (int)ParseLong("epochs", e) : null);
                    var rt = TorchRuntime.Init(TorchRuntime.ParseChoice(opts.GetValueOrDefault("device")));
                    Console.WriteLine($"[papers] {rt}");
                    var sw = Stopwatch.StartNew();
                    var report = paper.Run(ro, rt, Console.Out);
                    Console.WriteLine($"[papers] {paper.Slug} ({preset}) done in {sw.Elapsed.TotalSeconds:F1}s: {Path.GetFullPath(report)}");
                    return 0;
                }
                case "merge":
                {
                    if (positional.Count < 2) throw new ConfigException("merge needs a paper and at least one results folder, e.g. `papers merge lbc runs/a runs/b --out results/lbc`.");
                    var paper = Registry.Find(positional[0]);
                    if (paper.Merge is null) throw new ConfigException($"{paper.Slug} has no merge step.");
                    var outDir = opts.GetValueOrDefault("out") ?? throw new ConfigException("merge needs --out DIR.");
                    var report = paper.Merge(positional.Skip(1).ToList(), outDir);
                    Console.WriteLine($"[papers] merged {positional.Count - 1} result folder(s): {Path.GetFullPath(report)}");
                    return 0;
                }
                default:
                    Console.Error.WriteLine($"papers: unknown command '{args[0]}'.");
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }
        catch (Exception e) when (e is ConfigException or ArgumentException or FileNotFoundException or IOException or InvalidOperationException)
        {
            Console.Error.WriteLine($"papers: {e.Message}");
            return 1;
        }
    }

    static long ParseLong(string name, string v) =>
        long.TryParse(v, out var x) ? x : throw new ConfigException($"--{name} {v}: not an integer.");

    /// <summary>Parses --key value / --key=value pairs; the rest are positional.</summary>
    public static Dictionary<string, string> ParseOptions(string[] args, out List<string> positional)
    {
        string[] known = ["preset", "device", "out", "seed", "epochs"];
        var d = new Dictionary<string, string>();
        positional = [];
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal)) { positional.Add(a); continue; }
            var key = a[2..]; string? val = null;
            var eq = key.IndexOf('=');
            if (eq >= 0) { val = key[(eq + 1)..]; key = key[..eq]; }
            if (!known.Contains(key)) throw new ConfigException($"Unknown option --{key}. Known: {string.Join(", ", known.Select(k => "--" + k))}.");
            if (val is null)
            {
                if (i + 1 >= args.Length) throw new ConfigException($"--{key} needs a value.");
                val = args[++i];
            }
            d[key] = val;
        }
        return d;
    }
}
