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

    /// <summary>True once the deadline has passed.</summary>
    public static bool Passed => At is { } a && DateTimeOffset.UtcNow >= a;

    /// <summary>Seconds left (null without a deadline; negative once passed).</summary>
    public static double? SecondsLeft => At is { } a ? (a - DateTimeOffset.UtcNow).TotalSeconds : null;
}
