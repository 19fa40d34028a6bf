namespace Workbench.Blocks.Lm;

/// <summary>
/// A right-padded batch for next-token training on (prompt, target) rows: ids [Rows, Length], the next token at every
/// position (pad where there is none), and a loss mask that is 1 exactly where the next token belongs to the target — so
/// the loss is on the answer only (SFT warm starts, LLaVA-style training).
/// </summary>
public sealed record SupervisedBatch(long[] Ids, long[] Targets, float[] LossMask, int Rows, int Length)
{
    public static SupervisedBatch Build(IReadOnlyList<(long[] Prompt, long[] Target)> rows, long padId)
    {
        if (rows.Count == 0) throw new ArgumentException("SupervisedBatch: no rows.");
        int len = rows.Max(r => r.Prompt.Length + r.Target.Length);
        var ids = new long[rows.Count * len]; var tgt = new long[rows.Count * len]; var mask = new float[rows.Count * len];
        for (int i = 0; i < rows.Count; i++)
        {
            var full = rows[i].Prompt.Concat(rows[i].Target).ToArray();
            for (int t = 0; t < len; t++)
            {
                ids[i * len + t] = t < full.Length ? full[t] : padId;
                tgt[i * len + t] = t + 1 < full.Length ? full[t + 1] : padId;
                mask[i * len + t] = t + 1 >= rows[i].Prompt.Length && t + 1 < full.Length ? 1 : 0;
            }
        }
        return new SupervisedBatch(ids, tgt, mask, rows.Count, len);
    }
}
