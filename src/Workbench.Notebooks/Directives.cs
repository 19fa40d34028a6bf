using System.Reflection;
using System.Text.RegularExpressions;

namespace Workbench.Notebooks;

/// <summary>A directive the engine cannot satisfy: the message names the package or magic and what to do.</summary>
public sealed class DirectiveException(string message, int line) : Exception(message)
{
    /// <summary>1-based line in the cell.</summary>
    public int Line { get; } = line;
}

/// <summary>What the directives of a cell asked for.</summary>
public sealed record DirectiveResult(string Code, bool Timed, IReadOnlyList<string> Notes);

/// <summary>
/// Handles <c>#r "nuget: Id, Version"</c> and <c>#!</c> magics the way a notebook user expects, without NuGet at run
/// time: a package the engine already loads is satisfied (the line becomes a comment, so line numbers do not move); any
/// other package, or a version other than the loaded one, is an error that names it. Magics: <c>#!csharp</c> / <c>#!c#</c>
/// (the cell's language) are accepted, <c>#!time</c> times the cell, anything else is an error.
/// </summary>
public static partial class Directives
{
    [GeneratedRegex("""^\s*#r\s+"nuget:\s*([^,"\s]+)\s*(?:,\s*([^"\s]+))?\s*"\s*$""")]
    private static partial Regex NugetRef();

    [GeneratedRegex(@"^\s*#!\s*(\S+)")]
    private static partial Regex Magic();

    /// <summary>Packages the engine provides: NuGet id → the assembly that carries it.</summary>
    public static IReadOnlyDictionary<string, Assembly> Provided { get; } = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase)
    {
        ["TorchSharp"] = typeof(TorchSharp.torch).Assembly,
        ["TorchSharp-cpu"] = typeof(TorchSharp.torch).Assembly,
        ["Plotly.NET"] = typeof(Plotly.NET.GenericChart).Assembly,
        ["Plotly.NET.CSharp"] = typeof(Plotly.NET.CSharp.Chart).Assembly,
        ["Microsoft.Data.Analysis"] = typeof(Microsoft.Data.Analysis.DataFrame).Assembly,
        ["Microsoft.DotNet.Interactive.Formatting"] = typeof(Microsoft.DotNet.Interactive.Formatting.Formatter).Assembly,
        ["Spectre.Console"] = typeof(Spectre.Console.AnsiConsole).Assembly,
        ["Papers.Workbench"] = typeof(Workbench.Runtime.TorchRuntime).Assembly,
    };

    /// <summary>The version a provided package has here (the assembly's informational version, without build metadata).</summary>
    public static string VersionOf(Assembly a)
    {
        var v = a.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? a.GetName().Version?.ToString() ?? "?";
        var plus = v.IndexOf('+');
        return plus >= 0 ? v[..plus] : v;
    }

    static bool SameVersion(string asked, string have)
    {
        if (asked is "*" or "" ) return true;
        static string Norm(string s) => string.Join('.', s.Split('.').Select(p => p.TrimStart('0') is "" ? "0" : p.TrimStart('0')));
        var a = Norm(asked); var h = Norm(have);
        return h == a || h.StartsWith(a + ".", StringComparison.Ordinal) || a.StartsWith(h + ".", StringComparison.Ordinal) && a[(h.Length + 1)..].All(ch => ch is '0' or '.');
    }

    public static DirectiveResult Process(string code)
    {
        var lines = code.Replace("\r\n", "\n").Split('\n');
        bool timed = false;
        var notes = new List<string>();
        for (int i = 0; i < lines.Length; i++)
        {
            var m = NugetRef().Match(lines[i]);
            if (m.Success)
            {
                var id = m.Groups[1].Value;
                var ver = m.Groups[2].Success ? m.Groups[2].Value : "";
                if (!Provided.TryGetValue(id, out var asm))
                    throw new DirectiveException(
                        $"#r \"nuget: {id}\": the Papers engine has no NuGet access at run time and does not provide {id}. " +
                        $"Provided packages: {string.Join(", ", Provided.Keys.Order())}. Add what you need to the Workbench library instead.", i + 1);
                var have = VersionOf(asm);
                if (!SameVersion(ver, have))
                    throw new DirectiveException($"#r \"nuget: {id}, {ver}\": the engine provides {id} {have}, not {ver}. Ask for {have} (or no version).", i + 1);
                lines[i] = $"// #r \"nuget: {id}\" — satisfied: the Papers engine loads {id} {have}";
                notes.Add($"{id} {have}");
                continue;
            }
            var g = Magic().Match(lines[i]);
            if (g.Success)
            {
                var magic = g.Groups[1].Value.ToLowerInvariant();
                switch (magic)
                {
                    case "csharp" or "c#" or "cs": lines[i] = "// " + lines[i].Trim(); break;
                    case "time": timed = true; lines[i] = "// " + lines[i].Trim(); break;
                    default:
                        throw new DirectiveException($"Magic #!{g.Groups[1].Value} is not supported: Papers notebooks run C# only (#!csharp) and know #!time.", i + 1);
                }
            }
        }
        return new DirectiveResult(string.Join('\n', lines), timed, notes);
    }
}
