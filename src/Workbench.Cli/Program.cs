using System.Diagnostics;
using Workbench.Papers;
using Workbench.Runtime;

namespace Workbench.Cli;

public static class Program
{
    const string Usage = """
        papers — the Papers research workbench

        usage:
          papers reproduce <paper> [--preset test|gpu] [--device auto|cpu|cuda] [--out DIR] [--seed N] [--epochs N] [--budget SECONDS]
              Runs a paper's headline experiment and writes results.json, claims.md and report.html to DIR
              (default runs/<paper>-<preset>). --device auto takes CUDA when it can be loaded, else CPU.
              --budget SECONDS (or PAPERS_DEADLINE, Unix seconds): papers that support it size their long phases to
              fit (fewer training steps, fewer prompts) and record what they cut.
          papers merge <paper> <results-dir>... --out DIR
              Merges separate runs of one config (e.g. one seed per process) into one results folder with
              recomputed claims (mean ± sd over seeds) and report.
          papers notebook run <file.ipynb|folder> [--preset test|gpu] [--seed N] [--device auto|cpu|cuda] [--out DIR]
              Executes notebooks headless (parameters injected after the cell tagged `parameters`) and writes each
              executed .ipynb and a standalone HTML report to DIR (default runs/notebooks). Exit code 1 if a cell fails.
          papers report [--results DIR] [--out DIR]
              Builds an index page of every paper's claims table from results/ (default out: runs/report).
          papers kernel install [--prefix DIR]
              Registers the Papers Jupyter kernel (papers-csharp) for the user, or under DIR/share/jupyter/kernels.
          papers kernel run --connection-file FILE
              Runs the kernel (Jupyter starts it this way).
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
                    Console.WriteLine($"torch guard: {TorchGuard.Status}");
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
                    if (opts.TryGetValue("budget", out var bud))
                    {
                        long secs = ParseLong("budget", bud);
                        if (secs <= 0) throw new ConfigException($"--budget {bud}: give the seconds this run may take (> 0).");
                        // The earlier of this budget and a deadline already set (run-all's whole device call).
                        long end = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + secs;
                        if (Deadline.At is { } outer) end = Math.Min(end, outer.ToUnixTimeSeconds());
                        Environment.SetEnvironmentVariable(Deadline.Variable, end.ToString());
                    }
                    Deadline.EnsureRunId();
                    // SIGTERM (a time limit's `timeout`): the deadline becomes now, so the run stops after its current unit
                    // (a training step, an evaluation, a prompt) and writes what it has; a second SIGTERM ends it at once.
                    // (A second SIGTERM within 5 s is the same request arriving twice — `timeout` signals the process group and
                    // run-all forwards it too — and is ignored.)
                    DateTime? firstTerm = null;
                    using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx =>
                    {
                        if (firstTerm is { } t0) { if ((DateTime.UtcNow - t0).TotalSeconds < 5) ctx.Cancel = true; return; }
                        firstTerm = DateTime.UtcNow;
                        ctx.Cancel = true;
                        Environment.SetEnvironmentVariable(Deadline.Variable, DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString());
                        Console.Error.WriteLine("[papers] SIGTERM: stopping after the current unit and writing the results (again after 5 s to stop now)");
                    });
                    var rt = TorchRuntime.Init(TorchRuntime.ParseChoice(opts.GetValueOrDefault("device")));
                    Console.WriteLine($"[papers] {rt}");
                    if (Deadline.SecondsLeft is double left) Console.WriteLine($"[papers] time budget: {left:F0} s ({Deadline.Variable}); long phases are sized to fit and cuts are recorded");
                    var sw = Stopwatch.StartNew();
                    // Memory probes (ReMax, CutDiffusion) run in fresh processes of this program on CUDA.
                    ChildProbe.Launcher = ChildProbe.SelfLauncher(typeof(Program).Assembly.Location);
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
                case "notebook":
                {
                    if (positional.Count != 2 || positional[0] != "run")
                        throw new ConfigException("usage: papers notebook run <file.ipynb|folder> [--preset test|gpu] [--seed N] [--device D] [--out DIR]");
                    var target = positional[1];
                    var files = Directory.Exists(target) ? Directory.GetFiles(target, "*.ipynb").Order().ToArray()
                        : File.Exists(target) ? [target] : throw new FileNotFoundException($"No notebook or folder at {target}.");
                    if (files.Length == 0) throw new FileNotFoundException($"No .ipynb files in {target}.");
                    var preset = Presets.Parse(opts.GetValueOrDefault("preset"));
                    var outDir = Path.GetFullPath(opts.GetValueOrDefault("out") ?? Path.Combine("runs", "notebooks"));
                    var rt = TorchRuntime.Init(TorchRuntime.ParseChoice(opts.GetValueOrDefault("device")));
                    Console.WriteLine($"[papers] {rt}");
                    int failed = 0;
                    foreach (var f in files)
                    {
                        var name = Path.GetFileNameWithoutExtension(f);
                        var p = new Dictionary<string, object> { ["Preset"] = preset.ToString().ToLowerInvariant(), ["OutDir"] = Path.Combine(outDir, name) };
                        if (opts.TryGetValue("seed", out var s)) p["Seed"] = ParseLong("seed", s);
                        if (opts.TryGetValue("device", out var d)) p["Device"] = d;
                        var r = Workbench.Notebooks.NotebookRunner.RunAsync(f, p, outDir, Console.Out).GetAwaiter().GetResult();
                        if (!r.Succeeded) failed++;
                        Console.WriteLine($"[papers] {name}: {(r.Succeeded ? "ok" : "FAILED at " + r.Error!.Located)} in {r.Seconds:F1}s -> {r.Report}");
                    }
                    return failed == 0 ? 0 : 1;
                }
                case "kernel":
                {
                    if (positional.Count == 1 && positional[0] == "install")
                    {
                        var dir = Workbench.Kernel.KernelSpec.Install(opts.GetValueOrDefault("prefix"));
                        Console.WriteLine($"[papers] installed kernelspec {Workbench.Kernel.KernelSpec.Name} in {dir}");
                        return 0;
                    }
                    if (positional.Count == 1 && positional[0] == "run")
                    {
                        var file = opts.GetValueOrDefault("connection-file") ?? throw new ConfigException("kernel run needs --connection-file FILE.");
                        using var server = new Workbench.Kernel.KernelServer(Workbench.Kernel.ConnectionInfo.Load(file));
                        server.Run();
                        return 0;
                    }
                    throw new ConfigException("usage: papers kernel install [--prefix DIR] | papers kernel run --connection-file FILE");
                }
                case "probe":
                case "probe-memory":
                {
                    // Internal: one measurement in a fresh process (started through ChildProbe by `reproduce` on CUDA), so it
                    // starts from an empty caching allocator. `probe-memory JSON` is the older spelling of `probe remax-memory JSON`.
                    if (args[0] == "probe-memory") positional.Insert(0, Workbench.Papers.Remax.MemoryProbe.Kind);
                    if (positional.Count != 2) throw new ConfigException($"usage: papers probe <kind> <json> [--device cuda]; kinds: {string.Join(", ", Probes.Handlers.Kinds.Order(StringComparer.Ordinal))}.");
                    Probes.Handlers.Require(positional[0]);
                    var rt = TorchRuntime.Init(TorchRuntime.ParseChoice(opts.GetValueOrDefault("device")));
                    Console.WriteLine(ChildProbe.ResultLine(Probes.Handlers.Dispatch(positional[0], positional[1], rt.TorchDevice)));
                    return 0;
                }
                case "report":
                {
                    var results = opts.GetValueOrDefault("results") ?? "results";
                    var outDir = opts.GetValueOrDefault("out") ?? Path.Combine("runs", "report");
                    var papers = Workbench.Claims.ResultsIndex.Read(results);
                    var path = Workbench.Claims.ResultsIndex.Build(papers).Save(Path.Combine(outDir, "index.html"));
                    Console.WriteLine($"[papers] report of {papers.Count} paper(s): {Path.GetFullPath(path)}");
                    return 0;
                }
                default:
                    Console.Error.WriteLine($"papers: unknown command '{args[0]}'.");
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }
        catch (Exception e) when (e is ConfigException or ArgumentException or IOException or InvalidOperationException or InvalidDataException)
        {
            Console.Error.WriteLine($"papers: {e.Message}");
            if (Environment.GetEnvironmentVariable("PAPERS_TRACE") == "1") Console.Error.WriteLine(e);
            return 1;
        }
    }

    static long ParseLong(string name, string v) =>
        long.TryParse(v, out var x) ? x : throw new ConfigException($"--{name} {v}: not an integer.");

    /// <summary>Parses --key value / --key=value pairs; the rest are positional.</summary>
    public static Dictionary<string, string> ParseOptions(string[] args, out List<string> positional)
    {
        string[] known = ["preset", "device", "out", "seed", "epochs", "budget", "results", "prefix", "connection-file"];
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
