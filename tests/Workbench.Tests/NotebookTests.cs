using System.Diagnostics;
using System.Text.Json.Nodes;
using Workbench.Claims;
using Workbench.Notebooks;
using Xunit;

namespace Workbench.Tests;

public class NotebookEngineTests
{
    public NotebookEngineTests() { _ = T.Rt; }

    static string PlainOf(CellOutput o) => o.Data!["text/plain"].GetValue<string>();

    [Fact]
    public async Task State_carries_between_cells_and_the_last_expression_is_the_result()
    {
        var e = new NotebookEngine();
        Assert.Null((await e.RunCellAsync(0, "var x = 41;\nint Twice(int v) => 2 * v;")).Error);
        var r = await e.RunCellAsync(1, "Twice(x) - x + 1");
        Assert.Null(r.Error);
        Assert.Equal("42", PlainOf(Assert.Single(r.Outputs, o => o.Kind == "execute_result")));
        var none = await e.RunCellAsync(2, "x + 1;");                   // a semicolon: a statement, no result
        Assert.DoesNotContain(none.Outputs, o => o.Kind == "execute_result");
    }

    [Fact]
    public async Task Console_output_and_displays_are_captured_in_order()
    {
        var e = new NotebookEngine();
        var r = await e.RunCellAsync(0, "Console.Write(\"a\"); Console.WriteLine(\"b\"); display(7); Console.Error.WriteLine(\"warn\"); Console.WriteLine(\"c\");");
        Assert.Null(r.Error);
        Assert.Equal(["stream", "display_data", "stream", "stream"], r.Outputs.Select(o => o.Kind));
        Assert.Equal("ab\n", r.Outputs[0].Text);
        Assert.Equal("7", PlainOf(r.Outputs[1]));
        Assert.Equal(("stderr", "warn\n"), (r.Outputs[2].StreamName, r.Outputs[2].Text));
        Assert.Equal("c\n", r.Outputs[3].Text);
    }

    [Fact]
    public async Task Reading_stdin_in_a_cell_does_not_block()
    {
        var r = await new NotebookEngine().RunCellAsync(0, "Console.ReadLine() is null");
        Assert.Equal("True", PlainOf(Assert.Single(r.Outputs)));
    }

    [Fact]
    public async Task Charts_and_tables_render_as_html_and_charts_also_as_plotly_json()
    {
        var e = new NotebookEngine();
        var r = await e.RunCellAsync(0, "using Workbench.Display;\nCharts.Heatmap(new[] { new[] { 1.0, 2.0 } }, \"h\")");
        var o = Assert.Single(r.Outputs);
        Assert.Contains("Plotly.newPlot", o.Data!["text/html"].GetValue<string>());
        Assert.Equal("heatmap", o.Data[Formatters.PlotlyMime]["data"]![0]!["type"]!.GetValue<string>());
        r = await e.RunCellAsync(1, "new Table(new[] { \"a\" }, new[] { new[] { \"<x>\" } })");
        Assert.Contains("<td>&lt;x&gt;</td>", Assert.Single(r.Outputs).Data!["text/html"].GetValue<string>());
        r = await e.RunCellAsync(2, "TorchSharp.torch.eye(2)");
        Assert.Contains("<table>", Assert.Single(r.Outputs).Data!["text/html"].GetValue<string>());
    }

    [Fact]
    public async Task Nuget_references_to_loaded_packages_are_satisfied_and_others_fail_by_name()
    {
        var e = new NotebookEngine();
        var ok = await e.RunCellAsync(0, "#r \"nuget: TorchSharp, 0.107.0\"\n#r \"nuget: Plotly.NET\"\n#!csharp\nvar t = TorchSharp.torch.ones(2);");
        Assert.Null(ok.Error);
        var missing = await e.RunCellAsync(1, "var a = 1;\n#r \"nuget: Newtonsoft.Json, 13.0.1\"");
        Assert.Equal(2, missing.Error!.Line);
        Assert.Contains("Newtonsoft.Json", missing.Error.Message);
        var wrong = await e.RunCellAsync(2, "#r \"nuget: TorchSharp, 0.105.2\"");
        Assert.Contains("provides TorchSharp 0.107.0, not 0.105.2", wrong.Error!.Message);
        var fsharp = await e.RunCellAsync(3, "#!fsharp\nlet x = 1");
        Assert.Contains("#!fsharp", fsharp.Error!.Message);
        var timed = await e.RunCellAsync(4, "#!time\nvar z = 1;");
        Assert.Contains(timed.Outputs, o => o.Kind == "stream" && o.Text!.StartsWith("Wall time:"));
    }

    [Fact]
    public async Task Errors_are_located_by_cell_and_line_and_the_state_survives()
    {
        var e = new NotebookEngine();
        await e.RunCellAsync(0, "var kept = 5;");
        var compile = await e.RunCellAsync(1, "var a = 1;\nvar b = undefinedName;");
        Assert.Equal("CompilationError", compile.Error!.Name);
        Assert.Equal(2, compile.Error.Line);
        Assert.StartsWith("cell 2, line 2: CompilationError: CS0103", compile.Error.Located);
        var thrown = await e.RunCellAsync(2, "Console.WriteLine(\"before\");\nvar q = 1;\nthrow new InvalidOperationException(\"boom\");");
        Assert.Equal(("InvalidOperationException", 3, "boom"), (thrown.Error!.Name, thrown.Error.Line, thrown.Error.Message));
        Assert.Equal("before\n", thrown.Outputs[0].Text);                   // output before the failure is kept
        var after = await e.RunCellAsync(3, "kept");
        Assert.Equal("5", PlainOf(Assert.Single(after.Outputs)));
    }
}

public class NotebookRunnerTests
{
    public NotebookRunnerTests() { _ = T.Rt; }

    static string Write(NotebookDocument doc)
    {
        var p = Path.Combine(T.TempDir(), "fixture.ipynb");
        doc.Save(p);
        return p;
    }

    [Fact]
    public async Task Parameters_are_injected_after_the_parameters_cell()
    {
        var doc = new NotebookDocument();
        doc.Cells.Add(NotebookCell.Markdown("# Fixture"));
        doc.Cells.Add(NotebookCell.Code("var Preset = \"gpu\";\nvar N = 1L;", "parameters"));
        doc.Cells.Add(NotebookCell.Code("Console.Write(Preset + N);"));
        var outDir = T.TempDir();
        var r = await NotebookRunner.RunAsync(Write(doc), new Dictionary<string, object> { ["Preset"] = "test \"quoted\"", ["N"] = 5L }, outDir);
        Assert.True(r.Succeeded);
        var executed = NotebookDocument.Load(r.ExecutedNotebook);
        Assert.True(executed.Cells[2].HasTag(NotebookRunner.InjectedTag));
        var stream = executed.Cells[3].Outputs[0]!;
        Assert.Equal("test \"quoted\"5", string.Concat((stream["text"] as JsonArray)!.Select(x => x!.GetValue<string>())));
        Assert.Equal([1, 2, 3], executed.Cells.Where(c => c.IsCode).Select(c => c.ExecutionCount ?? 0));
    }

    [Fact]
    public async Task A_failing_cell_gives_a_located_error_a_partial_report_and_keeps_earlier_outputs()
    {
        var doc = new NotebookDocument();
        doc.Cells.Add(NotebookCell.Code("Console.WriteLine(\"<script>alert(1)</script>\");"));
        doc.Cells.Add(NotebookCell.Markdown("Some *markdown* with <b>html</b>"));
        doc.Cells.Add(NotebookCell.Code("var ok = 1;\nvar x = 1 / (ok - 1);"));
        doc.Cells.Add(NotebookCell.Code("Console.WriteLine(\"never\");"));
        var r = await NotebookRunner.RunAsync(Write(doc), new Dictionary<string, object>(), T.TempDir());
        Assert.False(r.Succeeded);
        Assert.Equal((2, 2, "DivideByZeroException"), (r.Error!.CellIndex, r.Error.Line, r.Error.Name));
        var html = File.ReadAllText(r.Report);
        Assert.Contains("Failed at cell 3, line 2: DivideByZeroException", html);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html);    // user output is escaped
        Assert.DoesNotContain("<script>alert(1)</script>", html);
        var executed = NotebookDocument.Load(r.ExecutedNotebook);
        Assert.NotEmpty(executed.Cells[0].Outputs);                        // computed before the failure: kept
        Assert.Equal("error", executed.Cells[2].Outputs[^1]!["output_type"]!.GetValue<string>());
        Assert.Empty(executed.Cells[3].Outputs);                           // not run
    }

    [Fact]
    public void Notebook_files_round_trip_and_bad_files_are_rejected_clearly()
    {
        var doc = new NotebookDocument();
        doc.Cells.Add(NotebookCell.Code("var a = 1;\nvar b = 2;\n", "parameters"));
        var p = Write(doc);
        var back = NotebookDocument.Load(p);
        Assert.Equal("var a = 1;\nvar b = 2;\n", back.Cells[0].Source);
        Assert.True(back.Cells[0].HasTag("parameters"));
        Assert.Equal(".net-csharp", back.Metadata["kernelspec"]!["name"]!.GetValue<string>());
        Assert.Equal(2, (JsonNode.Parse(File.ReadAllText(p))!["cells"]![0]!["source"] as JsonArray)!.Count);
        var bad = Path.Combine(T.TempDir(), "old.ipynb");
        File.WriteAllText(bad, "{\"cells\": [], \"nbformat\": 3}");
        Assert.Contains("nbformat 3", Assert.Throws<InvalidDataException>(() => NotebookDocument.Load(bad)).Message);
        File.WriteAllText(bad, "{not json");
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => NotebookDocument.Load(bad)).Message);
    }

    [Fact]
    public async Task Every_notebook_in_the_repository_runs_on_the_Test_preset()
    {
        var root = T.RepoRoot();
        var files = Directory.GetFiles(Path.Combine(root, "notebooks"), "*.ipynb").Order().ToArray();
        Assert.NotEmpty(files);
        var outDir = Path.Combine(root, "runs", "notebooks-ci");
        foreach (var f in files)
        {
            var name = Path.GetFileNameWithoutExtension(f);
            var r = await NotebookRunner.RunAsync(f, new Dictionary<string, object> { ["Preset"] = "test", ["OutDir"] = Path.Combine(outDir, name) }, outDir);
            Assert.True(r.Succeeded, $"{name} failed at {r.Error?.Located}\n{r.Error?.Detail}");
            Assert.True(File.Exists(r.Report));
        }
    }
}

public class ReportTests
{
    [Fact]
    public void The_index_lists_every_committed_paper_with_its_claims()
    {
        var papers = ResultsIndex.Read(Path.Combine(T.RepoRoot(), "results"));
        var lbc = Assert.Single(papers, p => p.Slug == "lbc");
        Assert.Equal("gpu", lbc.Preset);
        Assert.NotEmpty(lbc.Claims);
        var path = ResultsIndex.Build(papers).Save(Path.Combine(T.TempDir(), "index.html"));
        Assert.Contains("LBC ≥ SR-STE", File.ReadAllText(path));
    }

    /// <summary>Opens a generated report offline in headless Chromium and checks that Plotly drew its chart (an SVG).</summary>
    [Fact]
    public void A_report_draws_its_charts_offline_in_headless_Chromium()
    {
        var chromium = Environment.GetEnvironmentVariable("PAPERS_CHROMIUM") ?? "/usr/bin/chromium";
        Assert.True(File.Exists(chromium), $"Chromium is needed for this test ({chromium} is missing): `scripts/setup --test-deps` installs it, or set PAPERS_CHROMIUM.");
        var dir = T.TempDir();
        var page = new Workbench.Display.HtmlReport("browser check")
            .Chart(Workbench.Display.Charts.Heatmap([[1.0, 2.0], [3.0, 4.0]], "offline heatmap"))
            .Save(Path.Combine(dir, "r.html"));
        var psi = new ProcessStartInfo(chromium)
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", $"--user-data-dir={Path.Combine(dir, "profile")}", "--virtual-time-budget=10000",
                     "--dump-dom", "file://" + page })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var dom = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(90_000), "Chromium did not finish within 90 s");
        Assert.Contains("main-svg", dom.Result);                            // Plotly's drawn chart
        Assert.Contains("offline heatmap", dom.Result);
    }
}
