namespace Workbench.Papers.Cppo;

/// <summary>Which completions to prune (the paper's ablation): smallest |A| (CPPO's default), largest |A|, or random.</summary>
public enum PruneMetric { Smallest, Largest, Random }

/// <summary>Over what the pruning count is taken: the whole step batch (Open-R1 code: the per-device batch) or each question's group.</summary>
public enum PruneScope { Batch, Group }

/// <summary>What pruning kept: sorted kept and pruned indices, the |A| cut (<c>Threshold</c>: the largest pruned |A|, drawn on
/// the histogram; NaN when nothing was pruned), and how many survived per question.</summary>
public sealed record PruneResult(int[] Kept, int[] Pruned, double Threshold, int[] KeptPerGroup, double[] AbsAdvantage);

/// <summary>CPPO's completion pruning (cppo.md §2 step 2) and dynamic completion allocation (step 3).</summary>
public static class Pruning
{
    /// <summary>
    /// Prunes ⌊N·P⌋ completions (batch scope, Open-R1's integer arithmetic) or ⌊G·P⌋ per question (group scope) by
    /// <paramref name="metric"/>. Ties in |A| are broken by index (lower index pruned first for <c>Smallest</c>), so the
    /// result is deterministic; kept indices are returned in ascending order (as the verl port sorts them).
    /// </summary>
    public static PruneResult Prune(IReadOnlyList<double> advantages, double rate, PruneMetric metric, PruneScope scope, int groupSize, Random? rng = null)
    {
        if (!(rate >= 0 && rate < 1)) throw new ArgumentException($"Pruning rate P = {rate} must be in [0, 1).");
        if (groupSize <= 0 || advantages.Count % groupSize != 0)
            throw new ArgumentException($"{advantages.Count} advantages are not whole groups of {groupSize}.");
        if (metric == PruneMetric.Random && rng is null) throw new ArgumentException("Random pruning needs a seeded Random.");
        var abs = advantages.Select(Math.Abs).ToArray();
        var pruned = new List<int>();
        void PruneWithin(int[] idx)
        {
            int np = (int)Math.Floor(idx.Length * rate + 1e-9);
            IEnumerable<int> order = metric switch
            {
                PruneMetric.Smallest => idx.OrderBy(i => abs[i]).ThenBy(i => i),
                PruneMetric.Largest => idx.OrderByDescending(i => abs[i]).ThenBy(i => i),
                _ => idx.OrderBy(_ => rng!.Next()),
            };
            pruned.AddRange(order.Take(np));
        }
        int n = advantages.Count;
        if (scope == PruneScope.Batch) PruneWithin(Enumerable.Range(0, n).ToArray());
        else for (int g0 = 0; g0 < n; g0 += groupSize) PruneWithin(Enumerable.Range(g0, groupSize).ToArray());
        var prunedSet = pruned.ToHashSet();
        var kept = Enumerable.Range(0, n).Where(i => !prunedSet.Contains(i)).ToArray();
        var perGroup = new int[n / groupSize];
        foreach (var k in kept) perGroup[k / groupSize]++;
        return new PruneResult(kept, pruned.Order().ToArray(), pruned.Count == 0 ? double.NaN : pruned.Max(i => abs[i]), perGroup, abs);
    }

    /// <summary>
    /// Dynamic completion allocation's multiplier m = 1/(1−P): questions per step become m·Q so that after pruning the kept
    /// batch is as large as GRPO's. Only P = 1 − 1/m is valid (0, 0.5, 0.75, 0.875, 0.9375, …); the official code's
    /// <c>int(1/(1−P))</c> silently truncates anything else, so this throws instead.
    /// </summary>
    public static int AllocationMultiplier(double rate)
    {
        if (!(rate >= 0 && rate < 1)) throw new ArgumentException($"Pruning rate P = {rate} must be in [0, 1).");
        double m = 1 / (1 - rate);
        int mi = (int)Math.Round(m);
        if (Math.Abs(m - mi) > 1e-9)
            throw new ArgumentException($"Allocation needs P = 1 − 1/m (0.5, 0.75, 0.875, 0.9375, …); P = {rate} gives m = {m:G4}. " +
                "Pick one of those rates or turn allocation off.");
        return mi;
    }
}
