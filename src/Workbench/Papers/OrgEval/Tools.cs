using System.Diagnostics;

namespace Workbench.Papers.OrgEval;

/// <summary>An external tool (bliss, highs, cbc, glpsol) that is not installed.</summary>
public sealed class ToolMissingException(string binary, string package)
    : InvalidOperationException($"skipped: {binary} not found on PATH; install {package} (scripts/setup does this)")
{
    public string Binary { get; } = binary;
    public string Package { get; } = package;
}

/// <summary>The output of one external process run with a wall-clock limit.</summary>
public sealed record ToolRun(int ExitCode, string Stdout, string Stderr, bool TimedOut, double Seconds);

/// <summary>Runs Debian's command-line tools with a time limit; looks binaries up on PATH.</summary>
public static class Tools
{
    public static string? Which(string binary)
    {
        if (binary.Contains('/')) return File.Exists(binary) ? binary : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var p = Path.Combine(dir, binary);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>Runs binary with args; kills the process tree after <paramref name="limitSeconds"/>.</summary>
    public static ToolRun Run(string binary, string package, IEnumerable<string> args, double limitSeconds, string? workDir = null)
    {
        var path = Which(binary) ?? throw new ToolMissingException(binary, package);
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (workDir is not null) psi.WorkingDirectory = workDir;
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{binary} did not start");
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        bool done = p.WaitForExit(TimeSpan.FromSeconds(limitSeconds));
        if (!done) { try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } p.WaitForExit(); }
        else p.WaitForExit();
        return new ToolRun(done ? p.ExitCode : -1, so.Result, se.Result, !done, sw.Elapsed.TotalSeconds);
    }
}
