using System.Text;

namespace Workbench.Data;

/// <summary>
/// A closed word-level tokenizer: special tokens, the ten digits (numbers are spelled digit by digit, so any number
/// has a spelling), a few symbols and a fixed word list. Text is space-separated; unknown words are an error that
/// names the word. Decoding writes numbers back as one word, so <c>Decode(Encode(s)) == s</c> for normalised text.
/// </summary>
public sealed class WordTokenizer
{
    public const string Pad = "<pad>", Bos = "<bos>", Eos = "<eos>", Ans = "<ans>";
    readonly string[] vocab;
    readonly Dictionary<string, long> index;

    public WordTokenizer(IEnumerable<string> words)
    {
        var list = new List<string> { Pad, Bos, Eos, Ans };
        list.AddRange(Enumerable.Range(0, 10).Select(d => d.ToString()));
        list.AddRange(["+", "-", "*", "/", "=", ";", "####", ".", "?"]);
        foreach (var w in words)
        {
            if (w.Any(char.IsWhiteSpace) || w.Length == 0 || w.All(char.IsDigit))
                throw new ArgumentException($"WordTokenizer: '{w}' cannot be a word (empty, has spaces, or is a number).");
            if (!list.Contains(w)) list.Add(w);
        }
        vocab = list.ToArray();
        index = vocab.Select((w, i) => (w, i)).ToDictionary(p => p.w, p => (long)p.i);
    }

    /// <summary>The tokenizer for <see cref="ArithWord"/> problems (≈ 70 ids).</summary>
    public static WordTokenizer ForArithWord() => new(ArithWord.Names.Concat(ArithWord.Objects).Concat(ArithWord.TemplateWords));

    public int VocabSize => vocab.Length;
    public long PadId => index[Pad];
    public long BosId => index[Bos];
    public long EosId => index[Eos];
    public long AnsId => index[Ans];
    public IReadOnlyList<string> Vocabulary => vocab;

    /// <summary>Ids of space-separated text; numbers become one id per digit.</summary>
    public long[] Encode(string text)
    {
        var ids = new List<long>();
        foreach (var w in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (w.All(char.IsDigit)) { foreach (var c in w) ids.Add(index[c.ToString()]); continue; }
            if (!index.TryGetValue(w, out var id))
                throw new ArgumentException($"WordTokenizer: unknown word '{w}' in \"{(text.Length > 80 ? text[..80] + "…" : text)}\"; add it to the word list.");
            ids.Add(id);
        }
        return ids.ToArray();
    }

    /// <summary>The prompt a model sees: <c>&lt;bos&gt; question &lt;ans&gt;</c>.</summary>
    public long[] EncodePrompt(string question) => [BosId, .. Encode(question), AnsId];

    /// <summary>Text of ids, stopping at the first end-of-sequence (not included) and skipping padding; digits run together.</summary>
    public string Decode(IEnumerable<long> ids) => Decode(ids, out _);

    /// <summary>As <see cref="Decode(IEnumerable{long})"/>; <paramref name="ended"/> says whether an end-of-sequence was met.</summary>
    public string Decode(IEnumerable<long> ids, out bool ended)
    {
        var sb = new StringBuilder();
        bool prevDigit = false;
        ended = false;
        foreach (var id in ids)
        {
            if (id == EosId) { ended = true; break; }
            if (id == PadId) continue;
            if (id < 0 || id >= vocab.Length) throw new ArgumentException($"WordTokenizer: id {id} is outside the vocabulary (0..{vocab.Length - 1}).");
            var w = vocab[id];
            bool digit = w.Length == 1 && char.IsDigit(w[0]);
            if (sb.Length > 0 && !(digit && prevDigit)) sb.Append(' ');
            sb.Append(w);
            prevDigit = digit;
        }
        return sb.ToString();
    }
}
