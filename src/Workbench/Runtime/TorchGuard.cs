using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Workbench.Runtime;

/// <summary>
/// Guards against a use-after-free race in TorchSharp 0.107. Its operators pass temporary Scalars (the alpha = 1 of
/// every <c>a + b</c>, the 2.0 of <c>x * 2.0</c>) and temporary Tensors (outside dispose scopes) to libtorch without
/// keeping them alive; when any other thread triggers a garbage collection during that native call, the finalizer
/// thread frees the object while libtorch still reads it. The symptom is an intermittent
/// "Expected false to be true ... toFloat" error or a segmentation fault, seen in CI inside a notebook run; a loop of
/// <c>a + b</c> beside one allocating thread fails in under a second.
/// <para>
/// The fix lives in <c>libpapers_torch_guard.so</c> (Runtime/Native/torch_guard.c, built with the app): TorchSharp's
/// P/Invokes are resolved through it, it forwards every function to the real libLibTorchSharp.so except the two
/// dispose functions, and it delays by <see cref="DelaySeconds"/> the freeing of Scalars and of Tensors that the
/// finalizer (not an explicit Dispose) releases. Install runs from the workbench's module initializer, before any
/// TorchSharp call the workbench makes; <see cref="Status"/> says whether it is active.
/// </para>
/// </summary>
public static class TorchGuard
{
    /// <summary>The guard library's file name, beside the app's assemblies.</summary>
    public const string LibraryName = "libpapers_torch_guard.so";
    /// <summary>Set to 0 to run without the guard (to reproduce the race).</summary>
    public const string Variable = "PAPERS_TORCH_GUARD";
    /// <summary>How long a finalized Scalar or Tensor waits before libtorch frees it.</summary>
    public const double DelaySeconds = 2.0;

    static readonly object Gate = new();
    static bool installed;
    static string? guardPath;
    static IntPtr guardHandle;
    static IntPtr? resolved;   // what every LibTorchSharp import gets, decided once: the guard, the real library, or Zero (default probing)
    static string status = "not installed";

    /// <summary>"active (...)" or why the guard is off.</summary>
    public static string Status { get { lock (Gate) return status; } }

    /// <summary>True when TorchSharp's P/Invokes go through the guard library.</summary>
    public static bool Active { get { lock (Gate) return guardHandle != IntPtr.Zero; } }

#pragma warning disable CA2255 // a library module initializer is intended here: it must run before any TorchSharp call
    [ModuleInitializer]
    internal static void OnLoad() => Install();
#pragma warning restore CA2255

    /// <summary>Points TorchSharp's native calls at the guard library (once per process; later calls do nothing).
    /// Must run before TorchSharp's first native call to cover it; the workbench's module initializer sees to that.</summary>
    public static void Install()
    {
        lock (Gate)
        {
            if (installed) return;
            installed = true;
            if (Environment.GetEnvironmentVariable(Variable) == "0") { status = $"off ({Variable}=0)"; return; }
            if (!OperatingSystem.IsLinux()) { status = "off (Linux only)"; return; }
            guardPath = FindLibrary();
            if (guardPath is null) { status = $"off ({LibraryName} was not built: the build needs a C compiler, cc)"; return; }
            try
            {
                NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, Resolve);
                status = $"installed ({guardPath}); not yet loaded";
            }
            catch (InvalidOperationException e) { status = $"off (TorchSharp already has an import resolver: {e.Message})"; }
        }
    }

    static string? FindLibrary()
    {
        foreach (var dir in new[] { Path.GetDirectoryName(typeof(TorchGuard).Assembly.Location), AppContext.BaseDirectory })
            if (!string.IsNullOrEmpty(dir) && File.Exists(Path.Combine(dir, LibraryName))) return Path.Combine(dir, LibraryName);
        return null;
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != "LibTorchSharp") return IntPtr.Zero;
        lock (Gate) return resolved ??= Load(name, assembly, searchPath);
    }

    /// <summary>Loads the guard over the real library; with the lock held, once.</summary>
    static IntPtr Load(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        // The real library first (default probing, or PyTorch's libtorch preloaded for CUDA), so that the guard's
        // dependency on libLibTorchSharp.so binds to that same copy.
        if (!NativeLibrary.TryLoad(name, assembly, searchPath, out var real)) { status = "off (libLibTorchSharp.so not found by default probing)"; return IntPtr.Zero; }
        try
        {
            var h = NativeLibrary.Load(guardPath!);
            if (Init(h, DelaySeconds) != 1)
            {
                status = "off (the guard did not find THSTorch_dispose_scalar / THSTensor_dispose in libLibTorchSharp.so)";
                return real;
            }
            guardHandle = h;
            status = $"active (finalized Scalars and Tensors freed after {DelaySeconds} s; {guardPath})";
            return h;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException)
        {
            status = $"off ({LibraryName} failed to load: {e.Message.Split('\n')[0]})";
            return real;
        }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate int InitFn(double delaySeconds);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)] delegate void StatsFn([Out] ulong[] out3);

    static int Init(IntPtr h, double delay) =>
        Marshal.GetDelegateForFunctionPointer<InitFn>(NativeLibrary.GetExport(h, "papers_guard_init"))(delay);

    /// <summary>Objects deferred so far, freed after their delay, and waiting now; null when the guard is not active.</summary>
    public static (ulong Deferred, ulong Freed, ulong Pending)? Stats()
    {
        IntPtr h;
        lock (Gate) h = guardHandle;
        if (h == IntPtr.Zero) return null;
        var o = new ulong[3];
        Marshal.GetDelegateForFunctionPointer<StatsFn>(NativeLibrary.GetExport(h, "papers_guard_stats"))(o);
        return (o[0], o[1], o[2]);
    }
}
