using System.Diagnostics;
using Spectre.Console;

namespace Workbench.Runtime;

/// <summary>One tick of a long loop: advance by one unit and optionally say what the loop is doing.</summary>
public interface IProgressTick
{
    void Tick(string? status = null);
}

/// <summary>
/// Progress for loops longer than a few seconds. In a terminal it draws a Spectre.Console bar; when output is
/// redirected (CI logs, notebooks) it prints one plain line at every 10% and at least every 15 seconds.
/// </summary>
public static class Progress
{
    /// <summary>Set to false to silence progress (tests).</summary>
    public static bool Enabled { get; set; } = true;
    /// <summary>Where plain lines go (defaults to Console.Out, read at call time).</summary>
    public static TextWriter? PlainWriter { get; set; }

    public static T Run<T>(string label, int total, Func<IProgressTick, T> body)
    {
        if (!Enabled) return body(new Silent());
        bool fancy = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive && PlainWriter is null;
        if (!fancy) return body(new Plain(label, total, PlainWriter ?? Console.Out));
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(label), maxValue: Math.Max(1, total));
                result = body(new Fancy(task, label));
            });
        return result;
    }

    public static void Run(string label, int total, Action<IProgressTick> body) =>
        Run<int>(label, total, t => { body(t); return 0; });

    sealed class Silent : IProgressTick { public void Tick(string? status = null) => Interrupt.Check(); }

    sealed class Fancy(ProgressTask task, string label) : IProgressTick
    {
        public void Tick(string? status = null)
        {
            Interrupt.Check();
            task.Increment(1);
            if (status is not null) task.Description = Markup.Escape($"{label}: {status}");
        }
    }

    internal sealed class Plain(string label, int total, TextWriter w) : IProgressTick
    {
        readonly Stopwatch sw = Stopwatch.StartNew();
        int done, lastDecile;
        double lastPrint;

        public void Tick(string? status = null)
        {
            Interrupt.Check();
            done++;
            int decile = total > 0 ? done * 10 / total : 0;
            double t = sw.Elapsed.TotalSeconds;
            if (decile > lastDecile || t - lastPrint >= 15 || done == total)
            {
                lastDecile = decile; lastPrint = t;
                var pct = total > 0 ? $"{100.0 * done / total,5:F1}%" : "";
                w.WriteLine($"[{label}] {done}/{total} {pct} {t:F1}s{(status is null ? "" : "  " + status)}");
                w.Flush();
            }
        }
    }
}
