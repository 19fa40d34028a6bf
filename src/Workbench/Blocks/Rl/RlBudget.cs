using Workbench.Claims;
using Workbench.Runtime;

namespace Workbench.Blocks.Rl;

/// <summary>The sizes an RL experiment runs with under a time budget: <paramref name="Units"/> of work per run (CPPO:
/// training questions; ReMax: steps), evaluation points and evaluation questions, with the estimated seconds of all runs and
/// whether that estimate (× <see cref="RlBudget.Safety"/>) fits.</summary>
public sealed record RlSizing(int Units, int EvalPoints, int EvalQuestions, double EstimatedSeconds, bool Fits);

/// <summary>What a budgeted RL experiment measured and chose (null on a result made without a deadline).
/// <paramref name="SecondsLeft"/>: seconds before the deadline when the sizes were chosen; <paramref name="SecondsForRuns"/>:
/// the part given to the runs; <paramref name="Calibration"/>: the timed work the estimate rests on (seconds);
/// <paramref name="Skipped"/>: work not done because the deadline came (runs, probes, draws); <paramref name="Note"/>: the cut
/// in words, for the claims.</summary>
public sealed record RlBudgetRecord(double SecondsLeft, double SecondsForRuns, string Unit, int RequestedUnits, int Units,
    int RequestedEvalPoints, int EvalPoints, int RequestedEvalQuestions, int EvalQuestions, double EstimatedSeconds, bool Fits,
    Dictionary<string, double> Calibration, string[] Skipped, string? Note)
{
    /// <summary>The record of a sizing (nothing skipped yet).</summary>
    public static RlBudgetRecord From(RlSizing s, double secondsLeft, double secondsForRuns, string unit, int requestedUnits,
        int requestedEvalPoints, int requestedEvalQuestions, Dictionary<string, double> calibration)
    {
        var cut = new List<string>();
        if (s.Units < requestedUnits) cut.Add($"{s.Units:N0} of {requestedUnits:N0} {unit}");
        if (s.EvalPoints < requestedEvalPoints) cut.Add($"{s.EvalPoints} of {requestedEvalPoints} evaluation points");
        if (s.EvalQuestions < requestedEvalQuestions) cut.Add($"{s.EvalQuestions:N0} of {requestedEvalQuestions:N0} evaluation questions");
        string? note = cut.Count > 0 ? $"sized to the time budget ({Deadline.Variable}, {secondsLeft:F0} s left when planned): {string.Join(", ", cut)}" +
                (s.Fits ? "" : $"; even these sizes were estimated not to fit ({s.EstimatedSeconds:F0} s for {secondsForRuns:F0} s)")
            : s.Fits ? null : $"the configured sizes (the smallest allowed) were estimated not to fit the time budget ({s.EstimatedSeconds:F0} s for {secondsForRuns:F0} s)";
        return new RlBudgetRecord(Math.Round(secondsLeft, 1), Math.Round(secondsForRuns, 1), unit, requestedUnits, s.Units, requestedEvalPoints,
            s.EvalPoints, requestedEvalQuestions, s.EvalQuestions, Math.Round(s.EstimatedSeconds, 1), s.Fits, calibration, [], note);
    }

    /// <summary>Everything cut, in one sentence (null when nothing was).</summary>
    public string? Summary => Skipped.Length == 0 ? Note : $"{(Note is null ? "" : Note + "; ")}not done (deadline): {string.Join(", ", Skipped)}";
}

/// <summary>
/// Sizing the runs of an RL experiment to the time left. The experiment times a little of each kind of work after its
/// warm-up (a generation round, an evaluation chunk), passes a cost model over the sizes it may choose, and runs every
/// configuration with the sizes <see cref="Fit"/> returns, so the runs stay comparable with each other.
/// </summary>
public static class RlBudget
{
    /// <summary>Estimates are multiplied by this before they are compared with the time left (completion lengths, and
    /// so decode time, drift during training).</summary>
    public const double Safety = 1.15;

    /// <summary>Seconds kept for writing results.json, claims.md and the HTML report after the last run.</summary>
    public const double ReserveSeconds = 5;

    /// <summary>Evaluation sets are halved no further than this (greedy accuracy on fewer questions is too noisy to compare).</summary>
    public const int MinEvalQuestions = 200;

    /// <summary>Questions per chunk of <see cref="ArithTask.Evaluate"/> (its default batch): evaluation time is per chunk.</summary>
    public const int EvalChunk = 256;

    /// <summary>Seconds of one evaluation of <paramref name="questions"/> given the seconds of one full chunk.</summary>
    public static double EvalSeconds(int questions, double secondsPerChunk) => Math.Ceiling(questions / (double)EvalChunk) * secondsPerChunk;

    /// <summary>
    /// The largest sizes that fit: the first entry of this ladder whose <paramref name="cost"/> × <see cref="Safety"/> is at
    /// most <paramref name="seconds"/>: (1) all evaluation points and questions, units from the requested (the largest of
    /// <paramref name="allowedUnits"/>) down to half of it; (2) a single evaluation at the end, units from the requested down
    /// to the smallest allowed; (3) the smallest units with the evaluation set halved (not below <see cref="MinEvalQuestions"/>).
    /// When nothing fits, the last (cheapest) entry with <see cref="RlSizing.Fits"/> = false.
    /// </summary>
    /// <param name="cost">Estimated seconds of all runs for (units, evaluation points, evaluation questions).</param>
    public static RlSizing Fit(IEnumerable<int> allowedUnits, int evalPoints, int evalQuestions, Func<int, int, int, double> cost, double seconds)
    {
        var units = allowedUnits.Where(u => u > 0).Distinct().OrderByDescending(u => u).ToList();
        if (units.Count == 0) throw new ArgumentException("RlBudget.Fit: no allowed sizes.");
        int req = units[0], min = units[^1];
        var ladder = new List<(int U, int P, int Q)>();
        foreach (var u in units.Where(u => 2 * u >= req)) ladder.Add((u, evalPoints, evalQuestions));
        foreach (var u in units.Where(u => evalPoints > 1 || 2 * u < req)) ladder.Add((u, 1, evalQuestions));
        for (int q = evalQuestions / 2; q >= Math.Min(evalQuestions, MinEvalQuestions); q /= 2) ladder.Add((min, 1, q));
        (int U, int P, int Q) pick = ladder[^1];
        double c = 0;
        bool fits = false;
        foreach (var e in ladder)
        {
            c = cost(e.U, e.P, e.Q);
            if (c * Safety <= seconds) { pick = e; fits = true; break; }
        }
        if (!fits) c = cost(pick.U, pick.P, pick.Q);
        return new RlSizing(pick.U, pick.P, pick.Q, c, fits);
    }

    /// <summary>Whether work estimated at <paramref name="estimatedSeconds"/> (× <see cref="Safety"/>) still fits before the
    /// deadline, leaving <see cref="ReserveSeconds"/> for writing results; always true without a deadline.</summary>
    public static bool FitsTimeLeft(double estimatedSeconds) => Deadline.Leaves(estimatedSeconds * Safety + ReserveSeconds);

    /// <summary>The seconds left before the deadline minus <see cref="ReserveSeconds"/>, split over
    /// <paramref name="parts"/> (seeds still to run), or null without a deadline.</summary>
    public static double? SecondsFor(double fraction = 1, int parts = 1) =>
        Deadline.SecondsLeft is double s ? Math.Max(0, s - ReserveSeconds) * fraction / Math.Max(1, parts) : null;

    /// <summary>The claims with every time-budget note appended to their comments (the warm start's cut, the sizes, what was
    /// not done), plus a pending row naming the work not done, so no verdict is read without its cut.</summary>
    public static IReadOnlyList<Claim> Annotate(IReadOnlyList<Claim> claims, string ourSetting, SftResult sft, RlBudgetRecord? budget)
    {
        var notes = new[] { sft.Cut is string c ? $"SFT warm start cut: {c}" : null, budget?.Note }.OfType<string>().ToList();
        var outClaims = claims.Select(cl => notes.Count == 0 && budget?.Skipped.Length is null or 0 ? cl : cl with
        {
            Comment = string.Join("; ", new[] { cl.Comment }.Concat(notes)
                .Append(budget?.Skipped.Length > 0 ? $"not done before the deadline: {string.Join(", ", budget.Skipped)}" : "")
                .Where(x => !string.IsNullOrEmpty(x))),
        }).ToList();
        if (budget?.Skipped.Length > 0)
            outClaims.Add(new Claim("Everything configured was run", "—", "—", ourSetting, $"not done: {string.Join(", ", budget.Skipped)}",
                Verdict.Pending, $"the time budget ({Deadline.Variable}) ran out; claims that need the missing work are left out or judged without it"));
        return outClaims;
    }

    /// <summary>"- Time budget: …" for a claims.md preamble, or "" when nothing was cut.</summary>
    public static string MarkdownLine(SftResult sft, RlBudgetRecord? budget)
    {
        var parts = new[] { sft.Cut is string c ? "SFT warm start " + c : null, budget?.Summary }.OfType<string>().ToList();
        return parts.Count == 0 ? "" : "- Time budget: " + string.Join("; ", parts);
    }
}
