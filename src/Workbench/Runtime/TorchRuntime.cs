using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Runtime;

/// <summary>Which device a run asks for. <see cref="Auto"/> takes CUDA when it can be loaded, else CPU.</summary>
public enum DeviceChoice { Auto, Cpu, Cuda }

/// <summary>What <see cref="TorchRuntime.Init"/> loaded: where libtorch came from, the device, its name and memory.</summary>
public sealed record RuntimeInfo(
    string Device,
    string DeviceName,
    string LibtorchOrigin,
    long? DeviceMemoryBytes,
    int CpuThreads,
    IReadOnlyList<string> Notes)
{
    [System.Text.Json.Serialization.JsonIgnore]
    public bool IsCuda => Device.StartsWith("cuda", StringComparison.Ordinal);
    [System.Text.Json.Serialization.JsonIgnore]
    public torch.Device TorchDevice => new(Device);

    public override string ToString()
    {
        var mem = DeviceMemoryBytes is long b ? $", {b / (1024.0 * 1024 * 1024):F1} GiB" : "";
        var s = $"device {Device} ({DeviceName}{mem}); libtorch from {LibtorchOrigin}; {CpuThreads} CPU threads";
        return Notes.Count == 0 ? s : s + Environment.NewLine + string.Join(Environment.NewLine, Notes.Select(n => "  note: " + n));
    }
}

/// <summary>
/// The one entry point that loads libtorch, used alike by the CLI, the tests and notebooks.
/// Order of preference for <see cref="DeviceChoice.Auto"/> and <see cref="DeviceChoice.Cuda"/>:
/// (1) TorchSharp's own CUDA natives if they sit beside the application (libtorch-cuda package);
/// (2) the libtorch of an existing PyTorch install: the folder named by <c>PAPERS_TORCH_LIB</c>, else the one
///     <c>python3 -c "import torch"</c> reports (only a CUDA build of torch is used);
/// (3) CPU with the libtorch-cpu package. Call it before any other use of TorchSharp: libtorch loads once per process.
/// </summary>
public static class TorchRuntime
{
    /// <summary>Environment variable naming a PyTorch <c>torch/lib</c> folder to load libtorch from.</summary>
    public const string TorchLibVariable = "PAPERS_TORCH_LIB";
    /// <summary>Environment variable overriding the device choice: auto, cpu or cuda.</summary>
    public const string DeviceVariable = "PAPERS_DEVICE";

    /// <summary>PyTorch's libraries in load order (each one's dependencies come before it).</summary>
    public static readonly string[] PyTorchLibs = ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    static readonly object Gate = new();
    static RuntimeInfo? current;
    static string? preloaded, pyTorchVersion;

    /// <summary>" (torch 2.11.0; TorchSharp 0.107 is built for libtorch 2.10)" when python reported another version.</summary>
    static string TorchVersionNote() => pyTorchVersion is null ? "" :
        pyTorchVersion.StartsWith("2.10", StringComparison.Ordinal) ? $" (torch {pyTorchVersion})"
        : $" (torch {pyTorchVersion}; TorchSharp 0.107 is built for libtorch 2.10: checked to work with 2.11 on an H100)";

    /// <summary>The runtime loaded so far, or null before <see cref="Init"/>.</summary>
    public static RuntimeInfo? Current => current;

    /// <summary>Parses "auto", "cpu", "cuda" (case-insensitive); throws with the accepted values otherwise.</summary>
    public static DeviceChoice ParseChoice(string? text) => (text ?? "auto").Trim().ToLowerInvariant() switch
    {
        "" or "auto" or "best" => DeviceChoice.Auto,
        "cpu" => DeviceChoice.Cpu,
        "cuda" or "gpu" => DeviceChoice.Cuda,
        var other => throw new ArgumentException($"Unknown device '{other}': use auto, cpu or cuda."),
    };

    /// <summary>Loads libtorch once and reports what was loaded. Later calls return the first result
    /// (and throw if they ask for CUDA after CPU was loaded).</summary>
    public static RuntimeInfo Init(DeviceChoice choice = DeviceChoice.Auto)
    {
        lock (Gate)
        {
            var env = Environment.GetEnvironmentVariable(DeviceVariable);
            if (choice == DeviceChoice.Auto && !string.IsNullOrWhiteSpace(env)) choice = ParseChoice(env);
            if (current is not null)
            {
                if (choice == DeviceChoice.Cuda && !current.IsCuda)
                    throw new InvalidOperationException(
                        $"CUDA was requested, but this process already loaded libtorch for {current.Device} ({current.LibtorchOrigin}). " +
                        "libtorch loads once per process: start a new process with --device cuda.");
                return current;
            }
            current = Load(choice);   // TorchGuard is already installed: the workbench's module initializer ran before this
            if (!TorchGuard.Active)
                current = current with { Notes = [.. current.Notes, $"TorchSharp finalizer guard {TorchGuard.Status}: rare crashes ('toFloat', segfault) are possible when other threads allocate."] };
            return current;
        }
    }

    static RuntimeInfo Load(DeviceChoice choice)
    {
        var notes = new List<string>();
        if (choice != DeviceChoice.Cpu)
        {
            var cuda = TryCuda(notes);
            if (cuda is not null) return cuda;
            if (choice == DeviceChoice.Cuda)
                throw new InvalidOperationException(
                    "CUDA was requested but could not be loaded:" + Environment.NewLine +
                    string.Join(Environment.NewLine, notes.Select(n => "  - " + n)) + Environment.NewLine +
                    $"Fix: install a CUDA build of PyTorch for python3, or set {TorchLibVariable} to its torch/lib folder " +
                    "(python3 -c \"import torch,os;print(os.path.dirname(torch.__file__)+'/lib')\"), or run with --device cpu.");
        }
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                "libtorch (CPU) could not be loaded: " + FirstLine(e.Message) + Environment.NewLine +
                "Fix: run scripts/setup (TorchSharp 0.107 needs libstdc++ with GLIBCXX_3.4.32, from GCC 13 or newer; " +
                "on Debian 12 the script installs it from trixie), and build with the libtorch-cpu package (the default).", e);
        }
        ConfigureThreads();
        // When PyTorch's libraries were loaded for CUDA but no GPU answered, TorchSharp links against them on the CPU too.
        var origin = preloaded is null ? "TorchSharp package libtorch-cpu-linux-x64 2.10.0" : $"PyTorch install {preloaded}{TorchVersionNote()} (CPU only: CUDA did not start)";
        return new RuntimeInfo("cpu", CpuName(), origin, MemTotal(), torch.get_num_threads(), notes);
    }

    static void ConfigureThreads()
    {
        // libtorch defaults to one intra-op thread per core already; keep it explicit and bounded.
        var n = Math.Max(1, Environment.ProcessorCount);
        if (torch.get_num_threads() != n) torch.set_num_threads(n);
    }

    static RuntimeInfo? TryCuda(List<string> notes)
    {
        // (1) TorchSharp's CUDA package: its natives are copied beside the app.
        var appDir = AppContext.BaseDirectory;
        if (File.Exists(Path.Combine(appDir, "libtorch_cuda.so")) ||
            File.Exists(Path.Combine(appDir, "runtimes", "linux-x64", "native", "libtorch_cuda.so")))
        {
            if (TryInitCuda(notes, "TorchSharp CUDA package")) return CudaInfo("TorchSharp CUDA package (beside the app)", notes);
        }
        // (2) An existing PyTorch install.
        var lib = FindPyTorchLib(notes);
        if (lib is null) return null;
        var missing = PyTorchLibs.Where(n => !File.Exists(Path.Combine(lib, n))).ToList();
        if (missing.Count > 0) { notes.Add($"{lib} lacks {string.Join(", ", missing)}: not a CUDA build of PyTorch."); return null; }
        foreach (var name in PyTorchLibs)
        {
            var path = Path.Combine(lib, name);
            try { NativeLibrary.Load(path); }
            catch (Exception e)
            {
                // Part of PyTorch's libtorch may already be in the process: TorchSharp would link against it, so a silent
                // fallback to the CPU package is not possible.
                throw new InvalidOperationException($"Loading {path} failed: {FirstLine(e.Message)}. Fix: repair that PyTorch install, " +
                    $"point {TorchLibVariable} at a working one, or run with --device cpu.", e);
            }
        }
        preloaded = lib;
        if (TryInitCuda(notes, "PyTorch's libtorch")) return CudaInfo($"PyTorch install {lib}{TorchVersionNote()}", notes);
        return null;
    }

    static bool TryInitCuda(List<string> notes, string what)
    {
        try
        {
            torch.InitializeDeviceType(DeviceType.CUDA);
            if (torch.cuda.is_available()) return true;
            notes.Add($"{what} loaded, but torch.cuda.is_available() is false (no GPU or driver visible).");
        }
        catch (Exception e)
        {
            notes.Add($"{what}: CUDA initialisation failed: {FirstLine(e.Message)}");
        }
        return false;
    }

    static RuntimeInfo CudaInfo(string origin, List<string> notes)
    {
        // fp32 matmuls and convolutions use TF32 tensor cores, as PyTorch's common training recipes do.
        torch.backends.cuda.matmul.allow_tf32 = true;
        torch.backends.cudnn.allow_tf32 = true;
        var (name, mem) = QueryNvidiaSmi();
        return new RuntimeInfo("cuda", name ?? "CUDA device", origin, mem, torch.get_num_threads(), notes);
    }

    /// <summary>The torch/lib folder of a PyTorch install: <c>PAPERS_TORCH_LIB</c>, else python3's torch if it is a CUDA build.</summary>
    public static string? FindPyTorchLib(List<string> notes)
    {
        var env = Environment.GetEnvironmentVariable(TorchLibVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            if (Directory.Exists(env)) return env;
            notes.Add($"{TorchLibVariable}={env}: no such folder.");
            return null;
        }
        var py = RunQuiet("python3", "-c \"import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'));print(torch.version.cuda);print(torch.__version__)\"", 60_000);
        if (py is null) { notes.Add("python3 has no torch module (or no python3): no PyTorch libtorch to borrow."); return null; }
        var lines = py.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (lines.Length < 2 || !Directory.Exists(lines[0])) { notes.Add($"python3 torch reported an unexpected lib folder: {py.Trim()}"); return null; }
        if (lines[1] == "None") { notes.Add($"python3's torch at {lines[0]} is a CPU-only build: not used."); return null; }
        pyTorchVersion = lines.Length > 2 ? lines[2] : null;
        return lines[0];
    }

    static (string? Name, long? Bytes) QueryNvidiaSmi()
    {
        var o = RunQuiet("nvidia-smi", "--query-gpu=name,memory.total --format=csv,noheader,nounits -i 0", 20_000);
        if (o is null) return (null, null);
        var parts = o.Trim().Split(',', StringSplitOptions.TrimEntries);
        long? mem = parts.Length > 1 && long.TryParse(parts[1], out var mib) ? mib * 1024 * 1024 : null;
        return (parts[0], mem);
    }

    /// <summary>Runs a program and returns its stdout, or null when it is missing, fails or times out.</summary>
    internal static string? RunQuiet(string file, string args, int timeoutMs)
    {
        try
        {
            var psi = new ProcessStartInfo(file, args)
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi);
            if (p is null) return null;
            var stdout = p.StandardOutput.ReadToEndAsync();
            _ = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeoutMs)) { try { p.Kill(true); } catch { } return null; }
            return p.ExitCode == 0 ? stdout.Result : null;
        }
        catch { return null; }
    }

    static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) return line[(line.IndexOf(':') + 1)..].Trim() + $", {Environment.ProcessorCount} cores";
        }
        catch { }
        return $"{RuntimeInformation.ProcessArchitecture} CPU, {Environment.ProcessorCount} cores";
    }

    static long? MemTotal()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], out var kb)) return kb * 1024;
        }
        catch { }
        return null;
    }

    static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();
}
