using System.Text.Json;
using System.Text.Json.Nodes;

namespace Workbench.Notebooks;

/// <summary>One cell of an .ipynb (nbformat 4). Unknown metadata is kept as it was read.</summary>
public sealed class NotebookCell
{
    public string CellType { get; set; } = "code";
    public string Source { get; set; } = "";
    public string? Id { get; set; }
    public JsonObject Metadata { get; set; } = new();
    public JsonArray Outputs { get; set; } = new();
    public int? ExecutionCount { get; set; }

    public bool IsCode => CellType == "code";
    public IEnumerable<string> Tags => Metadata["tags"] is JsonArray a ? a.Select(t => t?.GetValue<string>() ?? "") : [];
    public bool HasTag(string tag) => Tags.Contains(tag);

    /// <summary>A C# code cell with the metadata VS Code / Polyglot use for C# notebooks.</summary>
    public static NotebookCell Code(string source, params string[] tags)
    {
        var c = new NotebookCell { CellType = "code", Source = source, Id = NewId() };
        c.Metadata["dotnet_interactive"] = new JsonObject { ["language"] = "csharp" };
        c.Metadata["polyglot_notebook"] = new JsonObject { ["kernelName"] = "csharp" };
        if (tags.Length > 0) c.Metadata["tags"] = new JsonArray(tags.Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
        return c;
    }

    public static NotebookCell Markdown(string source) => new() { CellType = "markdown", Source = source, Id = NewId() };

    internal static string NewId() => Guid.NewGuid().ToString("N")[..8];
}

/// <summary>
/// An .ipynb document (nbformat 4.5): read, edit, write. Sources are written as lists of lines, as Jupyter does;
/// the kernelspec is the C# one VS Code recognises (<c>.net-csharp</c>).
/// </summary>
public sealed class NotebookDocument
{
    public List<NotebookCell> Cells { get; } = [];
    public JsonObject Metadata { get; set; } = DefaultMetadata();

    public static JsonObject DefaultMetadata() => new()
    {
        ["kernelspec"] = new JsonObject { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = ".net-csharp" },
        ["language_info"] = new JsonObject { ["name"] = "polyglot-notebook", ["file_extension"] = ".cs", ["mimetype"] = "text/x-csharp", ["pygments_lexer"] = "csharp" },
        ["polyglot_notebook"] = new JsonObject { ["kernelInfo"] = new JsonObject { ["defaultKernelName"] = "csharp", ["items"] = new JsonArray(new JsonObject { ["name"] = "csharp", ["languageName"] = "C#" }) } },
    };

    public static NotebookDocument Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Notebook not found: {path}.", path);
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON (line {e.LineNumber + 1}): {e.Message}"); }
        return Parse(root, path);
    }

    public static NotebookDocument Parse(JsonNode? root, string name = "notebook")
    {
        if (root is not JsonObject o || o["cells"] is not JsonArray cells)
            throw new InvalidDataException($"{name} is not a Jupyter notebook: no top-level \"cells\" array.");
        var major = o["nbformat"]?.GetValue<int>() ?? 0;
        if (major != 4) throw new InvalidDataException($"{name}: nbformat {major} is not supported; save it as nbformat 4.");
        var doc = new NotebookDocument { Metadata = o["metadata"] as JsonObject is { } m ? (JsonObject)m.DeepClone() : DefaultMetadata() };
        int i = 0;
        foreach (var n in cells)
        {
            if (n is not JsonObject c) throw new InvalidDataException($"{name}: cell {i} is not an object.");
            doc.Cells.Add(new NotebookCell
            {
                CellType = c["cell_type"]?.GetValue<string>() ?? throw new InvalidDataException($"{name}: cell {i} has no cell_type."),
                Source = TextOf(c["source"]),
                Id = c["id"]?.GetValue<string>(),
                Metadata = c["metadata"] is JsonObject cm ? (JsonObject)cm.DeepClone() : new JsonObject(),
                Outputs = c["outputs"] is JsonArray oa ? (JsonArray)oa.DeepClone() : new JsonArray(),
                ExecutionCount = c["execution_count"] is JsonValue v && v.TryGetValue<int>(out var ec) ? ec : null,
            });
            i++;
        }
        return doc;
    }

    /// <summary>A multiline string of nbformat: either one string or a list of lines.</summary>
    public static string TextOf(JsonNode? s) => s switch
    {
        null => "",
        JsonArray a => string.Concat(a.Select(x => x?.GetValue<string>() ?? "")),
        _ => s.GetValue<string>(),
    };

    /// <summary>Splits text into Jupyter's list-of-lines form (every line but the last keeps its "\n").</summary>
    public static JsonArray Lines(string text)
    {
        var arr = new JsonArray();
        int start = 0;
        for (int i = 0; i < text.Length; i++)
            if (text[i] == '\n') { arr.Add(text[start..(i + 1)]); start = i + 1; }
        if (start < text.Length) arr.Add(text[start..]);
        return arr;
    }

    public JsonObject ToJson()
    {
        var cells = new JsonArray();
        foreach (var c in Cells)
        {
            var o = new JsonObject { ["cell_type"] = c.CellType, ["id"] = c.Id ?? NotebookCell.NewId(), ["metadata"] = c.Metadata.DeepClone(), ["source"] = Lines(c.Source) };
            if (c.IsCode)
            {
                o["execution_count"] = c.ExecutionCount;
                o["outputs"] = c.Outputs.DeepClone();
            }
            cells.Add(o);
        }
        return new JsonObject { ["cells"] = cells, ["metadata"] = Metadata.DeepClone(), ["nbformat"] = 4, ["nbformat_minor"] = 5 };
    }

    static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        // Keep '<', '>', '+' and non-ASCII readable in the file (it is JSON, not HTML embedded in a page).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJsonString() => ToJson().ToJsonString(WriteOptions) + "\n";

    public void Save(string path) => Runtime.AtomicFile.WriteAllText(path, ToJsonString());
}
