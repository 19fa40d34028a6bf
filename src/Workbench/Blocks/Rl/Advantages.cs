namespace Workbench.Blocks.Rl;

/// <summary>Baselines and advantages over groups of completions of the same prompt (pure functions on CPU arrays).</summary>
public static class Advantages
{
    /// <summary>
    /// GRPO's group-normalised advantage (cppo.md §2 step 1): A_i = (r_i − mean_g r) / (std_g r + eps) with the unbiased
    /// sample std (torch's default) and eps = 1e-4 (Open-R1). Rewards are laid out group after group
    /// (<paramref name="groupSize"/> consecutive entries per prompt). A group with equal rewards gets A = 0.
    /// <paramref name="scale"/> = false gives the mean-only baseline (Dr. GRPO / TRL's <c>scale_rewards=False</c>).
    /// </summary>
    public static double[] GroupNormalized(IReadOnlyList<double> rewards, int groupSize, double eps = 1e-4, bool scale = true)
    {
        CheckGroups(rewards.Count, groupSize);
        var a = new double[rewards.Count];
        for (int g0 = 0; g0 < rewards.Count; g0 += groupSize)
        {
            double mean = 0;
            for (int i = 0; i < groupSize; i++) mean += rewards[g0 + i];
            mean /= groupSize;
            double ss = 0;
            for (int i = 0; i < groupSize; i++) ss += (rewards[g0 + i] - mean) * (rewards[g0 + i] - mean);
            double std = groupSize > 1 ? Math.Sqrt(ss / (groupSize - 1)) : 0;
            bool equal = true;
            for (int i = 1; i < groupSize; i++) equal &= rewards[g0 + i] == rewards[g0];
            if (equal) continue;       // exactly 0 (the mean's rounding would otherwise leave ~1e-12 / eps)
            for (int i = 0; i < groupSize; i++) a[g0 + i] = scale ? (rewards[g0 + i] - mean) / (std + eps) : rewards[g0 + i] - mean;
        }
        return a;
    }

    /// <summary>RLOO: A_i = r_i − mean of the other K−1 rewards of the group.</summary>
    public static double[] LeaveOneOut(IReadOnlyList<double> rewards, int groupSize)
    {
        CheckGroups(rewards.Count, groupSize);
        if (groupSize < 2) throw new ArgumentException("LeaveOneOut needs groups of at least 2 completions.");
        var a = new double[rewards.Count];
        for (int g0 = 0; g0 < rewards.Count; g0 += groupSize)
        {
            double sum = 0;
            for (int i = 0; i < groupSize; i++) sum += rewards[g0 + i];
            for (int i = 0; i < groupSize; i++) a[g0 + i] = rewards[g0 + i] - (sum - rewards[g0 + i]) / (groupSize - 1);
        }
        return a;
    }

    /// <summary>Fraction of groups whose rewards are all equal (they carry no GRPO signal).</summary>
    public static double ZeroVarianceFraction(IReadOnlyList<double> rewards, int groupSize)
    {
        CheckGroups(rewards.Count, groupSize);
        int groups = rewards.Count / groupSize, flat = 0;
        for (int g0 = 0; g0 < rewards.Count; g0 += groupSize)
        {
            bool same = true;
            for (int i = 1; i < groupSize; i++) same &= rewards[g0 + i] == rewards[g0];
            if (same) flat++;
        }
        return groups == 0 ? 0 : (double)flat / groups;
    }

    static void CheckGroups(int n, int g)
    {
        if (g <= 0) throw new ArgumentException($"Group size must be positive (got {g}).");
        if (n % g != 0) throw new ArgumentException($"{n} rewards are not a whole number of groups of {g}.");
    }
}
