using Plotly.NET;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Cppo;

/// <summary>The CPPO views (each usable from a notebook) and the HTML report.</summary>
public static class CppoReport
{
    /// <summary>|A| of every generated completion, and of the kept ones, with the cut.</summary>
    public static GenericChart AdvantageHistogram(CppoStep s, string run) =>
        Charts.Histograms([("all generated", s.Advantages.Select(Math.Abs).ToArray()),
                ("kept", s.Advantages.Where((_, i) => s.KeptMask[i]).Select(Math.Abs).ToArray())],
            $"{run}, step {s.Step}: |A| before and after pruning ({s.Kept} of {s.Generated} kept)", "|advantage|",
            markers: [("cut", s.Threshold)]);

    /// <summary>Questions × G grid: +1 kept with A &gt; 0, −1 kept with A &lt; 0, 0.5·sign for kept A = 0, 0 pruned.</summary>
    public static GenericChart KeptMask(CppoStep s, string run)
    {
        var z = Enumerable.Range(0, s.Questions).Select(q => Enumerable.Range(0, s.G).Select(j =>
        {
            int i = q * s.G + j;
            return !s.KeptMask[i] ? 0.0 : s.Advantages[i] > 0 ? 1 : s.Advantages[i] < 0 ? -1 : 0.5;
        }).ToArray()).ToArray();
        return Charts.Heatmap(z, $"{run}, step {s.Step}: kept completions (+1 A>0, −1 A<0, 0 pruned)", "completion", "question");
    }

    public static GenericChart KeptPerQuestion(CppoStep s, string run) =>
        Charts.Bar(Enumerable.Range(0, s.Questions).Select(q => $"q{q}").ToArray(), s.KeptPerQuestion.Select(k => (double)k).ToArray(),
            $"{run}, step {s.Step}: kept per question (batch-global pruning is uneven)", "question", "kept");

    public static GenericChart RewardMatrix(CppoStep s, string run) =>
        Charts.Heatmap(Enumerable.Range(0, s.Questions).Select(q => s.Rewards.Skip(q * s.G).Take(s.G).ToArray()).ToArray(),
            $"{run}, step {s.Step}: rewards (questions × G)", "completion", "question");

    public static GenericChart TimeBreakdown(IReadOnlyList<CppoRunResult> runs)
    {
        var seed = runs[0].Seed;
        var rs = runs.Where(r => r.Seed == seed).ToList();
        var phases = rs.SelectMany(r => r.PhaseSeconds.Keys).Distinct().ToList();
        return Charts.StackedBars(rs.Select(r => r.Name).ToArray(),
            phases.Select(p => (p, rs.Select(r => r.PhaseSeconds.GetValueOrDefault(p)).ToArray())), $"Training time per phase (seed {seed})", "seconds");
    }

    public static GenericChart AccuracyVsTime(IReadOnlyList<CppoRunResult> runs) =>
        Charts.Lines(runs.Select(r => new Series($"{r.Name} (seed {r.Seed})", r.Curve.Select(c => c.TrainSeconds).ToArray(), r.Curve.Select(c => 100 * c.Accuracy).ToArray())),
            "Held-out greedy accuracy against training wall clock", "training seconds (eval excluded)", "accuracy %");

    public static GenericChart PerStep(IReadOnlyList<CppoRunResult> runs, Func<CppoRunResult, double[]> pick, string title, string y) =>
        Charts.Lines(runs.Select(r => new Series($"{r.Name} (seed {r.Seed})", Enumerable.Range(1, pick(r).Length).Select(i => (double)i).ToArray(), pick(r))),
            title, "step", y, markers: false);

    /// <summary>Completion tokens generated and pushed through the update per step: generation is the same work for every P
    /// per question, the update work shrinks with 1 − P.</summary>
    public static GenericChart TokensPerStep(IReadOnlyList<CppoRunResult> runs) =>
        Charts.Lines(runs.Where(r => r.GeneratedTokensPerStep is not null).SelectMany(r => new[]
        {
            new Series($"{r.Name}: generated", Enumerable.Range(1, r.GeneratedTokensPerStep!.Length).Select(i => (double)i).ToArray(), r.GeneratedTokensPerStep.Select(x => (double)x).ToArray()),
            new Series($"{r.Name}: kept (old/ref/update)", Enumerable.Range(1, r.TrainedTokensPerStep!.Length).Select(i => (double)i).ToArray(), r.TrainedTokensPerStep.Select(x => (double)x).ToArray()),
        }), "Completion tokens per step", "step", "tokens", markers: false);

    public static HtmlReport Build(CppoResults r)
    {
        var rep = new HtmlReport(CppoExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); {r.WallSeconds:F0} s. " +
                 "GRPO samples G completions per question and normalises rewards within each group; CPPO drops the completions with the " +
                 "smallest |advantage| before the old-policy, reference and update passes, and fills the batch with more questions.");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Table(CppoClaims.SummaryTable(r));
        rep.Heading("Pruning, step by step");
        var pruned = r.Runs.Where(x => x.P > 0).OrderByDescending(x => x.P).FirstOrDefault();
        var grpo = r.Runs.FirstOrDefault(x => x.P == 0);
        if (grpo?.Detail.Length > 0) rep.Chart(RewardMatrix(grpo.Detail[0], grpo.Name));
        if (pruned?.Detail.Length > 0)
        {
            var s = pruned.Detail[0];
            rep.Chart(AdvantageHistogram(s, pruned.Name)); rep.Chart(KeptMask(s, pruned.Name)); rep.Chart(KeptPerQuestion(s, pruned.Name));
        }
        rep.Heading("Time and accuracy");
        rep.Chart(TimeBreakdown(r.Runs));
        rep.Chart(AccuracyVsTime(r.Runs));
        rep.Chart(TokensPerStep(r.Runs));
        rep.Chart(PerStep(r.Runs, x => x.MeanRewardPerStep, "Mean reward of the sampled completions", "reward"));
        rep.Chart(PerStep(r.Runs, x => x.ZeroVariancePerStep, "Fraction of groups with equal rewards (no signal)", "fraction"));
        rep.Chart(PerStep(r.Runs, x => x.KlPerStep, "k3 KL to the reference (last inner iteration)", "KL"));
        rep.Chart(PerStep(r.Runs, x => x.ClipFractionPerStep, "Clipped-ratio fraction (last inner iteration; the first has ρ = 1)", "fraction"));
        return rep;
    }
}
