using System.Text.RegularExpressions;

namespace Workbench.Papers.Eca;

/// <summary>A signed sum of numbered blocks, e.g. (Q8+Q11) or (K3-K2-K4+K8): block number → coefficient (±1).</summary>
public sealed record BlockSum(string Letter, IReadOnlyDictionary<int, int> Terms)
{
    public int Count => Terms.Count;
    public override string ToString() => "(" + string.Join("", Terms.Select((t, i) => (t.Value < 0 ? "-" : i == 0 ? "" : "+") + Letter + t.Key)) + ")";
}

/// <summary>One block product of a scheme: m_i = left · right (A: right transposed), dense or triangular.</summary>
public sealed record BlockProduct(string Name, BlockSum Left, BlockSum Right, bool Triangular);

/// <summary>One output block: Σ coef · product (+ a triangular piece), full or lower-triangular.</summary>
public sealed record BlockOutput(int Row, int Col, IReadOnlyList<(int Coef, string Product)> Terms, bool LowerOnly);

/// <summary>
/// ECA's 4×4 block schemes (Rybin et al., arXiv 2510.05175), parsed from the identities exactly as written in the spec
/// (shared/papers/eca.md §2), so the code and the paper's formulas cannot drift apart. Step A: S = tril(Q Kᵀ) with
/// 24 dense products + r2, r3 (triangular, inner e) + the diagonal blocks S00, S33 (triangular, inner d). Step B: O = P V
/// for lower-triangular P with 24 dense products + h1, h2 + P1·(V row-block 0) and P10·(V row-block 3).
/// </summary>
public static partial class Schemes
{
    // Step A: m_i = left · rightᵀ on b×e blocks of Q and K (row-major numbering 1..16).
    const string AProducts = """
        m1  = (Q8+Q11)(K3-K2-K4+K8)
        m2  = (Q5+Q15)(K1-K5-K6+K7)
        m3  = (Q12+Q16-Q10)(K12-K2)
        m4  = (Q9+Q13-Q14)(K9-K6)
        m5  = (Q15-Q6-Q7)(K2+K11)
        m6  = (Q6+Q7-Q11)(K6+K11)
        m7  = (Q6+Q7)(K11)
        m8  = (Q6+Q7+Q12+Q16-Q10-Q14-Q15)(K2)
        m9  = (Q6+Q7+Q9+Q13-Q10-Q11-Q14)(K6)
        m10 = (Q11)(K2-K3+K4+K7-K8+K11)
        m11 = (Q5)(K5+K6-K7)
        m12 = (Q8)(K2-K3+K4)
        m13 = (Q15)(-K1+K3+K5+K6-K7+K11)
        m14 = (Q9+Q13+Q15)(-K1+K5+K6)
        m15 = (Q11+Q12+Q16)(K2+K4-K8)
        m16 = (Q9-Q16)(K1-K8)
        m17 = (Q10-Q12)(K12)
        m18 = (Q13-Q14)(K9)
        m19 = (Q7+Q8-Q15)(K3-K2)
        m20 = (Q9)(K5-K8+K9)
        m21 = (Q9+Q12-Q8)(K8)
        m22 = (Q13+Q16-Q5)(K1)
        m23 = (Q16)(-K1+K4+K12)
        m24 = (Q14)(K2+K9+K10)
        r2  = (Q5+Q7-Q11)(K7-K6) tri
        r3  = (Q10)(K6+K10+K12) tri
        """;

    const string AOutputs = """
        S10 = m2 - m5 - m7 + m11 + m12 + m13 + m19
        S11 = m1 + m6 - m7 + m10 + m11 + m12 + r2 lower
        S20 = m1 + m3 + m12 + m15 + m16 + m17 + m21 - m23
        S21 = m1 - m4 + m6 - m7 - m9 + m10 + m12 + m18 + m20 + m21
        S22 = m4 - m6 + m7 + m9 - m17 - m18 + r3 lower
        S30 = m2 - m3 - m5 - m7 - m8 + m11 + m13 - m17 + m22 + m23
        S31 = m2 + m4 + m11 + m14 + m16 - m18 - m20 + m22
        S32 = m3 + m5 + m7 + m8 + m17 + m18 + m24
        """;

    // Step B: m_i = left · right with P blocks numbered over the lower triangle (P1=P00, P2=P10, P3=P11, ... P10=P33)
    // and V blocks row-major 1..16.
    const string BProducts = """
        m1  = (P3+P4+P5)(V3+V8-V2-V4)
        m2  = (P2+P7+P8)(V1+V7-V5-V6)
        m3  = (P4+P9-P7)(V12-V2)
        m4  = (P6+P8-P5)(V9-V6)
        m5  = (P9-P2-P7)(V2+V11)
        m6  = (P3+P5-P6)(V6+V11)
        m7  = (P6+P9-P2-P3-P5-P7)(V11)
        m8  = (P9-P7)(V2)
        m9  = (P6-P5)(V6)
        m10 = (P3+P5)(V2+V4+V7+V11-V3-V8)
        m11 = (P2+P3+P7+P8)(V5+V6-V7)
        m12 = (P2+P3+P4+P5)(V2+V4-V3)
        m13 = (P2+P7)(V3+V5+V6+V11-V1-V7)
        m14 = (P8)(V5+V6-V1)
        m15 = (P4)(V2+V4-V8)
        m16 = (P4+P8)(V1-V8)
        m17 = (P4+P9-P6-P7)(V12)
        m18 = (P5+P9-P6-P8)(V9)
        m19 = (P2)(V3-V2)
        m20 = (P5-P8)(V5+V9-V8)
        m21 = (P4+P5)(V8)
        m22 = (P7+P8)(V1)
        m23 = (P7-P4)(V4+V12-V1)
        m24 = (P9)(V2+V9+V10)
        h1  = (P3)(V7-V6) tri
        h2  = (P6)(V6+V10+V12) tri
        """;

    // T0c = P1·V(c+1) and T3c = P10·V(13+c) are the two triangular row-block products (computed as one product each).
    const string BOutputs = """
        O10 = m2 + m11 - m22 + h1
        O11 = m6 + m7 + m8 + m9 - m5
        O12 = m6 + m7 + m8 + m9 + m19 + h1 - m5
        O13 = m1 + m12 + m19 - m21
        O20 = m4 + m9 + m14 + m16 + m20 + m21
        O21 = h2 + m17 - m3 - m8 - m9
        O22 = m1 + m10 + m15 - m6 - m9 - h1
        O23 = m3 + m8 + m15 + m21 - m17
        O30 = T30 + m4 + m9 + m14 + m18 + m22
        O31 = T31 + m24 - m4 - m8 - m9 - m18
        O32 = T32 + m2 + m5 + m13 + m14 - m8 - m19
        O33 = T33 + m3 + m8 + m15 + m22 + m23 - m16
        """;

    [GeneratedRegex(@"^\s*(\w+)\s*=\s*\(([^)]*)\)\s*\(([^)]*)\)\s*(tri)?\s*$")]
    private static partial Regex ProductLine();
    [GeneratedRegex(@"([+-]?)\s*([A-Z])(\d+)")]
    private static partial Regex Term();
    [GeneratedRegex(@"^\s*[SO](\d)(\d)\s*=\s*(.*?)\s*(lower)?\s*$")]
    private static partial Regex OutputLine();
    [GeneratedRegex(@"([+-]?)\s*([a-zT]\w*)")]
    private static partial Regex OutputTerm();

    static BlockSum ParseSum(string text)
    {
        var terms = new Dictionary<int, int>();
        string letter = "";
        foreach (Match t in Term().Matches(text))
        {
            letter = t.Groups[2].Value;
            terms[int.Parse(t.Groups[3].Value)] = t.Groups[1].Value == "-" ? -1 : 1;
        }
        if (terms.Count == 0) throw new FormatException($"No blocks in '{text}'.");
        return new BlockSum(letter, terms);
    }

    static List<BlockProduct> ParseProducts(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(l => ProductLine().Match(l) is { Success: true } m
            ? new BlockProduct(m.Groups[1].Value, ParseSum(m.Groups[2].Value), ParseSum(m.Groups[3].Value), m.Groups[4].Success)
            : throw new FormatException($"Bad product line '{l}'.")).ToList();

    static List<BlockOutput> ParseOutputs(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(l =>
        {
            var m = OutputLine().Match(l);
            if (!m.Success) throw new FormatException($"Bad output line '{l}'.");
            var terms = OutputTerm().Matches(m.Groups[3].Value).Select(t => (t.Groups[1].Value == "-" ? -1 : 1, t.Groups[2].Value)).ToList();
            return new BlockOutput(int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), terms, m.Groups[4].Success);
        }).ToList();

    /// <summary>A parsed scheme: its products and its outputs (blocks not listed are computed by the triangular row/diagonal products).</summary>
    public sealed record Scheme(string Name, IReadOnlyList<BlockProduct> Products, IReadOnlyList<BlockOutput> Outputs)
    {
        public int Dense => Products.Count(p => !p.Triangular);
        /// <summary>Triangular products in (b, e) units: the listed ones plus the 8 of the two diagonal/row-block products.</summary>
        public int TriangularUnits => Products.Count(p => p.Triangular) + 8;
        /// <summary>Block additions forming the products' operands (one fewer than the number of terms of each sum).</summary>
        public int InputAdds => Products.Sum(p => p.Left.Count - 1 + p.Right.Count - 1);
        public int InputAddsLeft => Products.Sum(p => p.Left.Count - 1);
        public int InputAddsRight => Products.Sum(p => p.Right.Count - 1);
        public int OutputAddsFull => Outputs.Where(o => !o.LowerOnly).Sum(o => o.Terms.Count - 1);
        public int OutputAddsLower => Outputs.Where(o => o.LowerOnly).Sum(o => o.Terms.Count - 1);
    }

    public static Scheme A { get; } = new("A: S = tril(Q Kᵀ)", ParseProducts(AProducts), ParseOutputs(AOutputs));
    public static Scheme B { get; } = new("B: O = P V, P lower-triangular", ParseProducts(BProducts), ParseOutputs(BOutputs));

    /// <summary>Row and column (0..3) of a row-major block number 1..16.</summary>
    public static (int Row, int Col) RowMajor(int k) => ((k - 1) / 4, (k - 1) % 4);

    /// <summary>Row and column of P's lower-triangle block number 1..10 (P1=P00, P2=P10, P3=P11, P4=P20, ...).</summary>
    public static (int Row, int Col) LowerNumbered(int k)
    {
        int n = 0;
        for (int r = 0; r < 4; r++) for (int c = 0; c <= r; c++) if (++n == k) return (r, c);
        throw new ArgumentOutOfRangeException(nameof(k), $"P block {k} is not in 1..10.");
    }
}
