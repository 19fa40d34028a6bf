using System.Globalization;
using System.Text.RegularExpressions;

namespace Workbench.Papers.OrgEval;

public enum SolveStatus { Optimal, Infeasible, Unbounded, TimeLimit, Error, Skipped }

/// <summary>One solver call: status, optimal value in the model's own sense (null unless optimal), wall time.</summary>
public sealed record SolveRecord(string Solver, SolveStatus Status, double? Objective, double Seconds, string Detail = "");

/// <summary>
/// Real solvers from Debian through their command lines, on a free-MPS file of the minimisation form: <c>highs</c> 1.10
/// (<c>--time_limit</c>, <c>--solution_file</c>), <c>cbc</c> 2.10 (<c>-sec T -solve -quit</c>), <c>glpsol</c> 5.0
/// (<c>--freemps --tmlim T -o FILE</c>). One thread each (calls run in parallel instead). A missing binary gives a Skipped
/// record saying what to install, never an exception.
/// </summary>
public static class Solvers
{
    public static readonly string[] All = ["highs", "cbc", "glpsol"];

    public static string Package(string solver) => solver switch
    {
        "highs" => "highs", "cbc" => "coinor-cbc", "glpsol" => "glpk-utils",
        _ => throw new ArgumentException($"unknown solver '{solver}' (known: {string.Join(", ", All)})"),
    };

    public static bool Available(string solver) => Tools.Which(solver) is not null;

    static double? Num(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    public static SolveRecord Solve(LpModel model, string solver, double limitSeconds, string workDir)
    {
        string pkg = Package(solver);
        if (!Available(solver)) return new SolveRecord(solver, SolveStatus.Skipped, null, 0, new ToolMissingException(solver, pkg).Message);
        var dir = Path.Combine(workDir, $"{solver}-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(dir);
        try
        {
            var mps = Path.Combine(dir, "model.mps");
            File.WriteAllText(mps, Mps.Write(model));
            double hard = limitSeconds + 15;     // the solvers stop themselves; the kill is a backstop
            var (status, minObj, run) = solver switch
            {
                "highs" => Highs(mps, dir, limitSeconds, hard),
                "cbc" => Cbc(mps, dir, limitSeconds, hard),
                _ => Glpk(mps, dir, limitSeconds, hard),
            };
            if (run.TimedOut) status = SolveStatus.TimeLimit;
            double? obj = status == SolveStatus.Optimal && minObj is double o ? (model.Sense == ObjSense.Maximize ? -o : o) : null;
            if (status == SolveStatus.Optimal && obj is null) status = SolveStatus.Error;
            var detail = status == SolveStatus.Error ? Tail(run.Stdout + run.Stderr) : "";
            return new SolveRecord(solver, status, obj, run.Seconds, detail);
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    static string Tail(string s) => s.Length <= 400 ? s.Trim() : s[^400..].Trim();

    static (SolveStatus, double?, ToolRun) Highs(string mps, string dir, double limit, double hard)
    {
        var sol = Path.Combine(dir, "sol.txt");
        var run = Tools.Run("highs", "highs", ["--time_limit", limit.ToString(CultureInfo.InvariantCulture), "--parallel", "off", "--solution_file", sol, mps], hard, dir);
        var text = File.Exists(sol) ? File.ReadAllText(sol) : "";
        var st = Regex.Match(text, @"Model status\s*\n\s*(.+)").Groups[1].Value.Trim();
        if (st.Length == 0) st = Regex.Match(run.Stdout, @"Model status\s*:\s*(.+)").Groups[1].Value.Trim();
        var status = st switch
        {
            "Optimal" => SolveStatus.Optimal,
            "Infeasible" => SolveStatus.Infeasible,
            "Unbounded" or "Primal infeasible or unbounded" => SolveStatus.Unbounded,
            "Time limit reached" => SolveStatus.TimeLimit,
            _ => SolveStatus.Error,
        };
        var obj = Num(Regex.Match(text, @"^Objective\s+(\S+)", RegexOptions.Multiline).Groups[1].Value);
        return (status, obj, run);
    }

    static (SolveStatus, double?, ToolRun) Cbc(string mps, string dir, double limit, double hard)
    {
        var run = Tools.Run("cbc", "coinor-cbc", [mps, "-sec", limit.ToString(CultureInfo.InvariantCulture), "-threads", "1", "-solve", "-quit"], hard, dir);
        var o = run.Stdout;
        SolveStatus status =
            o.Contains("Result - Optimal solution found") || Regex.IsMatch(o, @"^Optimal - objective value", RegexOptions.Multiline) ? SolveStatus.Optimal
            : o.Contains("Stopped on time") || o.Contains("Result - Stopped on") ? SolveStatus.TimeLimit
            : o.Contains("infeasible", StringComparison.OrdinalIgnoreCase) && !o.Contains("Dual infeasible") ? SolveStatus.Infeasible
            : o.Contains("unbounded", StringComparison.OrdinalIgnoreCase) || o.Contains("Dual infeasible") ? SolveStatus.Unbounded
            : SolveStatus.Error;
        var m = Regex.Match(o, @"Objective value:\s+(\S+)");
        if (!m.Success) m = Regex.Match(o, @"Optimal - objective value\s+(\S+)");
        return (status, Num(m.Groups[1].Value), run);
    }

    static (SolveStatus, double?, ToolRun) Glpk(string mps, string dir, double limit, double hard)
    {
        var outFile = Path.Combine(dir, "out.txt");
        var run = Tools.Run("glpsol", "glpk-utils", ["--freemps", mps, "--tmlim", Math.Max(1, (int)Math.Ceiling(limit)).ToString(CultureInfo.InvariantCulture), "-o", outFile], hard, dir);
        var text = File.Exists(outFile) ? File.ReadAllText(outFile) : "";
        var st = Regex.Match(text, @"^Status:\s+(.+)$", RegexOptions.Multiline).Groups[1].Value.Trim();
        var o = run.Stdout;
        SolveStatus status =
            o.Contains("TIME LIMIT EXCEEDED") ? SolveStatus.TimeLimit
            : st is "OPTIMAL" or "INTEGER OPTIMAL" ? SolveStatus.Optimal
            : o.Contains("NO PRIMAL FEASIBLE SOLUTION") || o.Contains("NO INTEGER FEASIBLE SOLUTION") || st.Contains("INFEASIBLE") || st == "INTEGER EMPTY" ? SolveStatus.Infeasible
            : o.Contains("UNBOUNDED") || st.Contains("UNBOUNDED") ? SolveStatus.Unbounded
            : SolveStatus.Error;
        var obj = Num(Regex.Match(text, @"^Objective:\s+\S+\s*=\s*(\S+)", RegexOptions.Multiline).Groups[1].Value);
        return (status, obj, run);
    }

    /// <summary>The solver-based verdict of the paper's baseline: "equivalent" iff both are optimal and |Δobj| ≤ abs + rel·|ref|;
    /// "not" when both are optimal with a larger gap, or exactly one is optimal; "undecided" when neither is optimal (both infeasible,
    /// unbounded, timed out or skipped) — a rule the paper leaves open.</summary>
    public static string Verdict(SolveRecord reference, SolveRecord candidate, double absTol, double relTol)
    {
        bool ro = reference.Status == SolveStatus.Optimal, co = candidate.Status == SolveStatus.Optimal;
        if (ro && co) return Math.Abs(reference.Objective!.Value - candidate.Objective!.Value) <= absTol + relTol * Math.Abs(reference.Objective.Value) ? "equivalent" : "not";
        if (reference.Status == SolveStatus.Skipped || candidate.Status == SolveStatus.Skipped) return "undecided";
        if (ro != co && reference.Status != SolveStatus.TimeLimit && candidate.Status != SolveStatus.TimeLimit
            && reference.Status != SolveStatus.Error && candidate.Status != SolveStatus.Error) return "not";
        return "undecided";
    }
}
