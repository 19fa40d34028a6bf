using System.Diagnostics;
using Workbench.Kernel;
using Workbench.Notebooks;
using Xunit;

namespace Workbench.Tests;

/// <summary>
/// The Papers kernel driven by Debian's real Jupyter client (python3-jupyter-client, python3-nbclient; installed by
/// `scripts/setup --test-deps`): protocol checks (tests/kernel/protocol.py) and every notebook executed through the kernel
/// with the same output mime types as the headless runner (tests/kernel/notebooks.py).
/// </summary>
public class KernelTests
{
    const string Python = "/usr/bin/python3";

    static (int Code, string Output) RunPython(string args, string jupyterDir, int timeoutSeconds)
    {
        Assert.True(File.Exists(Python), $"{Python} is missing: the kernel tests use Debian's python3 with its Jupyter packages (`scripts/setup --test-deps`).");
        var psi = new ProcessStartInfo(Python, args)
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = T.RepoRoot() };
        psi.Environment["JUPYTER_PATH"] = Path.Combine(jupyterDir, "share", "jupyter");
        psi.Environment["JUPYTER_RUNTIME_DIR"] = Path.Combine(jupyterDir, "runtime");
        psi.Environment["JUPYTER_CONFIG_DIR"] = Path.Combine(jupyterDir, "config");
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        psi.Environment.Remove("PYTHONPATH");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000)) { try { p.Kill(true); } catch { } return (-1, $"timed out after {timeoutSeconds} s\n{stdout.Result}\n{stderr.Result}"); }
        return (p.ExitCode, stdout.Result + "\n" + stderr.Result);
    }

    static string InstallKernel()
    {
        var dir = T.TempDir();
        var cli = Path.Combine(AppContext.BaseDirectory, "papers.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing: the test project should copy the CLI beside the tests.");
        KernelSpec.Install(dir, KernelSpec.Argv(cli));
        return dir;
    }

    static void RequireJupyter()
    {
        var (code, output) = RunPython("-c \"import jupyter_client, nbclient, nbformat\"", T.TempDir(), 60);
        Assert.True(code == 0, "Debian's python3-jupyter-client / python3-nbclient are needed (`scripts/setup --test-deps` installs them): " + output);
    }

    [Fact]
    public void The_real_Jupyter_client_talks_to_the_kernel()
    {
        RequireJupyter();
        var (code, output) = RunPython($"\"{Path.Combine(T.RepoRoot(), "tests", "kernel", "protocol.py")}\"", InstallKernel(), 300);
        Assert.True(code == 0 && output.Contains("KERNEL PROTOCOL OK"), output);
    }

    [Fact]
    public async Task nbclient_runs_every_notebook_through_the_kernel_with_the_headless_runners_mime_types()
    {
        RequireJupyter();
        var root = T.RepoRoot();
        var headless = T.TempDir();
        foreach (var f in Directory.GetFiles(Path.Combine(root, "notebooks"), "*.ipynb"))
        {
            var r = await NotebookRunner.RunAsync(f, new Dictionary<string, object>
                { ["Preset"] = "test", ["OutDir"] = Path.Combine(headless, Path.GetFileNameWithoutExtension(f)) }, headless);
            Assert.True(r.Succeeded, r.Error?.Located);
        }
        var (code, output) = RunPython($"\"{Path.Combine(root, "tests", "kernel", "notebooks.py")}\" \"{Path.Combine(root, "notebooks")}\" \"{headless}\"", InstallKernel(), 600);
        Assert.True(code == 0 && output.Contains("KERNEL NOTEBOOKS OK"), output);
    }

    [Fact]
    public void Kernelspec_points_at_this_cli_with_message_interrupts()
    {
        var dir = KernelSpec.Install(T.TempDir(), ["dotnet", "/x/papers.dll", "kernel", "run", "--connection-file", "{connection_file}"]);
        var json = File.ReadAllText(Path.Combine(dir, "kernel.json"));
        Assert.Contains("\"interrupt_mode\": \"message\"", json);
        Assert.Contains("{connection_file}", json);
        Assert.EndsWith(Path.Combine("share", "jupyter", "kernels", KernelSpec.Name), dir);
    }

    [Fact]
    public void Wire_signs_and_rejects_tampered_messages()
    {
        var w = new Wire("secret", "s1");
        var frames = w.Frames("execute_request", new System.Text.Json.Nodes.JsonObject { ["code"] = "1" }, null, [new byte[] { 1, 2 }]);
        Assert.NotNull(w.Parse(frames, out _));
        Assert.Null(new Wire("other", "s2").Parse(frames, out var problem));
        Assert.Contains("bad signature", problem);
        frames[^1] = System.Text.Encoding.UTF8.GetBytes("{\"code\":\"2\"}");     // content changed after signing
        Assert.Null(w.Parse(frames, out _));
    }

    [Fact]
    public void Interrupt_checks_are_inserted_without_moving_lines()
    {
        var code = "for (int i = 0; i < 3; i++)\n    Console.WriteLine(i);\nwhile (true) { break; }\nvar bad = undefined;";
        var rewritten = InterruptChecks.Insert(code);
        Assert.Equal(code.Split('\n').Length, rewritten.Split('\n').Length);
        Assert.Equal(2, rewritten.Split("Interrupt.Check()").Length - 1);
        Assert.EndsWith("var bad = undefined;", rewritten);
    }
}
