using System.Text;
using Workbench.Runtime;

namespace Workbench.Data;

/// <summary>
/// The King James Bible as plain text (public domain), from Debian's <c>bible-kjv</c> package: its data file is not text,
/// so the text is read through the package's <c>bible</c> program (<c>bible -l10000 "gen1:1-rev22:21"</c>, about 4.3 MB),
/// with the "Book N" headers and verse numbers stripped. <c>PAPERS_DATA/kjv/kjv.txt</c>, if present, is used instead.
/// </summary>
public static class KjvText
{
    public static string Load()
    {
        var env = Environment.GetEnvironmentVariable("PAPERS_DATA");
        if (!string.IsNullOrWhiteSpace(env) && File.Exists(Path.Combine(env, "kjv", "kjv.txt")))
            return File.ReadAllText(Path.Combine(env, "kjv", "kjv.txt"));
        var raw = TorchRuntime.RunQuiet("bible", "-l10000 \"gen1:1-rev22:21\"", 60_000)
            ?? throw new FileNotFoundException(
                "The KJV text needs Debian's bible-kjv package (its `bible` program reads the data): `sudo apt-get install bible-kjv` " +
                "(scripts/setup does this), or put a plain-text kjv.txt in $PAPERS_DATA/kjv/.");
        var sb = new StringBuilder(raw.Length);
        foreach (var line in raw.Split('\n'))
        {
            var t = line.Trim();
            if (t.Length == 0) continue;
            int sp = t.IndexOf(' ');
            if (sp > 0 && t[..sp].All(char.IsDigit)) { sb.Append(t[(sp + 1)..]).Append('\n'); continue; }   // "  12 verse text"
            // otherwise a "Book N" header: skip
        }
        if (sb.Length < 1_000_000) throw new InvalidDataException($"The KJV text read through `bible` is only {sb.Length} characters: is bible-kjv-text complete?");
        return sb.ToString();
    }
}
