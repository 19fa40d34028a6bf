using System.Text.Json.Nodes;

namespace Workbench.Kernel;

/// <summary>Writes the Papers kernelspec (kernel.json) so Jupyter, VS Code and nbclient can start the kernel.</summary>
public static class KernelSpec
{
    public const string Name = "papers-csharp";

    /// <summary>The folder kernelspecs live in: PREFIX/share/jupyter/kernels, or the user's ~/.local/share/jupyter/kernels.</summary>
    public static string KernelsDir(string? prefix)
    {
        if (prefix is not null) return Path.Combine(Path.GetFullPath(prefix), "share", "jupyter", "kernels");
        var data = Environment.GetEnvironmentVariable("JUPYTER_DATA_DIR");
        if (!string.IsNullOrEmpty(data)) return Path.Combine(data, "kernels");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".local", "share", "jupyter", "kernels");
    }

    /// <summary>The command that starts this kernel: the running dotnet host and papers.dll (or the papers app host).</summary>
    public static string[] Argv(string? cliPath = null)
    {
        var process = Environment.ProcessPath ?? "dotnet";
        cliPath ??= Path.Combine(AppContext.BaseDirectory, "papers.dll");
        var isDotnet = Path.GetFileNameWithoutExtension(process).Equals("dotnet", StringComparison.OrdinalIgnoreCase);
        return isDotnet ? [process, cliPath, "kernel", "run", "--connection-file", "{connection_file}"]
                        : [process, "kernel", "run", "--connection-file", "{connection_file}"];
    }

    /// <summary>Writes kernel.json; returns the kernelspec folder.</summary>
    public static string Install(string? prefix = null, string[]? argv = null)
    {
        var dir = Path.Combine(KernelsDir(prefix), Name);
        Directory.CreateDirectory(dir);
        var spec = new JsonObject
        {
            ["argv"] = new JsonArray((argv ?? Argv()).Select(a => (JsonNode)JsonValue.Create(a)!).ToArray()),
            ["display_name"] = "Papers (C#)",
            ["language"] = "C#",
            ["interrupt_mode"] = "message",
            ["metadata"] = new JsonObject { ["debugger"] = false },
        };
        Workbench.Runtime.AtomicFile.WriteAllText(Path.Combine(dir, "kernel.json"), spec.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return dir;
    }
}
