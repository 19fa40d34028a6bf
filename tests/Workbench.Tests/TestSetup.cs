using Workbench.Runtime;
using Xunit;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Workbench.Tests;

/// <summary>Loads libtorch once for the test process (CPU here; CUDA where the machine has it) and silences progress.</summary>
public static class T
{
    static readonly Lazy<RuntimeInfo> rt = new(() =>
    {
        Progress.Enabled = false;
        return TorchRuntime.Init(DeviceChoice.Auto);
    });

    public static RuntimeInfo Rt => rt.Value;

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "papers-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
