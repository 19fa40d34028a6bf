using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using TorchSharp;

namespace Workbench.Runtime;

/// <summary>
/// Handlers of the probes a fresh process can run, by kind (<c>"remax-memory"</c>, <c>"diffusion-memory"</c>): each parses its
/// JSON request, runs in this process on a device and returns its result as JSON. The CLI's hidden <c>papers probe KIND JSON</c>
/// dispatches here (the papers' handlers are listed in <c>Workbench.Papers.Probes</c>).
/// </summary>
public sealed class ProbeHandlers
{
    readonly Dictionary<string, Func<string, torch.Device, string>> handlers = new(StringComparer.Ordinal);

    /// <summary>Adds the handler of <paramref name="kind"/> (a kind can be added once).</summary>
    public ProbeHandlers Add<TRequest, TResult>(string kind, Func<TRequest, torch.Device, TResult> run)
    {
        if (string.IsNullOrWhiteSpace(kind)) throw new ArgumentException("A probe kind needs a name.", nameof(kind));
        if (!handlers.TryAdd(kind, (json, device) => JsonSerializer.Serialize(run(ChildProbe.Parse<TRequest>(kind, json), device), AtomicFile.Json)))
            throw new ArgumentException($"The probe kind '{kind}' is already registered.", nameof(kind));
        return this;
    }

    public IReadOnlyCollection<string> Kinds => handlers.Keys;

    /// <summary>Throws a <see cref="ConfigException"/> naming the known kinds when <paramref name="kind"/> is not one of them
    /// (the CLI checks before it loads libtorch).</summary>
    public void Require(string kind)
    {
        if (!handlers.ContainsKey(kind))
            throw new ConfigException($"probe: unknown kind '{kind}'. Known kinds: {string.Join(", ", handlers.Keys.Order(StringComparer.Ordinal))}.");
    }

    /// <summary>Runs the handler of <paramref name="kind"/> on <paramref name="requestJson"/>; the result as JSON.</summary>
    /// <exception cref="ConfigException">The kind is unknown or the request does not parse.</exception>
    public string Dispatch(string kind, string requestJson, torch.Device device)
    {
        Require(kind);
        return handlers[kind](requestJson, device);
    }
}

/// <summary>
/// Runs a measurement in a fresh process of this program, so it starts from an empty CUDA caching allocator. TorchSharp 0.107
/// has no <c>empty_cache</c> and no <c>max_memory_allocated</c>: in one process every NVML reading is the high-water mark of
/// everything run before it, so methods can only be compared across processes.
/// </summary>
/// <remarks>
/// The library cannot start the CLI by itself: the CLI sets <see cref="Launcher"/> (usually <see cref="SelfLauncher"/>), and
/// experiments fall back (run in-process, or record an unmeasured row) when it is null (tests, notebooks) or the run is on CPU.
/// The child inherits the environment, so <c>PAPERS_DEADLINE</c> and <c>PAPERS_CACHE</c> mean the same to it as to the parent.
/// </remarks>
public static class ChildProbe
{
    /// <summary>The child prints its result as one line starting with this prefix (anything else on stdout is ignored).</summary>
    public const string ResultPrefix = "PROBE-RESULT ";

    /// <summary>The longest a probe may take (and the shortest wait it is given when a time budget is nearly spent).</summary>
    public const double MaxSeconds = 300, MinSeconds = 5;

    /// <summary>Runs one probe (kind, request JSON) in a fresh process and returns its result JSON; set by the CLI, null
    /// elsewhere. Throws when the child fails, times out or prints no result line.</summary>
    public static Func<string, string, string>? Launcher { get; set; }

    /// <summary>The <c>Source</c> of a result row whose probe failed: "probe failed: " and the error on one line (at most 300
    /// characters), so the row says why nothing was measured.</summary>
    public static string FailureNote(Exception e)
    {
        var msg = e.Message.ReplaceLineEndings(" ");
        return "probe failed: " + (msg.Length > 300 ? msg[..300] + "…" : msg);
    }

    /// <summary>Seconds a probe leaves before the deadline for the run's own last steps (writing its results).</summary>
    public const double ReserveSeconds = 8;

    /// <summary>How long to wait for a child: <see cref="MaxSeconds"/>, never into the last <see cref="ReserveSeconds"/> of the
    /// time budget (at least <see cref="MinSeconds"/>).</summary>
    public static TimeSpan WaitLimit => TimeSpan.FromSeconds(Math.Clamp(Deadline.SecondsLeft - ReserveSeconds ?? MaxSeconds, MinSeconds, MaxSeconds));

    /// <summary>Serialises <paramref name="request"/>, runs it through <paramref name="launcher"/> (default <see cref="Launcher"/>)
    /// and parses the result.</summary>
    public static TResult Launch<TRequest, TResult>(string kind, TRequest request, Func<string, string, string>? launcher = null)
    {
        launcher ??= Launcher ?? throw new InvalidOperationException("No probe launcher is registered (only the papers CLI can start one).");
        return Parse<TResult>(kind, launcher(kind, Serialize(request)));
    }

    /// <summary>One-line JSON (a command-line argument or a result line).</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, AtomicFile.Json).ReplaceLineEndings(" ");

    /// <summary>Parses <paramref name="json"/> as <typeparamref name="T"/>; a clear <see cref="ConfigException"/> when it does not.</summary>
    public static T Parse<T>(string kind, string json)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(json, AtomicFile.Json) ?? throw new ConfigException($"probe {kind}: empty JSON (null).");
        }
        catch (JsonException e) { throw new ConfigException($"probe {kind}: the JSON is not a {typeof(T).Name}: {e.Message}"); }
    }

    /// <summary>The line a child prints for its result.</summary>
    public static string ResultLine(string resultJson) => ResultPrefix + resultJson.ReplaceLineEndings(" ");

    /// <summary>The result JSON in a child's stdout (its last prefixed line), or null.</summary>
    public static string? FindResult(string stdout) =>
        stdout.Split('\n').Select(l => l.TrimEnd('\r')).LastOrDefault(l => l.StartsWith(ResultPrefix, StringComparison.Ordinal))?[ResultPrefix.Length..];

    /// <summary>
    /// A launcher that starts this program again (<see cref="Environment.ProcessPath"/>, plus <paramref name="entryAssembly"/>
    /// when the host is <c>dotnet</c>) as <c>probe KIND JSON --device DEVICE</c>, reads stdout and stderr asynchronously (so
    /// the wait limit holds even when the child floods a pipe), waits at most <see cref="WaitLimit"/> and kills the child
    /// after it. For the CLI: only a program that dispatches <c>probe</c> to <see cref="ProbeHandlers"/> can be started so.
    /// </summary>
    public static Func<string, string, string> SelfLauncher(string? entryAssembly = null, string device = "cuda") => (kind, requestJson) =>
    {
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find this program's path to start a probe.");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
            psi.ArgumentList.Add(entryAssembly ?? Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("Cannot find the entry assembly to start a probe."));
        foreach (var a in new[] { "probe", kind, requestJson.ReplaceLineEndings(" "), "--device", device }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start the {kind} probe process.");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var limit = WaitLimit;
        if (!p.WaitForExit(limit))
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }   // exited in between
            throw new InvalidOperationException($"The {kind} probe took more than {limit.TotalSeconds:F0} s{(Deadline.At is null ? "" : " (capped by the time budget)")}.");
        }
        // Both pipes close when the child exits; a grandchild holding them open must not hang the parent.
        if (!Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(10))) throw new InvalidOperationException($"The {kind} probe exited but its output did not close.");
        return FindResult(stdout.Result)
               ?? throw new InvalidOperationException($"The {kind} probe failed (exit {p.ExitCode}): {Tail(stderr.Result)}");
    };

    static string Tail(string s)
    {
        s = s.Trim().ReplaceLineEndings(" ");
        return s.Length == 0 ? "no output on stderr" : s.Length > 400 ? "…" + s[^400..] : s;
    }
}
