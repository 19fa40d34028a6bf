using System.Diagnostics;
using TorchSharp;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Multimodal;

/// <summary>
/// An evaluation set with its images rendered once, on the model's device, for every evaluation of the set: VTW evaluates
/// its set about 20 times and ParVTS about 50, and re-rendering each time dominated their run time. Memory: 4·3·H² bytes
/// per sample (48 px: 27.6 KB, so 20k samples ≈ 550 MB; the Test preset's few hundred 24 px samples ≈ 2 MB).
/// Log-probabilities from it equal those from rendering each batch (Render is a pure function of the scene).
/// </summary>
public sealed record RenderedSamples(SceneSample[] Samples, Tensor Images) : IDisposable
{
    public int Count => Samples.Length;

    public static RenderedSamples Render(MultimodalLm model, IReadOnlyList<SceneSample> samples)
    {
        using var cpu = SceneVqa.Images(samples.Select(s => s.Scene), model.Config.Data);
        return new RenderedSamples(samples.ToArray(), cpu.to(model.lm.ParameterDevice).DetachFromDisposeScope());
    }

    public void Dispose() => Images.Dispose();
}

/// <summary>How an evaluation set was sized: samples per type requested and used, and what the choice rests on (the
/// measured preparation cost per sample — generate, render, copy — and evaluation cost per batch, the number of full-model
/// evaluation equivalents planned, the seconds given). Without a deadline nothing is measured and Used = Requested.</summary>
public sealed record EvalSizing(int Requested, int Used, int Types, double Evaluations, int Batch, double PrepSecondsPerSample,
    double SecondsPerBatch, double? Seconds)
{
    /// <summary>"500 of 2,000 eval samples per type (time budget, …)" when cut, else null.</summary>
    public string? Cut => TimeBudget.CutNote(Used, Requested, "eval samples per type");
    /// <summary>What a time budget left out of a model-T experiment: training steps, eval samples, evaluations not started
    /// (<paramref name="skipped"/>); empty when nothing was cut.</summary>
    public static string[] Cuts(MmTrainResult training, EvalSizing? eval, string[]? skipped) =>
        new[] { training.Cut is null ? null : "training: " + training.Cut, eval?.Cut }.OfType<string>()
            .Concat((skipped ?? []).Length == 0 ? [] : [$"not evaluated (deadline): {string.Join(", ", skipped!)}"]).ToArray();

    /// <summary>The predicted seconds of the sized evaluations.</summary>
    public double PredictedSeconds => EvalBudget.Cost(Used, Types, Evaluations, Batch, PrepSecondsPerSample, SecondsPerBatch);
}

/// <summary>Sizing an evaluation set (samples per question type) to the time left: measure one batch, then pick the largest
/// size whose preparation plus all planned evaluations fit.</summary>
public static class EvalBudget
{
    /// <summary>Seconds to prepare perType·types samples once and run <paramref name="evaluations"/> evaluations of them in
    /// batches of <paramref name="batch"/> (a partial batch costs a whole one).</summary>
    public static double Cost(int perType, int types, double evaluations, int batch, double prepPerSample, double perBatch)
    {
        long n = (long)perType * types;
        return n * prepPerSample + evaluations * Math.Ceiling(n / (double)batch) * perBatch;
    }

    /// <summary>The largest samples-per-type ≤ <paramref name="requested"/> whose <see cref="Cost"/> fits in
    /// <paramref name="seconds"/>, never fewer than <paramref name="minimum"/> (nor more than requested); all of them without a budget.</summary>
    public static int PickPerType(int requested, int types, double evaluations, int batch, double prepPerSample, double perBatch, double? seconds, int minimum = 1)
    {
        if (seconds is not double s) return requested;
        int lo = 0, hi = requested;                                       // Cost is non-decreasing in perType: largest fitting by bisection
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (Cost(mid, types, evaluations, batch, prepPerSample, perBatch) <= s) lo = mid; else hi = mid - 1;
        }
        return Math.Max(lo, Math.Min(minimum, requested));
    }

    /// <summary>
    /// Sizes the set that <paramref name="makeSet"/>(perType) builds for <paramref name="evaluations"/> full-model evaluation
    /// equivalents in <paramref name="seconds"/> (null: no measurement, the requested size). It measures one batch drawn
    /// across the types: generating and rendering it, then a full-model evaluation (run twice, the second timed, so one-off
    /// initialisation does not count); the probe's own time is taken off the budget.
    /// </summary>
    public static EvalSizing Size(MultimodalLm model, Func<int, SceneSample[]> makeSet, int requested, int types, double evaluations, int batch,
        double? seconds, int minimum = 1)
    {
        if (seconds is not double budget) return new EvalSizing(requested, requested, types, evaluations, batch, 0, 0, null);
        var sw = Stopwatch.StartNew();
        int perType = Math.Min(requested, Math.Max(1, (batch + types - 1) / types));
        var set = makeSet(perType);
        var probe = SceneVqa.Spread(set, batch);
        int n = probe.Count;
        using var r = RenderedSamples.Render(model, probe);
        double prep = sw.Elapsed.TotalSeconds / n;
        MultimodalTraining.FirstTokenLogProbs(model, r, batch);
        var t = Stopwatch.StartNew();
        MultimodalTraining.FirstTokenLogProbs(model, r, batch);               // ends with a host read: synchronised
        double perBatch = t.Elapsed.TotalSeconds;
        double left = budget - sw.Elapsed.TotalSeconds;
        int used = PickPerType(requested, types, evaluations, batch, prep, perBatch, left, minimum);
        return new EvalSizing(requested, used, types, evaluations, batch, prep, perBatch, left);
    }
}
