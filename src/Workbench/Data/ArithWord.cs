using System.Text.RegularExpressions;
using Workbench.Runtime;

namespace Workbench.Data;

/// <summary>One arithmetic word problem: the question, the worked trace the model should write, the answer, and
/// <c>Ops</c>, the number of equations in the trace (a "buys a boxes of b" sentence needs two).</summary>
public sealed record ArithProblem(string Question, string Trace, long Answer, int Ops)
{
    /// <summary>The full supervised target: trace, then the answer marker and the answer.</summary>
    public string Target => $"{Trace} #### {Answer}";
}

/// <summary>How a completion scored: the answer after <c>####</c> is right (1.0) and the trace is well formed (+0.2).</summary>
public sealed record ArithScore(bool Correct, bool WellFormed, long? Parsed, double Reward);

/// <summary>
/// "ArithWord" (cppo.md §5): templated word problems with 1–4 integer operations over a running quantity
/// ("Ann has 17 pens . Ann buys 5 boxes of 6 pens . Ann gives away 9 . How many pens does Ann have now ?"), operands
/// 2–99, every intermediate value in [0, 999], exact division only. Target: <c>5 * 6 = 30 ; 17 + 30 = 47 ; 47 - 9 = 38 #### 38</c>.
/// Numbers are written as single-digit tokens by <see cref="WordTokenizer"/>. Seeded: the same (seed, purpose) gives the same problems.
/// </summary>
public static class ArithWord
{
    public static readonly string[] Names = ["Ann", "Ben", "Cara", "Dan", "Eve", "Finn", "Gia", "Hal", "Ivy", "Jon", "Kim", "Leo"];
    public static readonly string[] Objects = ["pens", "apples", "books", "cards", "coins", "shells", "stamps", "marbles", "eggs", "cups"];
    public const int MaxValue = 999;

    /// <summary>Every word the templates use (the tokenizer's vocabulary besides digits, symbols and specials).</summary>
    public static readonly string[] TemplateWords =
        ["has", "buys", "more", "boxes", "of", "gives", "away", "gets", "times", "as", "many", "splits", "them", "into", "equal",
         "piles", "and", "keeps", "one", "How", "does", "have", "now"];

    /// <summary><paramref name="count"/> problems with a uniformly drawn number of operations in [minOps, maxOps].</summary>
    public static ArithProblem[] Generate(long seed, string purpose, int count, int minOps, int maxOps)
    {
        Check.Positive("ArithWord", "count", count);
        Check.That(minOps >= 1 && maxOps >= minOps && maxOps <= 8, "ArithWord", "ops", $"[{minOps}, {maxOps}] must satisfy 1 <= min <= max <= 8.");
        var rng = Seeding.Rng(seed, "arithword/" + purpose);
        return Enumerable.Range(0, count).Select(_ => Make(rng, rng.Next(minOps, maxOps + 1))).ToArray();
    }

    /// <summary>One problem with exactly <paramref name="ops"/> equations.</summary>
    public static ArithProblem Make(Random rng, int ops)
    {
        for (int attempt = 0; ; attempt++)
        {
            var p = TryMake(rng, ops);
            if (p is not null) return p;
            if (attempt > 1000) throw new InvalidOperationException($"ArithWord: could not build a {ops}-operation problem.");
        }
    }

    static ArithProblem? TryMake(Random rng, int ops)
    {
        string name = Names[rng.Next(Names.Length)], obj = Objects[rng.Next(Objects.Length)];
        long x = rng.Next(2, 100);
        var sentences = new List<string> { $"{name} has {x} {obj} ." };
        var eqs = new List<string>();
        while (eqs.Count < ops)
        {
            int left = ops - eqs.Count;
            bool done = false;
            for (int tries = 0; tries < 30 && !done; tries++)
            {
                switch (rng.Next(5))
                {
                    case 0:
                    {
                        long k = rng.Next(2, 100);
                        if (x + k > MaxValue) break;
                        sentences.Add($"{name} buys {k} more ."); eqs.Add($"{x} + {k} = {x + k}"); x += k; done = true;
                        break;
                    }
                    case 1 when left >= 2:
                    {
                        long a = rng.Next(2, 10), b = rng.Next(2, 13), p = a * b;
                        if (x + p > MaxValue) break;
                        sentences.Add($"{name} buys {a} boxes of {b} {obj} .");
                        eqs.Add($"{a} * {b} = {p}"); eqs.Add($"{x} + {p} = {x + p}"); x += p; done = true;
                        break;
                    }
                    case 2:
                    {
                        if (x < 3) break;
                        long k = rng.Next(2, (int)Math.Min(99, x) + 1);
                        sentences.Add($"{name} gives away {k} ."); eqs.Add($"{x} - {k} = {x - k}"); x -= k; done = true;
                        break;
                    }
                    case 3:
                    {
                        long k = rng.Next(2, 6);
                        if (x * k > MaxValue || x < 2) break;
                        sentences.Add($"{name} gets {k} times as many ."); eqs.Add($"{x} * {k} = {x * k}"); x *= k; done = true;
                        break;
                    }
                    case 4:
                    {
                        var divisors = Enumerable.Range(2, 8).Where(k => x % k == 0 && x / k >= 1).ToArray();
                        if (divisors.Length == 0) break;
                        long k = divisors[rng.Next(divisors.Length)];
                        sentences.Add($"{name} splits them into {k} equal piles and keeps one ."); eqs.Add($"{x} / {k} = {x / k}"); x /= k; done = true;
                        break;
                    }
                }
            }
            if (!done) return null;
        }
        sentences.Add($"How many {obj} does {name} have now ?");
        return new ArithProblem(string.Join(" ", sentences), string.Join(" ; ", eqs), x, ops);
    }

    static readonly Regex Eq = new(@"^\d+ [-+*/] \d+ = \d+$", RegexOptions.CultureInvariant);
    static readonly Regex AnswerRx = new(@"#### (\d+)\s*$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Scores a decoded completion (text up to, not including, end-of-sequence): 1.0 when the number after the last
    /// <c>####</c> equals <paramref name="answer"/>, plus 0.2 when the text is a well-formed trace
    /// (<c>eq ; eq ; … #### n</c>, every <c>eq</c> of the form <c>a op b = c</c>) and the model ended it (<paramref name="ended"/>).
    /// The arithmetic inside the trace is not checked: the format reward is about shape only, as in the CPPO repo.
    /// </summary>
    public static ArithScore Score(string completion, long answer, bool ended = true)
    {
        var text = completion.Trim();
        long? parsed = null;
        var m = AnswerRx.Match(text);
        if (m.Success && long.TryParse(m.Groups[1].Value, out var v)) parsed = v;
        bool correct = parsed == answer;
        bool formed = ended && m.Success;
        if (formed)
        {
            var body = text[..m.Index].Trim();
            formed = body.Length > 0 && body.Split(" ; ").All(e => Eq.IsMatch(e));
        }
        return new ArithScore(correct, formed, parsed, (correct ? 1.0 : 0.0) + (formed ? 0.2 : 0.0));
    }
}
