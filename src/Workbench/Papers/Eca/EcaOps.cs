using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Papers.Eca;

/// <summary>
/// ECA's two products, recursive to a chosen depth, on tensors (..., L, d) with any batch dimensions; sizes are zero-padded
/// to multiples of 4^depth and the result cropped. Every call can count its scalar operations (<see cref="OpCount"/>).
/// Step A: S = tril(Q Kᵀ). Step B: O = P V with P lower-triangular. The dense block products are plain GEMMs.
/// </summary>
public static class EcaOps
{
    // ---- naive references (and the recursion's base case) ----------------------------------------------------------

    /// <summary>tril(Q Kᵀ) computed in full and masked; counted as the ideal masked product.</summary>
    public static Tensor NaiveTrilQK(Tensor q, Tensor k, OpCount? c = null)
    {
        var (m, a) = OpCounts.NaiveA(q.shape[^2], q.shape[^1]);
        c?.Add(m, a); c?.Triangular();
        return q.matmul(k.transpose(-2, -1)).tril();
    }

    /// <summary>P V (P lower-triangular, used as given); counted as the ideal triangular product.</summary>
    public static Tensor NaiveLowerPV(Tensor p, Tensor v, OpCount? c = null)
    {
        var (m, a) = OpCounts.NaiveB(p.shape[^1], v.shape[^1]);
        c?.Add(m, a); c?.Triangular();
        return p.matmul(v);
    }

    // ---- public entry points with padding ------------------------------------------------------------------------------

    /// <summary>S = tril(Q Kᵀ) by ECA's Step A, <paramref name="depth"/> levels deep (0 = naive).</summary>
    public static Tensor TrilQK(Tensor q, Tensor k, int depth, OpCount? c = null)
    {
        CheckPair(q, k, "TrilQK", "Q", "K", sameRows: true);
        using var scope = torch.NewDisposeScope();
        long l = q.shape[^2], d = q.shape[^1];
        var (qp, kp) = (PadTo(q, depth), PadTo(k, depth));
        var s = A(qp, kp, depth, c);
        return s.narrow(-2, 0, l).narrow(-1, 0, l).MoveToOuterDisposeScope();
    }

    /// <summary>O = P V by ECA's Step B (P lower-triangular L×L, V L×d), <paramref name="depth"/> levels deep.</summary>
    public static Tensor LowerPV(Tensor p, Tensor v, int depth, OpCount? c = null)
    {
        if (p.shape[^1] != p.shape[^2]) throw new ArgumentException($"LowerPV: P must be square, got [{string.Join(",", p.shape)}].");
        if (p.shape[^1] != v.shape[^2]) throw new ArgumentException($"LowerPV: P is {p.shape[^2]}×{p.shape[^1]} but V has {v.shape[^2]} rows.");
        using var scope = torch.NewDisposeScope();
        long l = v.shape[^2], d = v.shape[^1];
        long lp = Padded(l, depth), dp = Padded(d, depth);
        var pp = torch.nn.functional.pad(p, [0, lp - l, 0, lp - l]);
        var vp = torch.nn.functional.pad(v, [0, dp - d, 0, lp - l]);
        return B(pp, vp, depth, c).narrow(-2, 0, l).narrow(-1, 0, d).MoveToOuterDisposeScope();
    }

    /// <summary>U X for upper-triangular U through Step B: U X = J (J U J)(J X), J the row reversal.</summary>
    public static Tensor UpperTimes(Tensor u, Tensor x, int depth, OpCount? c = null) =>
        LowerPV(u.flip(-2, -1), x.flip(-2), depth, c).flip(-2);

    static long Padded(long n, int depth) { long m = 1L << (2 * depth); return (n + m - 1) / m * m; }

    static Tensor PadTo(Tensor x, int depth)
    {
        long l = x.shape[^2], d = x.shape[^1];
        long lp = Padded(l, depth), dp = Padded(d, depth);
        return lp == l && dp == d ? x : torch.nn.functional.pad(x, [0, dp - d, 0, lp - l]);
    }

    static void CheckPair(Tensor a, Tensor b, string fn, string an, string bn, bool sameRows)
    {
        if (a.dim() < 2 || b.dim() < 2) throw new ArgumentException($"{fn}: {an} and {bn} must be at least 2-D.");
        if (a.shape[^1] != b.shape[^1] || (sameRows && a.shape[^2] != b.shape[^2]))
            throw new ArgumentException($"{fn}: {an} is [{string.Join(",", a.shape)}] and {bn} is [{string.Join(",", b.shape)}]; they must have the same L and d.");
    }

    // ---- block helpers ------------------------------------------------------------------------------------------------

    static Tensor Block(Tensor x, int row, int col, long rows, long cols) => x.narrow(-2, row * rows, rows).narrow(-1, col * cols, cols);

    /// <summary>Σ ± blocks; counts (terms − 1) block additions of <paramref name="addCost"/> scalars each.</summary>
    static Tensor Combine(BlockSum sum, Func<int, Tensor> block, double addCost, OpCount? c)
    {
        Tensor? acc = null;
        foreach (var (k, sign) in sum.Terms)
        {
            var t = block(k);
            acc = acc is null ? (sign > 0 ? t : -t) : (sign > 0 ? acc + t : acc - t);
        }
        c?.Add(0, (sum.Count - 1) * addCost);
        return acc!;
    }

    static Tensor Assemble(BlockOutput o, IReadOnlyDictionary<string, Tensor> products, double addCost, OpCount? c)
    {
        Tensor? acc = null;
        foreach (var (coef, name) in o.Terms)
        {
            var t = products[name];
            acc = acc is null ? (coef > 0 ? t : -t) : (coef > 0 ? acc + t : acc - t);
        }
        c?.Add(0, (o.Terms.Count - 1) * addCost);
        return acc!;
    }

    // ---- Step A ----------------------------------------------------------------------------------------------------------

    internal static Tensor A(Tensor q, Tensor k, int depth, OpCount? c)
    {
        long l = q.shape[^2], d = q.shape[^1];
        if (!OpCounts.Recurses(l, d, depth)) return NaiveTrilQK(q, k, c);
        long b = l / 4, e = d / 4;
        double tri = b * (b + 1) / 2.0;
        var products = new Dictionary<string, Tensor>();
        foreach (var p in Schemes.A.Products)
        {
            var left = Combine(p.Left, n => { var (r, cc) = Schemes.RowMajor(n); return Block(q, r, cc, b, e); }, b * e, c);
            var right = Combine(p.Right, n => { var (r, cc) = Schemes.RowMajor(n); return Block(k, r, cc, b, e); }, b * e, c);
            if (p.Triangular) products[p.Name] = A(left, right, depth - 1, c);            // r2, r3: tril, inner e
            else
            {
                c?.Add(b * e * b, b * (e - 1) * b); c?.Dense();
                products[p.Name] = left.matmul(right.transpose(-2, -1));
            }
        }
        var batch = q.shape[..^2];
        var s = torch.zeros([.. batch, l, l], q.dtype, q.device);
        // Diagonal blocks S00 and S33: the same problem one level down, inner size d.
        s.narrow(-2, 0, b).narrow(-1, 0, b).copy_(A(q.narrow(-2, 0, b), k.narrow(-2, 0, b), depth - 1, c));
        s.narrow(-2, 3 * b, b).narrow(-1, 3 * b, b).copy_(A(q.narrow(-2, 3 * b, b), k.narrow(-2, 3 * b, b), depth - 1, c));
        foreach (var o in Schemes.A.Outputs)
        {
            var blk = Assemble(o, products, o.LowerOnly ? tri : b * b, c);
            if (o.LowerOnly) blk = blk.tril();                                            // S11, S22 need only j ≤ i
            s.narrow(-2, o.Row * b, b).narrow(-1, o.Col * b, b).copy_(blk);
        }
        return s;
    }

    // ---- Step B ----------------------------------------------------------------------------------------------------------

    internal static Tensor B(Tensor p, Tensor v, int depth, OpCount? c)
    {
        long l = v.shape[^2], d = v.shape[^1];
        if (!OpCounts.Recurses(l, d, depth)) return NaiveLowerPV(p, v, c);
        long b = l / 4, e = d / 4;
        var products = new Dictionary<string, Tensor>();
        foreach (var m in Schemes.B.Products)
        {
            var left = Combine(m.Left, n => { var (r, cc) = Schemes.LowerNumbered(n); return Block(p, r, cc, b, b); }, b * b, c);
            var right = Combine(m.Right, n => { var (r, cc) = Schemes.RowMajor(n); return Block(v, r, cc, b, e); }, b * e, c);
            if (m.Triangular) products[m.Name] = B(left, right, depth - 1, c);            // h1, h2: diagonal block of P
            else
            {
                c?.Add(b * b * e, b * (b - 1) * e); c?.Dense();
                products[m.Name] = left.matmul(right);
            }
        }
        var batch = v.shape[..^2];
        var o = torch.zeros([.. batch, l, d], v.dtype, v.device);
        // Row-blocks 0 and 3 of P's diagonal times V's first and last row-blocks: the same problem, width d.
        var t0 = B(Block(p, 0, 0, b, b), v.narrow(-2, 0, b), depth - 1, c);
        var t3 = B(Block(p, 3, 3, b, b), v.narrow(-2, 3 * b, b), depth - 1, c);
        o.narrow(-2, 0, b).copy_(t0);                                                       // O0c = P1 V(c+1)
        for (int col = 0; col < 4; col++) products[$"T3{col}"] = t3.narrow(-1, col * e, e);
        foreach (var ob in Schemes.B.Outputs)
            o.narrow(-2, ob.Row * b, b).narrow(-1, ob.Col * e, e).copy_(Assemble(ob, products, b * e, c));
        return o;
    }
}
