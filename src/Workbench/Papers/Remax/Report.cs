using Plotly.NET;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Remax;

/// <summary>The ReMax views (each usable from a notebook) and the HTML report.</summary>
public static class RemaxReport
{
    /// <summary>Sample reward against the greedy baseline's reward, per prompt (ReMax's first step).</summary>
    public static GenericChart SampleVsGreedy(RemaxStep s) =>
        Charts.Scatter(s.BaselineRewards, s.SampleRewards, $"Step {s.Step}: r(sample) against r(greedy), per prompt", "r(greedy)", "r(sample)");

    /// <summary>δ = clip(r − b): the mass at 0 is samples that teach nothing.</summary>
    public static GenericChart DeltaHistogram(RemaxStep s, string run) =>
        Charts.Histogram(s.Delta, $"{run}, step {s.Step}: δ = clip(r − b) ({s.Delta.Count(d => d == 0)} of {s.Delta.Length} are 0)", "δ", bins: 25);

    public static GenericChart TimeBreakdown(IReadOnlyList<RemaxRunResult> runs)
    {
        var phases = runs.SelectMany(r => r.PhaseSeconds.Keys).Distinct().ToList();
        return Charts.StackedBars(runs.Select(r => r.Name).ToArray(),
            phases.Select(p => (p, runs.Select(r => 1000 * r.PhaseSeconds.GetValueOrDefault(p) / r.Steps).ToArray())), "Time per iteration by phase", "ms");
    }

    public static GenericChart MemoryBars(IReadOnlyList<MemoryRow> rows)
    {
        var cats = rows.Select(m => $"{m.Method} b={m.Batch}").ToArray();
        var parts = new List<(string, double[])>
        {
            ("weights", rows.Select(m => m.WeightBytes / 1e9).ToArray()), ("grads", rows.Select(m => m.GradBytes / 1e9).ToArray()),
            ("Adam moments", rows.Select(m => m.AdamBytes / 1e9).ToArray()), ("activations (est.)", rows.Select(m => m.ActivationEstimateBytes / 1e9).ToArray()),
        };
        var chart = Charts.StackedBars(cats, parts, "Memory per method: analytic parts (stacked) and the measured peak", "GB");
        if (rows.Any(m => m.MeasuredBytes is not null))
            chart = Plotly.NET.CSharp.Chart.Combine([chart, Plotly.NET.CSharp.Chart.Point<string, double, string>(x: cats,
                y: rows.Select(m => (m.MeasuredBytes ?? 0) / 1e9).ToArray(), Name: "measured peak (NVML)")]);
        return chart;
    }

    public static GenericChart AccuracyVsTime(IReadOnlyList<RemaxRunResult> runs) =>
        Charts.Lines(runs.Select(r => new Series(r.Name, r.Curve.Select(c => c.TrainSeconds).ToArray(), r.Curve.Select(c => 100 * c.Accuracy).ToArray())),
            "Held-out greedy accuracy against training wall clock", "training seconds (eval excluded)", "accuracy %");

    public static GenericChart PerStep(IReadOnlyList<RemaxRunResult> runs, Func<RemaxRunResult, double[]> pick, string title, string y) =>
        Charts.Lines(runs.Where(r => pick(r).Any(double.IsFinite)).Select(r => new Series(r.Name, Enumerable.Range(1, pick(r).Length).Select(i => (double)i).ToArray(), pick(r))),
            title, "step", y, markers: false);

    public static GenericChart VarianceBars(IReadOnlyList<VarianceRow> rows)
    {
        var est = rows.Select(v => v.Estimator).Distinct().ToArray();
        return Charts.GroupedBars(est, rows.Select(v => v.Shift).Distinct().Select(s => ($"reward shift {s:G3}",
            est.Select(e => rows.First(v => v.Estimator == e && v.Shift == s).CovarianceTrace).ToArray())), "Gradient variance (trace of covariance)", "tr Cov(g)");
    }

    /// <summary>Per-token returns in paper mode (γ = 1) and code mode (γ = 0.99) for one response of T tokens, β = 0.</summary>
    public static GenericChart ReturnCurve(int length = 48, double delta = 1)
    {
        var x = Enumerable.Range(1, length).Select(i => (double)i).ToArray();
        return Charts.Lines([new Series("paper mode γ = 1", x, Estimators.ReturnsRow(delta, length, length, 1, 0, null)),
            new Series("code mode γ = 0.99", x, Estimators.ReturnsRow(delta, length, length, 0.99, 0, null))],
            $"Per-token return G_t for δ = {delta}, T = {length}", "token t", "G_t");
    }

    public static HtmlReport Build(RemaxResults r)
    {
        var rep = new HtmlReport(RemaxExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); {r.WallSeconds:F0} s. ReMax is REINFORCE whose baseline " +
                 "is the reward of the policy's own greedy answer; PPO learns a critic of the actor's size for the same job.");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Table(RemaxClaims.RunsTable(r));
        var remax = r.Runs.FirstOrDefault(x => x.Method == nameof(RlMethod.ReMax));
        if (remax?.Detail.Length > 0)
        {
            rep.Heading("The greedy baseline");
            rep.Chart(SampleVsGreedy(remax.Detail[0])); rep.Chart(DeltaHistogram(remax.Detail[0], remax.Name));
        }
        rep.Chart(ReturnCurve());
        rep.Heading("Time");
        if (r.Runs.Length > 0)
        {
            rep.Chart(TimeBreakdown(r.Runs)); rep.Chart(AccuracyVsTime(r.Runs));
            rep.Chart(PerStep(r.Runs, x => x.MeanRewardPerStep, "Mean sample reward", "reward"));
            rep.Chart(PerStep(r.Runs, x => x.KlPerStep, "KL(π_old ‖ π_ref) per token", "KL"));
            if (r.Runs.Any(x => x.ExplainedVariancePerStep.Any(double.IsFinite)))
                rep.Chart(PerStep(r.Runs, x => x.ExplainedVariancePerStep, "PPO critic: explained variance of the returns", "explained variance"));
        }
        // results.json and this report are also written part-way (after the runs, after the probes): show only what exists.
        if (r.Memory.Length > 0)
        {
            rep.Heading("Memory");
            rep.Table(RemaxClaims.MemoryTable(r)); rep.Chart(MemoryBars(r.Memory));
        }
        if (r.Variance.Length > 0)
        {
            rep.Heading("Gradient variance");
            rep.Table(RemaxClaims.VarianceTable(r)); rep.Chart(VarianceBars(r.Variance));
        }
        return rep;
    }
}
