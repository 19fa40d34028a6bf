namespace Workbench.Papers.Eca;

/// <summary>
/// Scalar operations by the spec's convention: multiplications and additions/subtractions, per matrix (batch dimensions
/// are not multiplied in); a masked (lower-triangular) output counts only its entries j ≤ i. Filled by instrumented
/// execution (<see cref="EcaOps"/>) and by the closed forms (<see cref="OpCounts"/>), which must agree.
/// </summary>
public sealed class OpCount
{
    public double Mults { get; private set; }
    public double Adds { get; private set; }
    public int DenseProducts { get; private set; }
    public int TriangularProducts { get; private set; }
    public double Total => Mults + Adds;

    public void Add(double mults, double adds) { Mults += mults; Adds += adds; }
    internal void Dense() => DenseProducts++;
    internal void Triangular() => TriangularProducts++;
    public override string ToString() => $"{Mults:G6} mults + {Adds:G6} adds = {Total:G6}";
}

/// <summary>Closed-form operation counts of the naive masked products and of ECA at a given recursion depth.</summary>
public static class OpCounts
{
    static double Tri(double n) => n * (n + 1) / 2;

    /// <summary>Naive tril(Q Kᵀ): L(L+1)/2 outputs, each d mults and d−1 adds.</summary>
    public static (double Mults, double Adds) NaiveA(long l, long d) => (d * Tri(l), (d - 1) * Tri(l));

    /// <summary>Naive P V with lower-triangular P: output (i, c) takes i+1 mults and i adds.</summary>
    public static (double Mults, double Adds) NaiveB(long l, long d) => (d * Tri(l), d * (Tri(l) - l));

    /// <summary>Whether a level of the scheme applies at (L, d) with <paramref name="depth"/> levels left.</summary>
    public static bool Recurses(long l, long d, int depth) => depth > 0 && l % 4 == 0 && d % 4 == 0 && l >= 4 && d >= 4;

    /// <summary>ECA Step A at (L, d): 24 dense (b,e,b) products, r2 and r3 as A(b, e), S00 and S33 as A(b, d), the input
    /// block-adds on b×e blocks, 44 full and 12 lower-half b×b output block-adds (counted from the parsed scheme).</summary>
    public static (double Mults, double Adds) EcaA(long l, long d, int depth)
    {
        if (!Recurses(l, d, depth)) return NaiveA(l, d);
        long b = l / 4, e = d / 4;
        var s = Schemes.A;
        double mults = s.Dense * (double)b * e * b, adds = s.Dense * (double)b * (e - 1) * b;
        var (rm, ra) = EcaA(b, e, depth - 1);
        var (dm, da) = EcaA(b, d, depth - 1);
        mults += 2 * rm + 2 * dm;
        adds += 2 * ra + 2 * da;
        adds += s.InputAdds * (double)b * e + s.OutputAddsFull * (double)b * b + s.OutputAddsLower * Tri(b);
        return (mults, adds);
    }

    /// <summary>ECA Step B at (L, d): 24 dense (b,b,e) products, h1 and h2 as B(b, e), the two triangular row-block
    /// products as B(b, d), input block-adds on b×b P blocks and b×e V blocks, 56 b×e output block-adds.</summary>
    public static (double Mults, double Adds) EcaB(long l, long d, int depth)
    {
        if (!Recurses(l, d, depth)) return NaiveB(l, d);
        long b = l / 4, e = d / 4;
        var s = Schemes.B;
        double mults = s.Dense * (double)b * b * e, adds = s.Dense * (double)b * (b - 1) * e;
        var (hm, ha) = EcaB(b, e, depth - 1);
        var (tm, ta) = EcaB(b, d, depth - 1);
        mults += 2 * hm + 2 * tm;
        adds += 2 * ha + 2 * ta;
        adds += s.InputAddsLeft * (double)b * b + s.InputAddsRight * (double)b * e + s.OutputAddsFull * (double)b * e;
        return (mults, adds);
    }

    /// <summary>ECA's total operations over the naive masked count (below 1: ECA saves work).</summary>
    public static double RatioA(long l, long d, int depth)
    {
        var (m, a) = EcaA(l, d, depth); var (nm, na) = NaiveA(l, d);
        return (m + a) / (nm + na);
    }

    public static double RatioB(long l, long d, int depth)
    {
        var (m, a) = EcaB(l, d, depth); var (nm, na) = NaiveB(l, d);
        return (m + a) / (nm + na);
    }

    /// <summary>Multiplications only, ECA over naive (29/32 at one level, → 8/9 deep).</summary>
    public static double MultRatioA(long l, long d, int depth) => EcaA(l, d, depth).Mults / NaiveA(l, d).Mults;
}
