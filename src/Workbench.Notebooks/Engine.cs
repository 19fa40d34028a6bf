using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace Workbench.Notebooks;

/// <summary>The globals every cell sees: <c>display(x)</c> shows a value (rich HTML, charts) in the cell's output.</summary>
public class CellGlobals
{
    internal Action<object?>? Sink;

    /// <summary>Shows a value below the cell and returns it.</summary>
    public T display<T>(T value)
    {
        Sink?.Invoke(value);
        return value;
    }
}

/// <summary>
/// Runs C# cells in order with shared state (Roslyn scripting): variables, usings and functions carry from cell to
/// cell. Captures each cell's console output and displayed values in order, handles <c>#r "nuget:"</c> and <c>#!</c>
/// directives (<see cref="Directives"/>), and locates failures (cell, line, message). One engine per notebook run;
/// the headless runner and the Jupyter kernel are its two front ends.
/// </summary>
public sealed partial class NotebookEngine
{
    readonly CellGlobals globals = new();
    ScriptState<object>? state;
    ScriptOptions options;
    int submissions;

    public NotebookEngine(string? baseDirectory = null)
    {
        // Before any cell can call TorchSharp: the kernel's and the runner's other threads allocate while cells run.
        Workbench.Runtime.TorchGuard.Install();
        Formatters.Register();
        var refs = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => !a.IsDynamic && !string.IsNullOrEmpty(a.Location))
            .Concat([typeof(Workbench.Runtime.TorchRuntime).Assembly, typeof(TorchSharp.torch).Assembly, typeof(Plotly.NET.GenericChart).Assembly,
                     typeof(Plotly.NET.CSharp.Chart).Assembly, typeof(Microsoft.FSharp.Core.FSharpOption<>).Assembly,
                     typeof(Microsoft.Data.Analysis.DataFrame).Assembly, typeof(NotebookEngine).Assembly])
            .Distinct();
        options = ScriptOptions.Default
            .AddReferences(refs)
            .AddImports("System", "System.IO", "System.Linq", "System.Collections.Generic", "System.Threading.Tasks")
            .WithEmitDebugInformation(true)
            .WithMetadataResolver(ScriptMetadataResolver.Default.WithBaseDirectory(baseDirectory ?? Environment.CurrentDirectory))
            .WithSourceResolver(new SourceFileResolver([], baseDirectory ?? Environment.CurrentDirectory));
    }

    /// <summary>Runs one cell; never throws for errors in the cell (they come back located in <see cref="CellRun.Error"/>).</summary>
    /// <param name="live">Called with each output as it happens (stream text line by line, displays, the result, the error).</param>
    public async Task<CellRun> RunCellAsync(int cellIndex, string code, Action<CellOutput>? live = null, CancellationToken ct = default)
    {
        Workbench.Runtime.Interrupt.Clear();
        var outputs = new List<CellOutput>();
        var sw = Stopwatch.StartNew();
        var oldOut = Console.Out; var oldErr = Console.Error; var oldIn = Console.In;
        var mux = new StreamMux(outputs, live);
        using var stdout = new MuxWriter(mux, "stdout");
        using var stderr = new MuxWriter(mux, "stderr");
        CellError? error = null;
        void Add(CellOutput o) { lock (outputs) outputs.Add(o); live?.Invoke(o); }
        globals.Sink = v => { mux.Flush(); Add(CellOutput.Display(Formatters.Bundle(v))); };
        var oldProgress = Workbench.Runtime.Progress.PlainWriter;
        Workbench.Runtime.Progress.PlainWriter = stdout;          // progress goes into the cell as plain lines, never as a terminal bar
        try
        {
            var d = Directives.Process(code);
            Console.SetOut(stdout); Console.SetError(stderr);
            Console.SetIn(TextReader.Null);                      // no stdin in a notebook: ReadLine returns null instead of blocking
            var path = $"cell{cellIndex + 1}.csx";
            var opts = options.WithFilePath(path);
            submissions++;
            // Streams carry an encoding, which Roslyn needs to emit debug information (line numbers in stack traces).
            using var src = new MemoryStream(Encoding.UTF8.GetBytes(InterruptChecks.Insert(d.Code)));
            state = state is null
                ? await CSharpScript.Create(src, opts, typeof(CellGlobals)).RunAsync(globals, ct)
                : await state.Script.ContinueWith(src, opts).RunFromAsync(state, ct);
            mux.Flush();
            if (state.ReturnValue is { } rv && HasTrailingExpression(d.Code))
                Add(CellOutput.Result(Formatters.Bundle(rv)));
            if (d.Timed) { mux.Append("stdout", $"Wall time: {sw.Elapsed.TotalMilliseconds:F0} ms\n"); mux.Flush(); }
        }
        catch (DirectiveException e)
        {
            error = new CellError(cellIndex, e.Line, "DirectiveError", e.Message, e.Message);
        }
        catch (CompilationErrorException e)
        {
            var first = e.Diagnostics.FirstOrDefault(x => x.Severity == DiagnosticSeverity.Error) ?? e.Diagnostics.First();
            var line = first.Location.IsInSource ? first.Location.GetLineSpan().StartLinePosition.Line + 1 : 0;
            var all = string.Join("\n", e.Diagnostics.Where(x => x.Severity == DiagnosticSeverity.Error)
                .Select(x => $"line {(x.Location.IsInSource ? x.Location.GetLineSpan().StartLinePosition.Line + 1 : 0)}: {x.Id}: {x.GetMessage()}"));
            error = new CellError(cellIndex, line, "CompilationError", $"{first.Id}: {first.GetMessage()}", all);
        }
        catch (Workbench.Runtime.InterruptedException e)
        {
            error = new CellError(cellIndex, CellLine(e, cellIndex), "KeyboardInterrupt", "interrupted", e.ToString());
        }
        catch (Exception e)
        {
            var ex = e is TargetInvocationException { InnerException: { } inner } ? inner : e;
            error = new CellError(cellIndex, CellLine(ex, cellIndex), ex.GetType().Name, ex.Message, ex.ToString());
        }
        finally
        {
            mux.Flush();
            Workbench.Runtime.Progress.PlainWriter = oldProgress;
            Console.SetOut(oldOut); Console.SetError(oldErr); Console.SetIn(oldIn);
            globals.Sink = null;
        }
        if (error is not null) Add(CellOutput.Fail(error));
        return new CellRun(cellIndex, outputs, error, sw.Elapsed.TotalSeconds);
    }

    [GeneratedRegex(@"cell(\d+)\.csx:line (\d+)")]
    private static partial Regex FrameLine();

    /// <summary>The line in the failing cell from the exception's stack trace (0 if the failure is outside the cell's code).</summary>
    static int CellLine(Exception e, int cellIndex)
    {
        foreach (Match m in FrameLine().Matches(e.StackTrace ?? ""))
            if (int.Parse(m.Groups[1].Value) == cellIndex + 1) return int.Parse(m.Groups[2].Value);
        return 0;
    }

    /// <summary>True when the cell ends in an expression without a semicolon (its value is the cell's result).</summary>
    static bool HasTrailingExpression(string code) =>
        EndsInExpression((Microsoft.CodeAnalysis.CSharp.Syntax.CompilationUnitSyntax)Microsoft.CodeAnalysis.CSharp.CSharpSyntaxTree.ParseText(code,
            Microsoft.CodeAnalysis.CSharp.CSharpParseOptions.Default.WithKind(SourceCodeKind.Script)).GetRoot());

    /// <summary>True when a parsed cell's last top-level statement is an expression without a semicolon.</summary>
    public static bool EndsInExpression(Microsoft.CodeAnalysis.CSharp.Syntax.CompilationUnitSyntax root) =>
        root.Members.OfType<Microsoft.CodeAnalysis.CSharp.Syntax.GlobalStatementSyntax>().LastOrDefault()?.Statement
            is Microsoft.CodeAnalysis.CSharp.Syntax.ExpressionStatementSyntax es && es.SemicolonToken.IsMissing;

    /// <summary>Collects console text of both streams in the order it was written, merging consecutive writes to one stream.</summary>
    sealed class StreamMux(List<CellOutput> outputs, Action<CellOutput>? live)
    {
        readonly StringBuilder pending = new();
        string? pendingName;

        public void Append(string name, string? text)
        {
            if (string.IsNullOrEmpty(text)) return;
            lock (this)
            {
                if (pendingName != name) Flush();
                pendingName = name;
                pending.Append(text);
                if (live is not null && text.Contains('\n')) Flush();     // live: publish line by line
            }
        }

        public void Flush()
        {
            lock (this)
            {
                if (pending.Length == 0 || pendingName is null) return;
                var text = pending.ToString();
                pending.Clear();
                lock (outputs)
                {
                    if (outputs.Count > 0 && outputs[^1] is { Kind: "stream" } last && last.StreamName == pendingName)
                        outputs[^1] = last with { Text = last.Text + text };
                    else outputs.Add(CellOutput.Stream(pendingName, text));
                }
                live?.Invoke(CellOutput.Stream(pendingName, text));
            }
        }
    }

    sealed class MuxWriter(StreamMux mux, string name) : TextWriter
    {
        public override Encoding Encoding => Encoding.UTF8;
        public override void Write(char value) => mux.Append(name, value.ToString());
        public override void Write(string? value) => mux.Append(name, value);
        public override void Write(char[] buffer, int index, int count) => mux.Append(name, new string(buffer, index, count));
        public override void Flush() => mux.Flush();
    }
}
