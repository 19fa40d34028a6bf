using Workbench.Display;

namespace Workbench.Claims;

/// <summary>How our toy-scale measurement relates to the paper's claim.</summary>
public enum Verdict { Reproduced, Partly, NotReproduced, Pending }

/// <summary>One row of a paper's claims table: the paper's number and setting beside ours.</summary>
public sealed record Claim(
    string What,
    string PaperSetting,
    string PaperValue,
    string OurSetting,
    string OurValue,
    Verdict Verdict,
    string Comment = "");

public static class ClaimsTable
{
    public static string VerdictText(Verdict v) => v switch
    {
        Verdict.Reproduced => "reproduced",
        Verdict.Partly => "partly",
        Verdict.NotReproduced => "not reproduced",
        _ => "pending",
    };

    public static Table ToTable(IEnumerable<Claim> claims) => new(
        ["claim", "paper (setting)", "paper", "ours (setting)", "ours", "verdict", "comment"],
        claims.Select(c => new[] { c.What, c.PaperSetting, c.PaperValue, c.OurSetting, c.OurValue, VerdictText(c.Verdict), c.Comment }).ToList());

    /// <summary>The claims.md document committed under results/&lt;paper&gt;/.</summary>
    public static string ToMarkdown(string paperTitle, IEnumerable<Claim> claims, string preamble, string? footer = null) =>
        $"# {paperTitle}: claims and what we measured\n\n{preamble.Trim()}\n\n{ToTable(claims).ToMarkdown()}\n{(footer is null ? "" : footer.Trim() + "\n")}";
}
