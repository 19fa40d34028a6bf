namespace Workbench.Blocks.Rl;

/// <summary>Generalised advantage estimation (PPO in DeepSpeed-Chat, remax.md §2), per row over its valid tokens.</summary>
public static class Gae
{
    /// <summary>
    /// δ_t = r_t + γV_{t+1} − V_t, A_t = δ_t + γλA_{t+1}, returns R_t = A_t + V_t, over the first <c>lengths[b]</c> tokens of
    /// each row (V after the last valid token is 0). Arrays are [rows][tokens]; entries past a row's length stay 0.
    /// </summary>
    public static (double[][] Advantages, double[][] Returns) Compute(double[][] rewards, double[][] values, int[] lengths, double gamma, double lambda)
    {
        int b = rewards.Length;
        var adv = new double[b][]; var ret = new double[b][];
        for (int i = 0; i < b; i++)
        {
            int n = lengths[i], t = rewards[i].Length;
            if (values[i].Length != t || n > t || n < 0) throw new ArgumentException($"GAE row {i}: {t} rewards, {values[i].Length} values, length {n}.");
            adv[i] = new double[t]; ret[i] = new double[t];
            double next = 0, nextV = 0;
            for (int k = n - 1; k >= 0; k--)
            {
                double delta = rewards[i][k] + gamma * nextV - values[i][k];
                next = delta + gamma * lambda * next;
                adv[i][k] = next; ret[i][k] = next + values[i][k];
                nextV = values[i][k];
            }
        }
        return (adv, ret);
    }
}
