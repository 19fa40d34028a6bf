using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Runtime;

/// <summary>
/// Sizes a training loop to a time budget (without one it only watches the deadline): the loop calls <see cref="Step"/> after every step and
/// runs while <c>done &lt; Target</c>. The first <c>untimed</c> steps (CUDA context, kernel loading, allocator warm-up) are
/// timed on their own; the next <c>probe</c> steps give the per-step cost and <see cref="TimeBudget.FitSteps"/> turns the
/// budget into a step count, refitted after 2·probe, 4·probe, … steps as the rate settles, or at once when the probe steps
/// alone take a tenth of the budget (a slow device). The loop also stops, recorded in <see cref="Stopped"/>, right after
/// the step in which the <see cref="Deadline"/> passes (budget or not: SIGTERM sets it to now) or once it runs 10% past
/// its budget. When <see cref="Step"/> returns true the target changed:
/// a loop with a learning-rate schedule rebuilds it for <see cref="Target"/>. Used by every trainer (SFT, SceneVQA model T,
/// the diffusion UNet, its evaluators and ControlNet).
/// </summary>
public sealed class TrainBudget
{
    readonly double? seconds;
    readonly int minimum, untimed;
    readonly Device? device;
    readonly Stopwatch sw = Stopwatch.StartNew();
    int nextFit;
    double first = -1;

    public int Requested { get; }
    /// <summary>How many steps the loop runs (the requested count until fitted).</summary>
    public int Target { get; private set; }
    /// <summary>True once the step count was fitted to the budget (even if all requested steps fit).</summary>
    public bool Fitted { get; private set; }
    /// <summary>Why the loop stopped before its fitted target (deadline passed, over budget), else null.</summary>
    public string? Stopped { get; private set; }
    /// <summary>Seconds the loop may take (null without a deadline).</summary>
    public double? Seconds => seconds;

    /// <param name="requested">the steps the config asks for.</param>
    /// <param name="seconds">the loop's budget in seconds from now, or null (no budget: all steps).</param>
    /// <param name="device">synchronised before each timing on CUDA (null: the loop synchronises itself, e.g. by reading the loss).</param>
    /// <param name="probe">steps timed (after the untimed ones) before the first fit.</param>
    /// <param name="minimum">steps run however short the budget (0: 1% of the requested, at least 10).</param>
    /// <param name="untimed">first steps not counted in the pace.</param>
    public TrainBudget(int requested, double? seconds, Device? device = null, int probe = 20, int minimum = 0, int untimed = 1)
    {
        Requested = Target = requested;
        this.seconds = seconds;
        this.device = device;
        this.untimed = Math.Clamp(untimed, 1, Math.Max(1, requested));
        nextFit = Math.Max(1, probe);
        this.minimum = Math.Min(requested, minimum > 0 ? minimum : Math.Max(10, requested / 100));
    }

    /// <summary>A budget of <paramref name="fraction"/> of the seconds left before the <see cref="Deadline"/> (none without one).</summary>
    public static TrainBudget OfTimeLeft(int requested, double fraction, Device? device = null, int probe = 20, int minimum = 0, int untimed = 1) =>
        new(requested, TimeBudget.Share(fraction), device, probe, minimum, untimed);

    /// <summary>Call after each step with the steps done so far; returns true when <see cref="Target"/> changed.</summary>
    public bool Step(int done)
    {
        if (done >= Target) return false;
        // The deadline (or SIGTERM, which sets it to now) stops the loop after the current step, budget or not.
        if (Deadline.Passed)
        {
            Stopped = $"stopped at step {done:N0} of {Target:N0} (deadline passed)";
            Target = done;
            return true;
        }
        if (seconds is not double b) return false;
        if (done == untimed) { Sync(); first = sw.Elapsed.TotalSeconds; return false; }
        if (done < untimed) return false;
        double t = sw.Elapsed.TotalSeconds;
        bool slow = !Fitted && done >= untimed + 2 && t - first > 0.1 * (b - first);
        if (done - untimed == nextFit || slow)
        {
            Sync();
            t = sw.Elapsed.TotalSeconds;
            int fit = untimed + TimeBudget.FitSteps(Requested - untimed, done - untimed, t - first, b - first, Math.Max(1, minimum - untimed));
            Fitted = true;
            while (nextFit <= done - untimed) nextFit *= 2;
            if (fit == Target) return false;
            Target = fit;
            return true;
        }
        // A slow-down after the last fit: stop once 10% over the budget (not below the minimum).
        if (done % 10 == 0 && done >= minimum && Fitted && t > 1.1 * b)
        {
            Stopped = $"stopped at step {done:N0} of {Target:N0} (over its time budget)";
            Target = done;
            return true;
        }
        return false;
    }

    void Sync() { if (device is { type: DeviceType.CUDA }) torch.cuda.synchronize(); }

    /// <summary>The note a result records when steps were cut (the fitted count and any stop), else null.</summary>
    public string? Cut(int done) =>
        string.Join("; ", new[] { TimeBudget.CutNote(done, Requested), Stopped }.Where(s => s is not null)) is { Length: > 0 } s ? s : null;

    /// <summary>EMA decay for the fitted count: <c>ema^(requested/target)</c>, so the initial weights keep the same share
    /// of the average (ema^requested) as in the full run. Unchanged when nothing was cut.</summary>
    public double EmaDecay(double ema) => Target >= Requested || ema <= 0 ? ema : Math.Pow(ema, Requested / (double)Target);
}
