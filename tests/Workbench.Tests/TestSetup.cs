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
        // Tests never read or fill the user's checkpoint cache.
        Environment.SetEnvironmentVariable(CheckpointCache.Variable, Path.Combine(Path.GetTempPath(), "papers-tests", "cache-" + Guid.NewGuid().ToString("N")));
        return TorchRuntime.Init(DeviceChoice.Auto);
    });

    public static RuntimeInfo Rt => rt.Value;

    /// <summary>The repository root (the folder holding Papers.sln).</summary>
    public static string RepoRoot()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "Papers.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("Papers.sln not found above the test binaries.");
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "papers-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        return d;
    }
}
