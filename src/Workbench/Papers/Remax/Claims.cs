using System.Globalization;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Remax;

public static class RemaxClaims
{
    static string F(double v, string f = "F2") => v.ToString(f, CultureInfo.InvariantCulture);
    static string Gb(long b) => $"{b / 1e9:F2} GB";

    public static Table RunsTable(RemaxResults r) => new(
        ["method", "γ", "decodes/prompt", "trainable params", "Adam state", "s/iteration", "train s", "accuracy", "explained var (PPO)"],
        r.Runs.Select(x => new[] { x.Name, F(x.Gamma), x.DecodesPerPrompt.ToString(), x.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture),
            $"{x.OptimizerStateBytes / 1e6:F1} MB", F(x.SecondsPerIteration, "F3"), F(x.TrainSeconds, "F1"), $"{100 * x.FinalAccuracy:F1}",
            x.ExplainedVariancePerStep.Length > 0 && x.ExplainedVariancePerStep.Any(double.IsFinite) ? F(x.ExplainedVariancePerStep.Where(double.IsFinite).Last()) : "—" }).ToList());

    public static Table MemoryTable(RemaxResults r) => new(
        ["method", "batch", "tokens", "params (trained)", "weights", "grads", "Adam", "activations (est.)", "measured peak", "source"],
        r.Memory.Select(m => new[] { m.Method, m.Batch.ToString(), m.Tokens.ToString(), m.Parameters.ToString("N0", CultureInfo.InvariantCulture),
            Gb(m.WeightBytes), Gb(m.GradBytes), Gb(m.AdamBytes), Gb(m.ActivationEstimateBytes), m.MeasuredBytes is long v ? Gb(v) : "—", m.Source }).ToList());

    public static Table VarianceTable(RemaxResults r) => new(
        ["estimator", "reward shift", "draws", "tr Cov(g)", "mean ‖g‖"],
        r.Variance.Select(v => new[] { v.Estimator, F(v.Shift, "G3"), v.Draws.ToString(), v.ProjectedVariance.ToString("G4", CultureInfo.InvariantCulture), F(v.MeanNorm, "G4") }).ToList());

    public static IReadOnlyList<Claim> Evaluate(RemaxResults r)
    {
        bool gpu = r.Preset == "gpu";
        string pending = "Test preset (tiny model, CPU): an illustration of the pipeline, not a measurement; the H100 run is pending";
        var claims = new List<Claim>();
        var remax = r.Runs.FirstOrDefault(x => x.Method == nameof(RlMethod.ReMax) && x.Gamma == 1) ?? r.Runs.FirstOrDefault(x => x.Method == nameof(RlMethod.ReMax));
        var ppo = r.Runs.FirstOrDefault(x => x.Method == nameof(RlMethod.Ppo));
        string ours = $"{r.Preset} preset on {r.Runtime.DeviceName}: {r.Parameters / 1e6:F2}M-param LM, {r.Config.PromptsPerStep} prompts × {r.Config.Steps} steps";

        var pairs = r.Memory.GroupBy(m => m.Batch).Select(g => (Batch: g.Key, ReMax: g.FirstOrDefault(x => x.Method == "ReMax"), Ppo: g.FirstOrDefault(x => x.Method == "PPO")))
            .Where(p => p.ReMax is not null && p.Ppo is not null).ToList();
        if (pairs.Count > 0)
        {
            bool measured = pairs.All(p => p.ReMax!.MeasuredBytes is not null && p.Ppo!.MeasuredBytes is not null);
            var savings = pairs.Select(p => measured ? 1 - p.ReMax!.MeasuredBytes!.Value / (double)p.Ppo!.MeasuredBytes!.Value
                : 1 - (p.ReMax!.WeightBytes + p.ReMax.GradBytes + p.ReMax.AdamBytes + p.ReMax.ActivationEstimateBytes) /
                      (double)(p.Ppo!.WeightBytes + p.Ppo.GradBytes + p.Ppo.AdamBytes + p.Ppo.ActivationEstimateBytes)).ToList();
            var mm = r.Config.MemoryModelOrDefault;
            var v = !gpu || !measured ? Verdict.Pending : savings.Max() >= 0.4 ? Verdict.Reproduced : savings.Max() >= 0.2 ? Verdict.Partly : Verdict.NotReproduced;
            claims.Add(new Claim("≈46% less GPU memory than PPO (no critic: no critic weights, grads, Adam state, activations)",
                "Llama-2-7B, critic as large as the actor, A800/A100-80GB", "≈46% less",
                $"d = {mm.Dim}, {mm.Layers} layers, one update incl. frozen reference forward, critic = actor size; {(measured ? "NVML peak, fresh process each" : "analytic estimate only")}",
                string.Join("; ", pairs.Zip(savings, (p, s) => $"batch {p.Batch}: {100 * s:F0}% less" +
                    (measured ? $" ({Gb(p.ReMax!.MeasuredBytes!.Value)} vs {Gb(p.Ppo!.MeasuredBytes!.Value)})" : ""))),
                v, measured ? "NVML includes the CUDA context and the caching allocator's reserve" : pending + "; the numbers shown are the analytic estimate"));
        }
        if (remax is not null && ppo is not null)
        {
            double speed = ppo.SecondsPerIteration / remax.SecondsPerIteration;
            claims.Add(new Claim("Faster training per iteration than PPO", "Llama-2-7B: ≈1.6×; README 1 GPU: 22.0 h vs 10.2 h", "≈1.6× (2.2× README)",
                ours, $"{F(speed)}× ({1000 * ppo.SecondsPerIteration:F0} vs {1000 * remax.SecondsPerIteration:F0} ms/iteration)",
                !gpu ? Verdict.Pending : speed >= 1.3 ? Verdict.Reproduced : speed > 1 ? Verdict.Partly : Verdict.NotReproduced,
                gpu ? "ReMax adds a greedy decode, PPO adds a critic forward and update; the spec expects ≥ 1.3× at this size" : pending));
            double d = remax.FinalAccuracy - ppo.FinalAccuracy;
            claims.Add(new Claim("Reward/accuracy at least as good as PPO", "OPT-1.3B reward curves; AlpacaEval/MT-Bench at 7B", "≥ PPO",
                ours + $"; greedy accuracy on {r.Config.EvalQuestions} held-out {r.Config.EvalOps}-op problems, one seed",
                $"ReMax {100 * remax.FinalAccuracy:F1}, PPO {100 * ppo.FinalAccuracy:F1} (SFT {100 * r.SftEval.Accuracy:F1})" +
                    string.Concat(r.Runs.Where(x => x != remax && x != ppo).Select(x => $", {x.Name} {100 * x.FinalAccuracy:F1}")),
                !gpu ? Verdict.Pending : d >= -0.02 ? Verdict.Partly : Verdict.NotReproduced,
                gpu ? "one seed: “within noise” cannot be claimed more strongly than partly" : pending));
        }
        var v0 = r.Variance.Where(x => x.Shift == 0).ToList();
        var vs = r.Variance.Where(x => x.Shift != 0).ToList();
        var g0 = v0.FirstOrDefault(x => x.Estimator.StartsWith("greedy")); var gs = vs.FirstOrDefault(x => x.Estimator.StartsWith("greedy"));
        var n0 = v0.FirstOrDefault(x => x.Estimator.StartsWith("none")); var ns = vs.FirstOrDefault(x => x.Estimator.StartsWith("none"));
        if (g0 is not null && gs is not null && n0 is not null && ns is not null)
        {
            bool invariant = Math.Abs(gs.ProjectedVariance - g0.ProjectedVariance) <= 1e-6 * Math.Max(1e-30, g0.ProjectedVariance) + 1e-12;
            bool grows = ns.ProjectedVariance > n0.ProjectedVariance;
            claims.Add(new Claim("The greedy baseline reduces variance (under conditions), and is unbiased",
                "theory (ReMax §4)", "variance reduction when r(greedy) tracks E[r]",
                $"frozen SFT policy, {g0.Draws} draws × {r.Config.VariancePrompts} prompts; rewards as is and shifted by {F(gs.Shift, "G3")}",
                $"tr Cov: none {n0.ProjectedVariance:G3} → {ns.ProjectedVariance:G3} when shifted; greedy {g0.ProjectedVariance:G3} → {gs.ProjectedVariance:G3}; " +
                string.Join(", ", v0.Select(x => $"{x.Estimator} {x.ProjectedVariance:G3}")),
                invariant && grows ? (g0.ProjectedVariance < n0.ProjectedVariance ? Verdict.Reproduced : Verdict.Partly) : Verdict.NotReproduced,
                "with 0/1-like rewards the greedy baseline need not beat b = 0 (spec §5); it is invariant to a constant reward shift, b = 0 is not"));
        }
        return claims;
    }

    public static string Markdown(RemaxResults r)
    {
        var pre = $"""
            Paper: Li, Xu, Zhang, Lin, Yu, Sun, Luo, *ReMax: A Simple, Effective, and Efficient Reinforcement Learning Method for
            Aligning Large Language Models*, arXiv 2310.10505 (ICML 2024). Method re-derived from the spec (`shared/papers/remax.md`).

            - Preset: `{r.Preset}`; device: {r.Runtime.Device} ({r.Runtime.DeviceName}); wall time {r.WallSeconds:F0} s; started {r.StartedUtc}
            - Model: {r.Parameters:N0} parameters; SFT warm start: greedy accuracy {100 * r.SftEval.Accuracy:F1}% on held-out {r.Config.EvalOps}-op problems
            - Task reward: 1.0 correct answer + 0.2 well-formed trace (a program, so there is no reward model in the memory budget)
            """;
        return ClaimsTable.ToMarkdown("ReMax", r.Claims, pre, "## Runs\n\n" + RunsTable(r).ToMarkdown() + "\n## Memory\n\n" + MemoryTable(r).ToMarkdown() +
            "\n## Gradient variance\n\n" + VarianceTable(r).ToMarkdown());
    }
}
