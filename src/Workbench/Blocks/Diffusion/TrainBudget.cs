using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion;

/// <summary>
/// Sizes a training loop to a share of the time left before <see cref="Deadline"/> (a no-op without one). The loop calls
/// <see cref="Step"/> after every step and runs while <c>done &lt; Target</c>. The first step (kernel loading, allocator
/// warm-up) is timed on its own; the next <c>probe</c> steps give the per-step cost, and <see cref="TimeBudget.FitSteps"/>
/// turns the share into a step count, refitted after 2·probe, 4·probe, … steps as the rate settles. The loop also stops if
/// it has used its whole share (a slow-down).
/// </summary>
public sealed class TrainBudget
{
    readonly double? share;
    readonly int minimum;
    int nextFit;
    readonly Device device;
    readonly Stopwatch sw = Stopwatch.StartNew();
    double first = -1;

    public int Requested { get; }
    /// <summary>How many steps the loop runs (the requested count until fitted).</summary>
    public int Target { get; private set; }
    /// <summary>True once the step count was fitted to the budget (even if all requested steps fit).</summary>
    public bool Fitted { get; private set; }

    /// <param name="fraction">share of the seconds left now (at the loop's start) the loop may take.</param>
    /// <param name="minimum">steps run however short the budget (0: 1% of the requested, at least 10; the first fit comes
    /// after 1 + <paramref name="probe"/> steps anyway).</param>
    public TrainBudget(int requested, double fraction, Device device, int probe = 20, int minimum = 0)
    {
        Requested = Target = requested;
        share = TimeBudget.Share(fraction);
        this.device = device;
        nextFit = Math.Max(1, probe);
        this.minimum = Math.Min(requested, minimum > 0 ? minimum : Math.Max(10, requested / 100));
    }

    /// <summary>Seconds of the share (null without a deadline).</summary>
    public double? Share => share;

    /// <summary>Call after each step with the steps done so far; returns true when <see cref="Target"/> changed.</summary>
    public bool Step(int done)
    {
        if (share is not double b || done >= Target) return false;
        if (done == 1) { Sync(); first = sw.Elapsed.TotalSeconds; return false; }
        if (done - 1 == nextFit)
        {
            // Refit at probe, 2·probe, 4·probe, … steps after the first: warm-up steps (allocator, kernel selection) weigh
            // less each time, so the rate converges to the steady one. The first step's cost is paid already.
            Sync();
            double t = sw.Elapsed.TotalSeconds;
            int fit = 1 + TimeBudget.FitSteps(Requested - 1, done - 1, t - first, b - first, Math.Max(1, minimum - 1));
            Fitted = true;
            nextFit *= 2;
            if (fit == Target) return false;
            Target = fit;
            return true;
        }
        // A slow-down after the last refit: stop once the share is used.
        if (Fitted && done % 10 == 0 && done >= minimum && sw.Elapsed.TotalSeconds > b) { Target = done; return true; }
        return false;
    }

    void Sync() { if (device.type == DeviceType.CUDA) torch.cuda.synchronize(); }

    /// <summary>EMA decay for the fitted count: <c>ema^(requested/target)</c>, so the initial weights keep the same share
    /// of the average (ema^requested) as in the full run. Unchanged when nothing was cut.</summary>
    public double EmaDecay(double ema) => Target >= Requested || ema <= 0 ? ema : Math.Pow(ema, Requested / (double)Target);
}

/// <summary>Training records in cached checkpoints: the steps actually done (a run under a deadline may have cut them),
/// so a later load reports the truth.</summary>
public static class TrainedCheckpoint
{
    public static Dictionary<string, string> Metadata(TrainResult r, string what) => new()
    {
        ["what"] = what, ["steps"] = r.Steps.ToString(CultureInfo.InvariantCulture),
        ["requested_steps"] = r.RequestedSteps.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The steps a cached checkpoint was trained for (<paramref name="requested"/> for checkpoints written before
    /// the count was recorded), and whether to use it: a checkpoint cut by a time budget is reused only by a run that has a
    /// deadline itself (the next paper of the same device call); a run without one retrains the full count.</summary>
    public static (int Steps, bool Use) Read(string path, int requested)
    {
        var meta = Safetensors.ReadMetadata(path);
        int steps = meta.TryGetValue("steps", out var s) && int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : requested;
        return (steps, steps >= requested || Deadline.At is not null);
    }

    /// <summary>A result for a loaded checkpoint.</summary>
    public static TrainResult Loaded(string what, int steps, int requested, string path, long parameters) =>
        new(what, [], steps, 0, true, path, parameters) { RequestedSteps = requested };
}
