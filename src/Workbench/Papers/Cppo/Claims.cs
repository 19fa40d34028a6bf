using System.Globalization;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Cppo;

/// <summary>One row of the P → {k, steps, time, speed-up, accuracy} table (means over seeds).</summary>
public sealed record CppoSummaryRow(string Name, double P, int Multiplier, int KeptPerQuestion, int Seeds, int OptimizerSteps,
    double TrainSeconds, double Speedup, double Accuracy, double AccuracySd, long GeneratedTokens, long UpdateTokens, string Metric, bool Allocation);

public static class CppoClaims
{
    static string F(double v, string f = "F2") => v.ToString(f, CultureInfo.InvariantCulture);

    public static IReadOnlyList<CppoSummaryRow> Summary(CppoResults r)
    {
        var grpo = r.Runs.Where(x => x.P == 0).ToList();
        double grpoTime = grpo.Count > 0 ? grpo.Average(x => x.TrainSeconds) : double.NaN;
        return r.Runs.GroupBy(x => x.Name).Select(g =>
        {
            var f = g.First();
            var acc = g.Select(x => x.FinalAccuracy).ToArray();
            double mean = acc.Average(), sd = acc.Length > 1 ? Math.Sqrt(acc.Sum(a => (a - mean) * (a - mean)) / (acc.Length - 1)) : 0;
            double t = g.Average(x => x.TrainSeconds);
            return new CppoSummaryRow(g.Key, f.P, f.Multiplier, (int)Math.Round(r.Config.G * (1 - f.P)), acc.Length, f.OptimizerSteps, t,
                grpoTime / t, mean, sd, (long)g.Average(x => x.GeneratedTokens), (long)g.Average(x => x.UpdateTokens), f.Metric, f.Allocation);
        }).ToList();
    }

    public static Table SummaryTable(CppoResults r) => new(
        ["run", "P", "m", "k = G(1−P)", "seeds", "optimizer steps", "train s", "speed-up", "accuracy", "generated tokens", "update tokens"],
        Summary(r).Select(x => new[] { x.Name, F(x.P, "G4"), x.Multiplier.ToString(), x.KeptPerQuestion.ToString(), x.Seeds.ToString(),
            x.OptimizerSteps.ToString(), F(x.TrainSeconds, "F1"), F(x.Speedup) + "×", $"{100 * x.Accuracy:F1} ± {100 * x.AccuracySd:F1}",
            x.GeneratedTokens.ToString("N0", CultureInfo.InvariantCulture), x.UpdateTokens.ToString("N0", CultureInfo.InvariantCulture) }).ToList());

    public static IReadOnlyList<Claim> Evaluate(CppoResults r)
    {
        var rows = Summary(r);
        bool gpu = r.Preset == "gpu";
        int seeds = r.Config.SeedList.Length;
        string ours = $"{r.Preset} preset on {r.Runtime.DeviceName}: {r.Parameters / 1e6:F2}M-param LM, ArithWord 2–4 ops, G = {r.Config.G}, " +
                      $"{r.Config.TrainQuestions} questions, {seeds} seed(s)";
        string pending = "Test preset (tiny model, CPU): an illustration of the pipeline, not a measurement; the H100 run is pending";
        var claims = new List<Claim>();
        var grpo = rows.FirstOrDefault(x => x.P == 0);
        var main = rows.Where(x => x.P > 0 && x.Allocation && x.Metric == nameof(PruneMetric.Smallest)).OrderBy(x => x.P).ToList();
        if (grpo is not null && main.Count > 0)
        {
            bool monotone = main.Select(x => x.TrainSeconds).Prepend(grpo.TrainSeconds).Zip(main.Select(x => x.TrainSeconds), (a, b) => b < a).All(x => x);
            var at875 = main.FirstOrDefault(x => Math.Abs(x.P - 0.875) < 1e-9);
            var v = !gpu ? Verdict.Pending : !monotone ? Verdict.NotReproduced : at875 is not null && at875.Speedup >= 2 ? Verdict.Reproduced : Verdict.Partly;
            claims.Add(new Claim("Training-time speed-up over GRPO grows with the pruning rate P",
                "GSM8K, Qwen2.5-1.5B-Instruct, G = 16, 1 epoch", "1.81× / 3.27× / 4.89× / 8.32× at P = 0.5 / 0.75 / 0.875 / 0.9375",
                ours, string.Join(" / ", main.Select(x => $"{F(x.Speedup)}× (P={F(x.P, "G4")})")) + $"; GRPO {F(grpo.TrainSeconds, "F1")} s",
                v, gpu ? "wall clock of the training epoch, evaluation excluded; spec's toy expectation ≈ 2–4× at P = 0.875" : pending));
            var worst = main.Where(x => x.P <= 0.875 + 1e-9).Select(x => x.Accuracy - grpo.Accuracy).DefaultIfEmpty(0).Min();
            var va = !gpu ? Verdict.Pending : worst >= -0.02 ? (seeds >= 3 ? Verdict.Reproduced : Verdict.Partly) : Verdict.NotReproduced;
            claims.Add(new Claim("Accuracy is kept (or improves) at P ≤ 0.875",
                "GSM8K test accuracy", "GRPO 77.05; P=0.5 77.67, 0.75 78.81, 0.875 80.41, 0.9375 78.20",
                ours + $"; greedy accuracy on {r.Config.EvalQuestions} held-out {r.Config.EvalOps}-op problems",
                $"GRPO {100 * grpo.Accuracy:F1}; " + string.Join(", ", main.Select(x => $"P={F(x.P, "G4")} {100 * x.Accuracy:F1}")) + $" (SFT start {100 * r.SftEval.Accuracy:F1})",
                va, gpu ? (seeds < 3 ? "fewer than 3 seeds: within-2-points is not significant" : "") : pending));
            var steps = main.Select(x => (x, ok: x.OptimizerSteps * x.Multiplier == grpo.OptimizerSteps && x.GeneratedTokens > 0)).ToList();
            claims.Add(new Claim("Same generated completions per epoch, m× fewer optimizer steps and ∝(1−P) update tokens",
                "method (dynamic completion allocation)", "steps/epoch = GRPO/m",
                ours, string.Join("; ", main.Select(x => $"P={F(x.P, "G4")}: {x.OptimizerSteps} vs {grpo.OptimizerSteps} steps, update tokens {F(x.UpdateTokens / (double)Math.Max(1, grpo.UpdateTokens))}× GRPO's")),
                steps.All(s => s.ok) ? Verdict.Reproduced : Verdict.NotReproduced,
                "generated tokens differ only because completion lengths differ between runs"));
        }
        var noAlloc = rows.FirstOrDefault(x => !x.Allocation && x.P > 0);
        var withAlloc = noAlloc is null ? null : main.FirstOrDefault(x => Math.Abs(x.P - noAlloc.P) < 1e-9);
        if (noAlloc is not null && withAlloc is not null)
            claims.Add(new Claim("Dynamic completion allocation adds to the speed-up", "paper: allocation keeps batches full", "faster with allocation",
                ours, $"P={F(noAlloc.P, "G4")}: {F(withAlloc.TrainSeconds, "F1")} s with, {F(noAlloc.TrainSeconds, "F1")} s without",
                !gpu ? Verdict.Pending : withAlloc.TrainSeconds < noAlloc.TrainSeconds ? Verdict.Reproduced : Verdict.NotReproduced, gpu ? "" : pending));
        var largest = rows.FirstOrDefault(x => x.Metric == nameof(PruneMetric.Largest));
        var random = rows.FirstOrDefault(x => x.Metric == nameof(PruneMetric.Random));
        var small = largest is null ? null : main.FirstOrDefault(x => Math.Abs(x.P - largest.P) < 1e-9);
        if (largest is not null && random is not null && small is not null)
            claims.Add(new Claim("Pruning the smallest |A| beats random and largest", "ablation (paper)", "smallest ≥ random > largest",
                ours, $"smallest {100 * small.Accuracy:F1}, random {100 * random.Accuracy:F1}, largest {100 * largest.Accuracy:F1}",
                !gpu ? Verdict.Pending : small.Accuracy >= random.Accuracy && random.Accuracy > largest.Accuracy ? Verdict.Reproduced
                    : small.Accuracy > largest.Accuracy ? Verdict.Partly : Verdict.NotReproduced, gpu ? "" : pending));
        return Blocks.Rl.RlBudget.Annotate(claims, ours, r.Sft, r.Budget);
    }

    public static string Markdown(CppoResults r)
    {
        var pre = $"""
            Paper: Lin, Lin, Xie, Ji, *CPPO: Accelerating the Training of Group Relative Policy Optimization-Based Reasoning Models*,
            arXiv 2503.22342 (NeurIPS'25). Method re-derived from the spec (`shared/papers/cppo.md`); no code copied.

            - Preset: `{r.Preset}`; device: {r.Runtime.Device} ({r.Runtime.DeviceName}); wall time {r.WallSeconds:F0} s; started {r.StartedUtc}
            - Model: {r.Parameters:N0} parameters (d = {r.Config.Model.Dim}, {r.Config.Model.Layers} layers); SFT warm start: greedy accuracy
              {100 * r.SftEval.Accuracy:F1}% on held-out {r.Config.EvalOps}-op problems
            - Timed interval: the training epoch (generate, score, prune, old+ref, update), evaluation excluded.
            {Blocks.Rl.RlBudget.MarkdownLine(r.Sft, r.Budget)}
            """;
        return ClaimsTable.ToMarkdown("CPPO", r.Claims, pre, "## Runs\n\n" + SummaryTable(r).ToMarkdown());
    }
}
