using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Data;
using static TorchSharp.torch;

namespace Workbench.Blocks.Rl;

/// <summary>Rewards of a batch of completions and the decoded texts (CPU).</summary>
public sealed record ScoredBatch(double[] Rewards, ArithScore[] Scores, string[] Texts)
{
    public double Accuracy => Scores.Length == 0 ? 0 : Scores.Count(s => s.Correct) / (double)Scores.Length;
    public double WellFormed => Scores.Length == 0 ? 0 : Scores.Count(s => s.WellFormed) / (double)Scores.Length;
}

/// <summary>Greedy accuracy on held-out problems, overall and per number of operations.</summary>
public sealed record EvalResult(int Problems, double Accuracy, double WellFormed, double MeanReward,
    IReadOnlyDictionary<int, double> AccuracyByOps, IReadOnlyList<string> Examples, double Seconds);

/// <summary>The ArithWord task as an RL environment: prompts, rewards, greedy evaluation.</summary>
public sealed class ArithTask(WordTokenizer tokenizer)
{
    public WordTokenizer Tokenizer { get; } = tokenizer;
    public static ArithTask Create() => new(WordTokenizer.ForArithWord());

    public PromptBatch Prompts(IReadOnlyList<ArithProblem> problems, Device device, int repeat = 1) =>
        PromptBatch.Create(problems.Select(p => Tokenizer.EncodePrompt(p.Question)).ToList(), Tokenizer.PadId, device, repeat);

    /// <summary>Scores completions laid out as <paramref name="repeat"/> consecutive rows per problem.</summary>
    public ScoredBatch Score(IReadOnlyList<ArithProblem> problems, int repeat, Tensor tokens)
    {
        long n = tokens.shape[1];
        long[] flat;
        using (var cpu = tokens.to(torch.CPU)) flat = cpu.data<long>().ToArray();
        int rows = (int)tokens.shape[0];
        if (rows != problems.Count * repeat) throw new ArgumentException($"Score: {rows} completions for {problems.Count} problems × {repeat}.");
        var scores = new ArithScore[rows]; var texts = new string[rows];
        for (int i = 0; i < rows; i++)
        {
            texts[i] = Tokenizer.Decode(flat.Skip((int)(i * n)).Take((int)n), out bool ended);
            scores[i] = ArithWord.Score(texts[i], problems[i / repeat].Answer, ended);
        }
        return new ScoredBatch(scores.Select(s => s.Reward).ToArray(), scores, texts);
    }

    /// <summary>Greedy accuracy of <paramref name="model"/> on <paramref name="problems"/> (batched, KV-cached, no grad).</summary>
    public EvalResult Evaluate(TinyLm model, IReadOnlyList<ArithProblem> problems, int maxNewTokens, int batch = 256)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var device = model.parameters().First().device;
        var all = new List<ArithScore>(); var examples = new List<string>();
        for (int s = 0; s < problems.Count; s += batch)
        {
            var chunk = problems.Skip(s).Take(batch).ToList();
            using var scope = torch.NewDisposeScope();
            using var r = Sequences.Sample(model, Prompts(chunk, device), new GenerationOptions(maxNewTokens, Greedy: true, EosId: Tokenizer.EosId, PadId: Tokenizer.PadId));
            var sc = Score(chunk, 1, r.Tokens);
            all.AddRange(sc.Scores);
            for (int i = 0; i < chunk.Count && examples.Count < 4; i++) examples.Add($"{chunk[i].Question} → {sc.Texts[i]} (truth {chunk[i].Answer})");
        }
        var byOps = problems.Select((p, i) => (p.Ops, all[i].Correct)).GroupBy(x => x.Ops)
            .ToDictionary(g => g.Key, g => g.Count(x => x.Correct) / (double)g.Count());
        return new EvalResult(problems.Count, all.Count(x => x.Correct) / (double)all.Count, all.Count(x => x.WellFormed) / (double)all.Count,
            all.Average(x => x.Reward), byOps, examples, sw.Elapsed.TotalSeconds);
    }
}
