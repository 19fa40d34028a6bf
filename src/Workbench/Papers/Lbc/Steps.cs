using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Papers.Lbc;

/// <summary>Step 2: the combination table B ∈ {0,1}^{C×M}, one row per N-subset of {0..M-1} in lexicographic order.</summary>
public sealed record CombinationTable(int N, int M, int[][] Subsets)
{
    public int C => Subsets.Length;
    /// <summary>B as a C×M array of 0/1.</summary>
    public double[][] B => Subsets.Select(s => Enumerable.Range(0, M).Select(j => s.Contains(j) ? 1.0 : 0.0).ToArray()).ToArray();
    public string Label(int c) => "{" + string.Join(",", Subsets[c]) + "}";
    public Tensor BTensor(Device? device = null) =>
        torch.tensor(B.SelectMany(r => r).Select(v => (float)v).ToArray(), [C, M], device: device);
}

/// <summary>
/// LBC (Zhang et al., NeurIPS 2022, arXiv 2206.06662), the method as small steps. Symbols: A = scores (G×C),
/// B = combination table (C×M), k = removed combinations per group, t_i / t_f / p = removal schedule.
/// </summary>
public static class LbcSteps
{
    public static long Binomial(int n, int k)
    {
        if (k < 0 || k > n) return 0;
        long r = 1;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    /// <summary>Step 2: all N-subsets of {0..M-1}, lexicographic (as itertools.combinations).</summary>
    public static CombinationTable Combinations(int n, int m)
    {
        if (n < 1 || n >= m) throw new ArgumentException($"N:M = {n}:{m}: need 1 <= N < M.");
        var list = new List<int[]>();
        var cur = new int[n];
        void Rec(int start, int depth)
        {
            if (depth == n) { list.Add((int[])cur.Clone()); return; }
            for (int j = start; j <= m - (n - depth); j++) { cur[depth] = j; Rec(j + 1, depth + 1); }
        }
        Rec(0, 0);
        return new CombinationTable(n, m, list.ToArray());
    }

    /// <summary>Step 2: initial scores 1/C(M−1,N−1), so every weight's raw mask Σ_{c∋j} A_gc = 1 (dense start).</summary>
    public static Tensor InitScores(long groups, int n, int m, Device? device = null) =>
        torch.full(groups, Binomial(m, n), 1.0 / Binomial(m - 1, n - 1), dtype: ScalarType.Float32, device: device);

    /// <summary>
    /// Step 3: the forward mask (G×M). A' = A ⊙ [A≠0]; raw = A'·B; mask = [raw≠0] in the forward pass, and the
    /// backward is straight-through (∂L/∂raw = ∂L/∂mask), so ∂L/∂A_gc = [A_gc≠0] · Σ_{j∈c} ∂L/∂mask_gj.
    /// </summary>
    public static Tensor ForwardMask(Tensor scores, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var live = scores * scores.ne(0).to_type(scores.dtype);   // A ⊙ [A≠0]
        var raw = live.matmul(b);                                 // (G, M)
        var hard = raw.ne(0).to_type(raw.dtype);                  // raw / raw
        return (raw + (hard - raw).detach()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Step 4: k(e), the number of removed combinations per group at epoch e:
    /// card = 1 + ceil((C−1)(1 − (e−t_i)/(t_f−t_i))^p), k = C − card; 0 before t_i and C−1 from t_f on.
    /// </summary>
    public static int RemovalCount(int epoch, int c, int ti, int tf, double p)
    {
        if (tf <= ti) throw new ArgumentException($"Removal schedule needs t_f > t_i (got t_i={ti}, t_f={tf}).");
        if (epoch <= ti) return 0;
        if (epoch >= tf) return c - 1;
        double frac = 1.0 - (double)(epoch - ti) / (tf - ti);
        int card = 1 + (int)Math.Ceiling((c - 1) * Math.Pow(frac, p) - 1e-12);
        return c - card;
    }

    /// <summary>
    /// Step 5 (every iteration, before the forward): in each row of A, entries that are exactly 0 are set to −1000,
    /// then the k smallest entries are set to 0, so each row has exactly k zeros. In place, no autograd.
    /// </summary>
    public static void RemoveLowest(Tensor scores, int k)
    {
        if (k <= 0) return;
        if (k >= scores.shape[1]) throw new ArgumentException($"Cannot remove {k} of {scores.shape[1]} combinations: at least one must remain.");
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        scores.masked_fill_(scores.eq(0), -1000f);
        var idx = scores.topk(k, dim: 1, largest: false, sorted: false).indexes;
        scores.scatter_(1, idx, torch.zeros_like(idx, dtype: scores.dtype));
    }
}
