using System.Globalization;

namespace Workbench.Runtime;

/// <summary>
/// A wall-clock deadline for long experiments, from <c>PAPERS_DEADLINE</c> (Unix seconds, UTC). A device call has a hard
/// time limit; an experiment that checks <see cref="Passed"/> between its work units (a prompt, a run) stops starting new
/// ones after the deadline and writes what it has, marked as cut, instead of being killed with nothing written.
/// <c>run-all --budget S</c> sets it for a whole device call. Unset: no deadline.
/// </summary>
public static class Deadline
{
    public const string Variable = "PAPERS_DEADLINE";

    /// <summary>The deadline, or null when none is set. A value that is not a number is a configuration error.</summary>
    public static DateTimeOffset? At
    {
        get
        {
            var v = Environment.GetEnvironmentVariable(Variable);
            if (string.IsNullOrWhiteSpace(v)) return null;
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || s <= 0)
                throw new ConfigException($"{Variable}={v}: expected Unix seconds (e.g. $(( $(date +%s) + 540 ))), or unset it.");
            return DateTimeOffset.FromUnixTimeMilliseconds((long)(s * 1000));
        }
    }

    /// <summary>Names one budgeted run (<c>run-all</c> sets it once for a whole device call): a checkpoint whose training a
    /// time budget cut is reused only within the same run, never by a later one (see TrainedCheckpoint).</summary>
    public const string RunIdVariable = "PAPERS_RUN_ID";

    /// <summary>This run's id, or null when none is set.</summary>
    public static string? RunId => Environment.GetEnvironmentVariable(RunIdVariable) is { Length: > 0 } v ? v : null;

    /// <summary>Sets a fresh run id when a deadline is set and no id is (a single <c>papers reproduce --budget</c>).</summary>
    public static void EnsureRunId()
    {
        if (At is not null && RunId is null) Environment.SetEnvironmentVariable(RunIdVariable, Guid.NewGuid().ToString("N")[..12]);
    }

    /// <summary>True when there is no deadline or at least <paramref name="seconds"/> are left before it: the one test before
    /// starting a unit of work estimated (with its reserve) at that many seconds.</summary>
    public static bool Leaves(double seconds) => SecondsLeft is not double left || left >= seconds;

    /// <summary>True once the deadline has passed.</summary>
    public static bool Passed => At is { } a && DateTimeOffset.UtcNow >= a;

    /// <summary>Seconds left (null without a deadline; negative once passed).</summary>
    public static double? SecondsLeft => At is { } a ? (a - DateTimeOffset.UtcNow).TotalSeconds : null;
}

/// <summary>
/// Sizing a phase to the time left. A training loop measures its first steps, then asks <see cref="FitSteps"/> how many
/// of the requested steps fit in its share of the time (and builds its learning-rate schedule for that many), so a run
/// under a deadline ends annealed and saved instead of killed half-way. Whatever was cut is recorded by the caller.
/// </summary>
public static class TimeBudget
{
    /// <summary><paramref name="fraction"/> of the seconds left before <see cref="Deadline"/> (0 once passed), or null
    /// without a deadline.</summary>
    public static double? Share(double fraction) => Deadline.SecondsLeft is double s ? Math.Max(0, s) * fraction : null;

    /// <summary>How many steps (of <paramref name="requested"/>) fit in <paramref name="seconds"/> measured from the start
    /// of the loop, given <paramref name="done"/> steps took <paramref name="elapsed"/> seconds: all of them without a
    /// budget, never fewer than <paramref name="minimum"/> (nor than <paramref name="done"/>).</summary>
    public static int FitSteps(int requested, int done, double elapsed, double? seconds, int minimum = 1)
    {
        if (seconds is not double b || done <= 0) return requested;
        double perStep = elapsed / done;
        long fit = perStep <= 0 ? requested : (long)Math.Floor(b / perStep);
        return (int)Math.Clamp(fit, Math.Max(minimum, done), Math.Max(requested, done));
    }

    /// <summary>"3,000 of 6,000 steps (time budget)" when cut, else null: the note a result records.</summary>
    public static string? CutNote(int done, int requested, string unit = "steps") =>
        done < requested ? $"{done:N0} of {requested:N0} {unit} (time budget, {Deadline.Variable})" : null;
}
