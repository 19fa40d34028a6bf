using System.Globalization;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Lbc;

/// <summary>The HTML report of an LBC run: claims, accuracy table and the method's inspectable artifacts.</summary>
public static class LbcReport
{
    static string F(double v, string f = "F2") => v.ToString(f, CultureInfo.InvariantCulture);

    /// <summary>One row per model, pattern and method: mean ± sd of final top-1 over seeds.</summary>
    public static Table SummaryTable(LbcResults r) => new(
        ["model", "pattern", "method", "seeds", "top-1 % (mean ± sd)", "exact N:M", "train GFLOPs", "seconds (mean)"],
        r.Runs.GroupBy(x => (x.Model, x.Pattern, x.Method)).Select(g =>
        {
            var a = g.Select(x => 100 * x.FinalAccuracy).ToList();
            var mean = a.Average();
            var sd = a.Count > 1 ? Math.Sqrt(a.Sum(v => (v - mean) * (v - mean)) / (a.Count - 1)) : 0;
            return new[] { g.Key.Model, g.Key.Pattern, g.Key.Method.ToString(), a.Count.ToString(CultureInfo.InvariantCulture),
                a.Count > 1 ? $"{F(mean)} ± {F(sd)}" : F(mean),
                g.Key.Method == SparseMethod.Dense ? "—" : g.All(x => x.ExactNm) ? "yes" : "no",
                F(g.Average(x => x.TotalTrainGFlops), "F0"), F(g.Average(x => x.Seconds), "F1") };
        }).ToList());

    public static Table AccuracyTable(LbcResults r) => new(
        ["model", "pattern", "method", "seed", "top-1 %", "exact N:M", "train GFLOPs", "seconds"],
        r.Runs.Select(x => new[] { x.Model, x.Pattern, x.Method.ToString(), x.Seed.ToString(CultureInfo.InvariantCulture),
            F(100 * x.FinalAccuracy), x.Method == SparseMethod.Dense ? "—" : x.ExactNm ? "yes" : "no",
            F(x.TotalTrainGFlops, "F0"), F(x.Seconds, "F1") }).ToList());

    /// <summary>Step 2's table B for a pattern as a heatmap (C rows × M columns).</summary>
    public static Plotly.NET.GenericChart CombinationHeatmap(CombinationTable t) =>
        Charts.Heatmap(t.B, $"Combination table B for {t.N}:{t.M} (C = {t.C})", "position j in the group", "combination c",
            Enumerable.Range(0, t.M).Select(j => j.ToString()).ToArray(), Enumerable.Range(0, t.C).Select(t.Label).ToArray());

    /// <summary>Sampled rows of the score matrix A at one epoch, rows sorted by their best score.</summary>
    public static Plotly.NET.GenericChart ScoreHeatmap(MethodRun run, int epochIndex)
    {
        var e = run.Epochs[epochIndex];
        var rows = e.ScoreSample!.OrderByDescending(r => r.Max()).ToArray();
        return Charts.Heatmap(rows, $"{run.Model} {run.Pattern}: scores A of {run.SparseLayers[0]} after epoch {e.Epoch} (k = {e.K})",
            "combination", "sampled group", run.CombinationLabels);
    }

    /// <summary>Test top-1 per epoch, one line per run.</summary>
    public static Plotly.NET.GenericChart AccuracyChart(IEnumerable<MethodRun> runs, string title) =>
        Charts.Lines(runs.Select(x => new Series($"{x.Method}{(x.Pattern == "dense" ? "" : " " + x.Pattern)}",
            x.Epochs.Select(e => (double)e.Epoch).ToArray(), x.Epochs.Select(e => 100 * e.TestAccuracy).ToArray())), title, "epoch", "top-1 %");

    /// <summary>Fraction of mask entries that changed since the previous epoch, one line per run.</summary>
    public static Plotly.NET.GenericChart FlipRateChart(IEnumerable<MethodRun> runs, string title) =>
        Charts.Lines(runs.Select(x => new Series(x.Method.ToString(),
            x.Epochs.Skip(1).Select(e => (double)e.Epoch).ToArray(), x.Epochs.Skip(1).Select(e => e.FlipRate).ToArray())),
            title, "epoch", "fraction of mask entries changed");

    /// <summary>Steps 4–5 over training: removed k and surviving combinations per group.</summary>
    public static Plotly.NET.GenericChart ScheduleChart(MethodRun lbc)
    {
        var ep = lbc.Epochs.Select(e => (double)e.Epoch).ToArray();
        return Charts.Lines([new Series("removed k", ep, lbc.Epochs.Select(e => (double)e.K).ToArray()),
            new Series("surviving combinations", ep, lbc.Epochs.Select(e => (double)e.SurvivingCombinations).ToArray())],
            $"Removal schedule ({lbc.Model}, {lbc.Pattern})", "epoch", "combinations per group");
    }

    /// <summary>Fraction of groups keeping j of M weights per epoch.</summary>
    public static Plotly.NET.GenericChart KeptFractionChart(MethodRun run)
    {
        var ep = run.Epochs.Select(e => (double)e.Epoch).ToArray();
        int m = run.Epochs[0].KeptFraction.Length - 1;
        return Charts.Lines(Enumerable.Range(0, m + 1).Select(j => new Series($"{j} kept", ep, run.Epochs.Select(e => e.KeptFraction[j]).ToArray())),
            $"Fraction of groups keeping j of {m} weights ({run.Model}, {run.Method}, {run.Pattern})", "epoch", "fraction of groups");
    }

    /// <summary>Density of each sparse layer per epoch.</summary>
    public static Plotly.NET.GenericChart LayerDensityChart(MethodRun run)
    {
        var ep = run.Epochs.Select(e => (double)e.Epoch).ToArray();
        return Charts.Lines(run.SparseLayers.Select((name, i) => new Series(name, ep, run.Epochs.Select(e => e.LayerDensity[i]).ToArray())),
            $"Layer density ({run.Model}, {run.Method}, {run.Pattern})", "epoch", "kept fraction");
    }

    /// <summary>The Taylor check: predicted (loss-gradient) against measured score change over the first epoch.</summary>
    public static Plotly.NET.GenericChart TaylorChart(MethodRun lbc) =>
        Charts.Scatter(lbc.Taylor!.Predicted, lbc.Taylor.Measured,
            $"Score change over epoch {lbc.Taylor.Epoch}: Σ −lr·Σg·w against measured (r = {F(lbc.Taylor.Correlation, "F3")}; {lbc.Model}, {lbc.Pattern})",
            "first-order prediction Σ_t −lr_t Σ_(j∈c) g_j w_j", "measured Δscore");

    /// <summary>How many groups chose each combination, per layer (LBC's final masks).</summary>
    public static Plotly.NET.GenericChart WinnersChart(MethodRun lbc) =>
        Charts.GroupedBars(lbc.CombinationLabels!, lbc.WinningCombination!.Select((w, i) => (lbc.SparseLayers[i], w.Select(v => (double)v).ToArray())),
            $"Which combination won, per layer ({lbc.Model}, {lbc.Pattern})", "groups");

    public static HtmlReport Build(LbcResults r)
    {
        var rep = new HtmlReport(LbcExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); libtorch from {r.Runtime.LibtorchOrigin}. " +
                 $"Wall time {F(r.WallSeconds, "F0")} s, started {r.StartedUtc}.");
        rep.Para("LBC gives every combination of N kept weights in each group of M a learnable score, trains scores with the weights " +
                 "from scratch (straight-through binary mask), and removes the lowest-scored combinations on a cubic schedule until one " +
                 "per group remains. Baselines: Dense, ASP (dense training → magnitude N:M → retraining), STE and SR-STE.");
        rep.Heading("Claims: the paper beside our toy-scale numbers");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Heading("Final accuracy");
        rep.Table(SummaryTable(r));
        if (r.Runs.Select(x => x.Seed).Distinct().Count() > 1)
        {
            rep.Heading("Every run", 3);
            rep.Table(AccuracyTable(r));
        }

        foreach (var group in r.Runs.GroupBy(x => x.Model))
        {
            var model = group.Key;
            rep.Heading($"{model}", 2);
            var seed0 = group.Min(x => x.Seed);
            if (group.Select(x => x.Seed).Distinct().Count() > 1)
                rep.Para($"Curves below show seed {seed0}; the tables above average over all seeds.");
            var dense = group.FirstOrDefault(x => x.Method == SparseMethod.Dense && x.Seed == seed0);
            foreach (var pattern in group.Where(x => x.Method != SparseMethod.Dense).Select(x => x.Pattern).Distinct())
            {
                rep.Heading($"{model} at {pattern}", 3);
                var sel = group.Where(x => x.Pattern == pattern && x.Seed == seed0).ToList();
                if (dense is not null) sel.Insert(0, dense);
                rep.Chart(AccuracyChart(sel, $"Test top-1 per epoch ({model}, {pattern})"));
                var flips = sel.Where(x => x.Method is SparseMethod.Lbc or SparseMethod.SrSte or SparseMethod.Ste).ToList();
                if (flips.Count > 0) rep.Chart(FlipRateChart(flips, $"Mask flip rate per epoch ({model}, {pattern})"));

                var lbc = sel.FirstOrDefault(x => x.Method == SparseMethod.Lbc);
                if (lbc is null) continue;
                var p = NmPattern.Parse(pattern);
                rep.Para($"Step 2 — the combination table B: C(M,N) = {LbcSteps.Binomial(p.M, p.N)} rows; each row keeps N = {p.N} of M = {p.M} positions.");
                rep.Chart(CombinationHeatmap(LbcSteps.Combinations(p.N, p.M)));
                rep.Para("Steps 4–5 — the removal schedule: k combinations are removed per group (updated once per epoch, applied every iteration).");
                rep.Chart(ScheduleChart(lbc));
                rep.Chart(KeptFractionChart(lbc));
                rep.Para($"Layer density falls to the target N/M = {F((double)p.N / p.M)} at t_f.");
                rep.Chart(LayerDensityChart(lbc));
                if (lbc.Taylor is not null)
                {
                    rep.Para("The paper's argument: a combination's score accumulates −lr·Σ_(j∈c) g_j w_j, the first-order loss change of dropping it. " +
                             "Measured score changes add momentum and weight decay, so the points scatter around the diagonal rather than on it.");
                    rep.Chart(TaylorChart(lbc));
                }
                if (lbc.Epochs[0].ScoreSample is not null)
                {
                    rep.Para("Step 3 — the score matrix A (sampled groups × combinations): removed combinations sit at 0; the survivor of each group is its learned best combination.");
                    var picks = new[] { 0, lbc.Epochs.Count / 4, lbc.Epochs.Count / 2, lbc.Epochs.Count - 1 }.Distinct();
                    foreach (var i in picks) rep.Chart(ScoreHeatmap(lbc, i));
                }
                if (group.Where(x => x.Pattern == pattern && x.Method == SparseMethod.Lbc).Select(x => x.FinalScores).FirstOrDefault(x => x is not null) is { } h)
                    rep.Chart(Charts.Bar(h.Edges.Take(h.Counts.Length).Select((e, i) => F(0.5 * (e + h.Edges[i + 1]), "G3")).ToArray(),
                        h.Counts.Select(c => (double)c).ToArray(), $"Live score values at the end ({lbc.SparseLayers[0]}, {pattern})", "score", "combinations"));
                if (lbc.WinningCombination is not null) rep.Chart(WinnersChart(lbc));
            }
        }
        rep.Heading("Configuration");
        rep.Pre(System.Text.Json.JsonSerializer.Serialize(r.Config, Runtime.AtomicFile.Json));
        return rep;
    }
}
