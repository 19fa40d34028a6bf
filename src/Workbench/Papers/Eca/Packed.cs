using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Papers.Eca;

/// <summary>
/// One level of ECA as four large operations instead of ~150 small ones (the GPU-friendly form; the official code also
/// packs its 34 operand pairs into one batched GEMM): (1) all operand combinations at once as a coefficient matrix times
/// the stacked blocks, (2) the 34 block products as one batched matmul, (3) the output blocks as a second coefficient
/// matrix times the products, (4) one scatter into place. The triangular pieces run as dense block products here.
/// Step A's 34 pairs: m1…m24, r2, r3, and S00, S33 split along the inner dimension into 4 (b, e) pairs each. Step B's:
/// m1…m24, h1, h2, and P1·V1…V4, P10·V13…V16.
/// </summary>
public static class EcaPacked
{
    sealed record Plan(double[,] Left, double[,] Right, double[,] Out, int[] OutRow, int[] OutCol, bool[] OutTril, int LeftBlocks);

    static readonly Lazy<Plan> APlan = new(() => Build(Schemes.A, isA: true));
    static readonly Lazy<Plan> BPlan = new(() => Build(Schemes.B, isA: false));

    static Plan Build(Schemes.Scheme s, bool isA)
    {
        int leftBlocks = isA ? 16 : 10;
        var pairs = s.Products.Select(p => (p.Name, L: p.Left.Terms, R: p.Right.Terms)).ToList();
        // The two triangular row/diagonal products as 4 single-block pairs each.
        for (int c = 0; c < 4; c++)
            pairs.Add(($"D0_{c}", isA ? Single(1 + c) : Single(1), Single(1 + c)));
        for (int c = 0; c < 4; c++)
            pairs.Add(($"D3_{c}", isA ? Single(13 + c) : Single(10), Single(13 + c)));
        int n = pairs.Count;                                                 // 34
        var left = new double[n, leftBlocks]; var right = new double[n, 16];
        for (int i = 0; i < n; i++)
        {
            foreach (var (k, v) in pairs[i].L) left[i, k - 1] = v;
            foreach (var (k, v) in pairs[i].R) right[i, k - 1] = v;
        }
        var index = pairs.Select((p, i) => (p.Name, i)).ToDictionary(x => x.Name, x => x.i);
        var outs = new List<(int Row, int Col, Dictionary<int, double> Terms, bool Tril)>();
        if (isA)
        {
            outs.Add((0, 0, Enumerable.Range(0, 4).ToDictionary(c => index[$"D0_{c}"], _ => 1.0), true));
            outs.Add((3, 3, Enumerable.Range(0, 4).ToDictionary(c => index[$"D3_{c}"], _ => 1.0), true));
        }
        else
            for (int c = 0; c < 4; c++) outs.Add((0, c, new Dictionary<int, double> { [index[$"D0_{c}"]] = 1 }, false));
        foreach (var o in s.Outputs)
        {
            var terms = new Dictionary<int, double>();
            foreach (var (coef, name) in o.Terms)
            {
                var key = name.StartsWith('T') ? index[$"D3_{name[^1] - '0'}"] : index[name];
                terms[key] = terms.GetValueOrDefault(key) + coef;
            }
            outs.Add((o.Row, o.Col, terms, o.LowerOnly));
        }
        var outM = new double[outs.Count, n];
        for (int i = 0; i < outs.Count; i++) foreach (var (k, v) in outs[i].Terms) outM[i, k] = v;
        return new Plan(left, right, outM, outs.Select(o => o.Row).ToArray(), outs.Select(o => o.Col).ToArray(), outs.Select(o => o.Tril).ToArray(), leftBlocks);

        static Dictionary<int, int> Single(int k) => new() { [k] = 1 };
    }

    static Tensor Matrix(double[,] m, Tensor like) =>
        torch.tensor(m, dtype: like.dtype, device: like.device);

    /// <summary>(…, 4b, 4w) → (…, 16, b·w): the blocks in row-major order, flattened.</summary>
    static Tensor Blocks(Tensor x, long b, long w)
    {
        var batch = x.shape[..^2];
        int nb = batch.Length;
        var v = x.reshape([.. batch, 4, b, 4, w]);
        var perm = Enumerable.Range(0, nb).Select(i => (long)i).Concat([nb, nb + 2, nb + 1, nb + 3]).ToArray();
        return v.permute(perm).reshape([.. batch, 16, b * w]);
    }

    /// <summary>(…, 16, rb, cw) blocks in row-major order → (…, 4 rb, 4 cw).</summary>
    static Tensor Unblock(Tensor blocks, long rb, long cw)
    {
        var batch = blocks.shape[..^3];
        int nb = batch.Length;
        var v = blocks.reshape([.. batch, 4, 4, rb, cw]);
        var perm = Enumerable.Range(0, nb).Select(i => (long)i).Concat([nb, nb + 2, nb + 1, nb + 3]).ToArray();
        return v.permute(perm).reshape([.. batch, 4 * rb, 4 * cw]);
    }

    /// <summary>S = tril(Q Kᵀ), one packed level (L and d multiples of 4).</summary>
    public static Tensor TrilQK(Tensor q, Tensor k)
    {
        long l = q.shape[^2], d = q.shape[^1];
        if (l % 4 != 0 || d % 4 != 0) throw new ArgumentException($"EcaPacked.TrilQK: L = {l} and d = {d} must be multiples of 4.");
        using var scope = torch.NewDisposeScope();
        long b = l / 4, e = d / 4;
        var plan = APlan.Value;
        var left = Matrix(plan.Left, q).matmul(Blocks(q, b, e));            // (…, 34, b·e)
        var right = Matrix(plan.Right, k).matmul(Blocks(k, b, e));
        var batch = q.shape[..^2];
        var prods = left.reshape([.. batch, 34, b, e]).matmul(right.reshape([.. batch, 34, b, e]).transpose(-2, -1));   // (…, 34, b, b)
        var outs = Matrix(plan.Out, q).matmul(prods.reshape([.. batch, 34, b * b])).reshape([.. batch, plan.OutRow.Length, b, b]);
        var all = torch.zeros([.. batch, 16, b, b], q.dtype, q.device);
        for (int i = 0; i < plan.OutRow.Length; i++)
        {
            var blk = outs.select(-3, i);
            all.select(-3, plan.OutRow[i] * 4 + plan.OutCol[i]).copy_(plan.OutTril[i] ? blk.tril() : blk);
        }
        return Unblock(all, b, b).MoveToOuterDisposeScope();
    }

    /// <summary>O = P V for lower-triangular P, one packed level (L and d multiples of 4).</summary>
    public static Tensor LowerPV(Tensor p, Tensor v)
    {
        long l = v.shape[^2], d = v.shape[^1];
        if (l % 4 != 0 || d % 4 != 0) throw new ArgumentException($"EcaPacked.LowerPV: L = {l} and d = {d} must be multiples of 4.");
        using var scope = torch.NewDisposeScope();
        long b = l / 4, e = d / 4;
        var plan = BPlan.Value;
        var pBlocks = Blocks(p, b, b);                                         // (…, 16, b·b), row-major
        var lowerIdx = torch.tensor(Enumerable.Range(1, 10).Select(n => { var (r, c) = Schemes.LowerNumbered(n); return (long)(r * 4 + c); }).ToArray(), device: p.device);
        var left = Matrix(plan.Left, p).matmul(pBlocks.index_select(-2, lowerIdx));
        var right = Matrix(plan.Right, v).matmul(Blocks(v, b, e));
        var batch = v.shape[..^2];
        var prods = left.reshape([.. batch, 34, b, b]).matmul(right.reshape([.. batch, 34, b, e]));               // (…, 34, b, e)
        var outs = Matrix(plan.Out, v).matmul(prods.reshape([.. batch, 34, b * e])).reshape([.. batch, plan.OutRow.Length, b, e]);
        var all = torch.zeros([.. batch, 16, b, e], v.dtype, v.device);
        for (int i = 0; i < plan.OutRow.Length; i++) all.select(-3, plan.OutRow[i] * 4 + plan.OutCol[i]).copy_(outs.select(-3, i));
        return Unblock(all, b, e).MoveToOuterDisposeScope();
    }
}
