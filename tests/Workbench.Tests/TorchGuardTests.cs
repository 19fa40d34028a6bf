using TorchSharp;
using Workbench.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

/// <summary>The guard against TorchSharp 0.107's finalizer race (see <see cref="TorchGuard"/>). Without the guard the
/// loop below fails within about a second on 2 cores: "Expected false to be true ... toFloat" for the Scalars, a
/// segmentation fault for the unscoped Tensors.</summary>
public class TorchGuardTests
{
    static readonly object?[] sink = new object?[64];

    [Fact]
    public void Guard_is_active_and_keeps_temporaries_alive_while_another_thread_collects()
    {
        _ = T.Rt;
        if (!OperatingSystem.IsLinux()) return;
        Assert.True(TorchGuard.Active, $"torch guard: {TorchGuard.Status}");
        var before = TorchGuard.Stats()!.Value;

        using var a = torch.randn(4, 64);
        using var b = torch.randn(4, 64);
        var stop = false;
        // A second thread that does nothing but allocate: it triggers collections while the test thread is inside libtorch.
        var noise = new Thread(() => { int i = 0; while (!Volatile.Read(ref stop)) sink[i++ & 63] = new byte[2048]; }) { IsBackground = true };
        int gcs = GC.CollectionCount(0);
        noise.Start();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        long ops = 0;
        try
        {
            while (sw.Elapsed.TotalSeconds < 2.5)
            {
                using (torch.NewDisposeScope())
                    for (int i = 0; i < 200; i++) { var c = a + b; var d = c * 2.0 + 1.0; ops += 3; }
                // Unscoped temporaries: only the finalizer releases a.mul(b) and its successors.
                for (int i = 0; i < 200; i++) { var r = a.mul(b).exp().mul(a).sum(); r.Dispose(); ops += 4; }
            }
        }
        finally { Volatile.Write(ref stop, true); noise.Join(); }
        gcs = GC.CollectionCount(0) - gcs;
        var after = TorchGuard.Stats()!.Value;
        Assert.True(gcs > 10, $"only {gcs} collections ran during {ops} ops: the test did not exercise the race");
        Assert.True(after.Deferred > before.Deferred, "no finalized Scalar or Tensor went through the guard");
    }
}
