using System.Diagnostics;
using TorchSharp;

namespace Workbench.Blocks.Rl;

/// <summary>
/// Wall-clock per named phase (generate, score, old+ref, update, …). On CUDA each phase ends with a device synchronise,
/// so queued kernels are charged to the phase that launched them.
/// </summary>
public sealed class PhaseTimer(torch.Device device)
{
    readonly Dictionary<string, double> seconds = new();
    readonly List<string> order = [];
    public IReadOnlyDictionary<string, double> Seconds => seconds;
    public IReadOnlyList<string> Phases => order;
    public double Total => seconds.Values.Sum();

    public T Time<T>(string phase, Func<T> body)
    {
        var sw = Stopwatch.StartNew();
        var r = body();
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
        Add(phase, sw.Elapsed.TotalSeconds);
        return r;
    }

    public void Time(string phase, Action body) => Time<int>(phase, () => { body(); return 0; });

    public void Add(string phase, double s)
    {
        if (!seconds.ContainsKey(phase)) { seconds[phase] = 0; order.Add(phase); }
        seconds[phase] += s;
    }

    /// <summary>A copy of the totals so far (for a per-step record).</summary>
    public Dictionary<string, double> Snapshot() => order.ToDictionary(p => p, p => Math.Round(seconds[p], 6));
}
