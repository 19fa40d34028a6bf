using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Optim;
using Workbench.Blocks.Rl;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.Remax;

/// <summary>
/// Gradient variance of REINFORCE-style estimators on a frozen policy (remax.md §5, experiment 4). Each draw samples two
/// completions per prompt; "none", "batch mean" and "greedy (ReMax)" use the first, "leave-one-out (K=2)" uses both
/// (compute-matched with ReMax's sample + greedy). The gradient of −(1/B) Σ_i (r_i − b_i) log π(a_i) is accumulated with
/// Welford's method over draws; the reported number is the trace of its covariance over all parameters (Σ_j Var(g_j)), not a
/// projection on random directions (the spec allows either).
/// </summary>
public static class GradientVariance
{
    public static readonly string[] Estimators = ["none (b=0)", "batch mean", "greedy (ReMax)", "leave-one-out (K=2)"];

    /// <summary>Draws timed before <paramref name="budgetSeconds"/> fits the number of draws.</summary>
    public const int ProbeDraws = 3;

    /// <param name="budgetSeconds">Seconds this call may take (null: all <paramref name="draws"/>). With a budget the first
    /// <see cref="ProbeDraws"/> draws are timed and the count is fitted with <see cref="TimeBudget.FitSteps"/> (never below
    /// <see cref="ProbeDraws"/>); the rows carry the draws actually made, so a second call (the shifted rewards) can use the same.</param>
    public static IReadOnlyList<VarianceRow> Measure(TinyLm policy, ArithTask task, IReadOnlyList<ArithProblem> prompts, int draws, int maxNewTokens,
        double temperature, double topP, double shift, long seed, double? budgetSeconds = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int requested = draws;
        var device = policy.parameters().First().device;
        var tok = task.Tokenizer;
        using var flat = FlatParameters.Create(policy.named_parameters().Select(p => (p.name, p.parameter)));
        int e = Estimators.Length;
        var mean = Enumerable.Range(0, e).Select(_ => torch.zeros_like(flat.Data).DetachFromDisposeScope()).ToArray();
        var m2 = Enumerable.Range(0, e).Select(_ => torch.zeros_like(flat.Data).DetachFromDisposeScope()).ToArray();
        var norms = new double[e];
        var weightSums = new double[e];
        double[] greedy;
        using (var g = Sequences.Sample(policy, task.Prompts(prompts, device), new GenerationOptions(maxNewTokens, Greedy: true, EosId: tok.EosId, PadId: tok.PadId)))
            greedy = task.Score(prompts, 1, g.Tokens).Rewards.Select(r => r + shift).ToArray();
        // Same samples for every shift: the greedy estimate is then exactly shift-invariant.
        var gen = Seeding.TorchGenerator(seed, "variance");
        int b = prompts.Count;
        Progress.Run($"gradient variance (shift {shift})", draws, tick =>
        {
            for (int d = 0; d < draws; d++)
            {
                if (d == ProbeDraws && budgetSeconds is double budget)
                    draws = TimeBudget.FitSteps(draws, d, clock.Elapsed.TotalSeconds, budget, minimum: ProbeDraws);
                if (d >= draws) break;
                using var scope = torch.NewDisposeScope();
                using var r = Sequences.Sample(policy, task.Prompts(prompts, device, 2),
                    new GenerationOptions(maxNewTokens, temperature, topP, EosId: tok.EosId, PadId: tok.PadId), gen);
                var rew = task.Score(prompts, 2, r.Tokens).Rewards.Select(x => x + shift).ToArray();
                var logp = Sequences.CompletionLogProbs(policy, r);
                var seqLogp = (logp * r.Mask.to_type(logp.dtype)).sum(1);          // [2B]
                double batchMean = Enumerable.Range(0, b).Average(i => rew[2 * i]);
                for (int k = 0; k < e; k++)
                {
                    var w = new float[2 * b];
                    for (int i = 0; i < b; i++)
                    {
                        double r0 = rew[2 * i], r1 = rew[2 * i + 1];
                        switch (k)
                        {
                            case 0: w[2 * i] = (float)r0; break;
                            case 1: w[2 * i] = (float)(r0 - batchMean); break;
                            case 2: w[2 * i] = (float)(r0 - greedy[i]); break;
                            default: w[2 * i] = (float)(0.5 * (r0 - r1)); w[2 * i + 1] = (float)(0.5 * (r1 - r0)); break;
                        }
                    }
                    weightSums[k] += w.Sum(x => Math.Abs((double)x));
                    var loss = -(torch.tensor(w).to(device).to_type(seqLogp.dtype) * seqLogp).sum() / b;
                    flat.ZeroGrad();
                    loss.backward(null, retain_graph: k < e - 1);
                    using (torch.no_grad())
                    {
                        // Welford: delta = g − mean; mean += delta / n; m2 += delta · (g − mean)
                        var delta = flat.Grad - mean[k];
                        mean[k].add_(delta / (d + 1));
                        m2[k].add_(delta * (flat.Grad - mean[k]));
                        norms[k] += flat.Grad.norm().ToDouble() / requested;
                    }
                }
                tick.Tick();
            }
        });
        var rows = Enumerable.Range(0, e).Select(k => new VarianceRow(Estimators[k], shift, draws, m2[k].sum().ToDouble() / (draws - 1), draws == requested ? norms[k] : norms[k] * requested / draws, weightSums[k])).ToList();
        foreach (var t in mean.Concat(m2)) t.Dispose();
        return rows;
    }
}
