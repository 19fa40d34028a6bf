using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Workbench.Runtime;

/// <summary>
/// GPU memory as the driver sees it, through NVML (<c>libnvidia-ml.so.1</c>), because TorchSharp 0.107 exposes no
/// <c>max_memory_allocated</c>. <see cref="ProcessUsedBytes"/> is this process's usage when the driver lists it (it may
/// not inside a container, whose PIDs differ from the host's); otherwise <see cref="DeviceUsedBytes"/>. Numbers include the
/// CUDA context and the caching allocator's reserve, so measure each configuration in a fresh process.
/// </summary>
public static class GpuMemory
{
    [StructLayout(LayoutKind.Sequential)]
    struct ProcessInfo { public uint Pid; public ulong UsedGpuMemory; public uint GpuInstanceId; public uint ComputeInstanceId; }

    [StructLayout(LayoutKind.Sequential)]
    struct MemoryInfo { public ulong Total; public ulong Free; public ulong Used; }

    const string Lib = "libnvidia-ml.so.1";
    [DllImport(Lib)] static extern int nvmlInit_v2();
    [DllImport(Lib)] static extern int nvmlDeviceGetHandleByIndex_v2(uint index, out IntPtr device);
    [DllImport(Lib)] static extern int nvmlDeviceGetComputeRunningProcesses_v3(IntPtr device, ref uint count, [Out] ProcessInfo[]? infos);
    [DllImport(Lib)] static extern int nvmlDeviceGetMemoryInfo(IntPtr device, out MemoryInfo memory);

    static IntPtr handle;
    static bool? available;

    static bool Init()
    {
        if (available is bool a) return a;
        try { available = nvmlInit_v2() == 0 && nvmlDeviceGetHandleByIndex_v2(0, out handle) == 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException) { available = false; }
        return available.Value;
    }

    public static bool Available => Init();

    [ThreadStatic] static ProcessInfo[]? buffer;

    /// <summary>Bytes this process uses on GPU 0, or null when NVML is missing or does not list this PID.</summary>
    public static long? ProcessUsedBytes()
    {
        if (!Init()) return null;
        // One buffer per thread: the peak sampler polls every 2 ms and must not make garbage (allocations on a second
        // thread are what trigger collections during TorchSharp's native calls; see TorchGuard).
        var infos = buffer ??= new ProcessInfo[64];
        uint count = (uint)infos.Length;
        if (nvmlDeviceGetComputeRunningProcesses_v3(handle, ref count, infos) != 0) return null;
        int pid = Environment.ProcessId;
        for (int i = 0; i < count; i++) if (infos[i].Pid == pid) return (long)infos[i].UsedGpuMemory;
        return null;
    }

    /// <summary>Bytes used on GPU 0 by everything, or null without NVML.</summary>
    public static long? DeviceUsedBytes()
    {
        if (!Init()) return null;
        return nvmlDeviceGetMemoryInfo(handle, out var m) == 0 ? (long)m.Used : null;
    }

    /// <summary>This process's GPU memory in use (the device's when the driver does not list this PID); null when
    /// <paramref name="device"/> is not CUDA or NVML is missing.</summary>
    public static long? UsedBytes(TorchSharp.torch.Device device) =>
        device.type == TorchSharp.DeviceType.CUDA ? ProcessUsedBytes() ?? DeviceUsedBytes() : null;

    /// <summary>The reading a <see cref="PeakSampler"/> started now would use: "NVML process" when the driver lists this
    /// process, else "NVML device", else "none".</summary>
    public static string PreferredSource => ProcessUsedBytes() is not null ? "NVML process" : DeviceUsedBytes() is not null ? "NVML device" : "none";

    /// <summary>The bytes in use as <paramref name="source"/> (a <see cref="PreferredSource"/> value) reads them; null for "none"
    /// or when the reading fails.</summary>
    public static long? Read(string source) => source switch
    {
        "NVML process" => ProcessUsedBytes(),
        "NVML device" => DeviceUsedBytes(),
        _ => null,
    };

    /// <summary>Polls usage on a background thread (every ~2 ms) and keeps the peak until disposed.</summary>
    public sealed class PeakSampler : IDisposable
    {
        readonly Thread thread;
        volatile bool stop;
        long peak;
        public string Source { get; }

        public PeakSampler()
        {
            Source = PreferredSource;
            thread = new Thread(() =>
            {
                while (!stop)
                {
                    var v = (Source == "NVML process" ? ProcessUsedBytes() : DeviceUsedBytes()) ?? 0;
                    if (v > Interlocked.Read(ref peak)) Interlocked.Exchange(ref peak, v);
                    Thread.Sleep(2);
                }
            }) { IsBackground = true, Name = "gpu-memory-peak" };
            if (Source != "none") thread.Start();
        }

        public long? Peak => Source == "none" ? null : Interlocked.Read(ref peak);

        public void Dispose() { stop = true; if (thread.IsAlive) thread.Join(); }
    }
}
