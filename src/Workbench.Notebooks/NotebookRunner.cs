using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.CodeAnalysis.CSharp;

namespace Workbench.Notebooks;

/// <summary>The result of running one notebook headless.</summary>
public sealed record NotebookRunResult(string Source, string ExecutedNotebook, string Report, IReadOnlyList<CellRun> Cells, CellError? Error, double Seconds)
{
    public bool Succeeded => Error is null;
}

/// <summary>
/// Runs a notebook headless, like papermill: parameters are injected in a cell after the one tagged <c>parameters</c>,
/// cells run in order in the notebook's folder, and the executed .ipynb (standard output mime bundles) and a standalone
/// HTML report are written to the output folder. A failing cell stops the run; both files are still written, with the
/// error at that cell, and everything computed before it is kept. The executed notebook is rewritten after every cell.
/// </summary>
public static class NotebookRunner
{
    public const string ParametersTag = "parameters";
    public const string InjectedTag = "injected-parameters";

    /// <summary>A C# statement list that sets the given parameters: strings, integers (as long, like the parameters
    /// cells' <c>1L</c>), doubles (with a d suffix; NaN and infinities by name) and booleans.</summary>
    public static string ParameterCode(IReadOnlyDictionary<string, object> parameters)
    {
        var lines = new List<string> { "// Parameters injected by `papers notebook run`" };
        foreach (var (name, value) in parameters)
        {
            if (!SyntaxFacts.IsValidIdentifier(name)) throw new ArgumentException($"Parameter name '{name}' is not a C# identifier.");
            var literal = value switch
            {
                string s => SymbolDisplay.FormatLiteral(s, quote: true),
                bool b => b ? "true" : "false",
                int or long => Convert.ToInt64(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture) + "L",
                double d when double.IsNaN(d) => "double.NaN",
                double d when double.IsPositiveInfinity(d) => "double.PositiveInfinity",
                double d when double.IsNegativeInfinity(d) => "double.NegativeInfinity",
                double d => d.ToString("R", CultureInfo.InvariantCulture) + "d",     // 1.0 stays a double, not an int
                _ => throw new ArgumentException($"Parameter {name}: values must be strings, integers, doubles or booleans, not {value.GetType().Name}."),
            };
            lines.Add($"var {name} = {literal};");
        }
        return string.Join("\n", lines);
    }

    /// <summary>Inserts the injected-parameters cell after the cell tagged <c>parameters</c> (or first, if there is none),
    /// replacing one injected by an earlier run.</summary>
    public static void InjectParameters(NotebookDocument doc, IReadOnlyDictionary<string, object> parameters)
    {
        doc.Cells.RemoveAll(c => c.HasTag(InjectedTag));
        if (parameters.Count == 0) return;
        var at = doc.Cells.FindIndex(c => c.IsCode && c.HasTag(ParametersTag));
        doc.Cells.Insert(at + 1, NotebookCell.Code(ParameterCode(parameters), InjectedTag));
    }

    public static async Task<NotebookRunResult> RunAsync(string notebookPath, IReadOnlyDictionary<string, object> parameters, string outDir, TextWriter? log = null)
    {
        var sw = Stopwatch.StartNew();
        var full = Path.GetFullPath(notebookPath);
        var doc = NotebookDocument.Load(full);
        InjectParameters(doc, parameters);
        Directory.CreateDirectory(outDir);
        var name = Path.GetFileNameWithoutExtension(full);
        var executed = Path.GetFullPath(Path.Combine(outDir, name + ".ipynb"));
        var report = Path.GetFullPath(Path.Combine(outDir, name + ".html"));
        foreach (var c in doc.Cells.Where(c => c.IsCode)) { c.Outputs = new JsonArray(); c.ExecutionCount = null; }

        var runs = new List<CellRun>();
        CellError? error = null;
        var oldCwd = Environment.CurrentDirectory;
        Environment.CurrentDirectory = Path.GetDirectoryName(full)!;
        try
        {
            var engine = new NotebookEngine(Environment.CurrentDirectory);
            int count = 0;
            for (int i = 0; i < doc.Cells.Count && error is null; i++)
            {
                var cell = doc.Cells[i];
                if (!cell.IsCode || string.IsNullOrWhiteSpace(cell.Source)) continue;
                log?.WriteLine($"[notebook] {name}: cell {i + 1}/{doc.Cells.Count}");
                var run = await engine.RunCellAsync(i, cell.Source);
                runs.Add(run);
                cell.ExecutionCount = ++count;
                cell.Outputs = new JsonArray(run.Outputs.Select(o => (JsonNode)o.ToJson(cell.ExecutionCount)).ToArray());
                cell.Metadata["papers"] = new JsonObject { ["seconds"] = Math.Round(run.Seconds, 3) };
                error = run.Error;
                doc.Save(executed);
            }
        }
        finally
        {
            Environment.CurrentDirectory = oldCwd;
            doc.Metadata["papers"] = new JsonObject
            {
                ["parameters"] = new JsonObject(parameters.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value.ToString())))),
                ["seconds"] = Math.Round(sw.Elapsed.TotalSeconds, 2),
                ["status"] = error is null ? "ok" : "failed: " + error.Located,
                ["runtime"] = Workbench.Runtime.TorchRuntime.Current?.ToString(),
            };
            doc.Save(executed);
            NotebookReport.Build(doc, name, runs, error, parameters, sw.Elapsed.TotalSeconds).Save(report);
        }
        if (error is not null) log?.WriteLine($"[notebook] {name}: FAILED at {error.Located}");
        return new NotebookRunResult(full, executed, report, runs, error, sw.Elapsed.TotalSeconds);
    }
}
