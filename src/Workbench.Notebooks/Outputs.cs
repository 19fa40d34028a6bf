using System.Text.Json.Nodes;

namespace Workbench.Notebooks;

/// <summary>Where and why a cell failed.</summary>
public sealed record CellError(int CellIndex, int Line, string Name, string Message, string Detail)
{
    /// <summary>"cell 3, line 2: CS0103: The name 'x' does not exist" (cell numbers count from 1, as shown in editors).</summary>
    public string Located => $"cell {CellIndex + 1}{(Line > 0 ? $", line {Line}" : "")}: {Name}: {Message}";
}

/// <summary>One output of a cell in Jupyter's terms: a stream, a display, an execute_result or an error.</summary>
public sealed record CellOutput(string Kind, string? StreamName = null, string? Text = null,
    IReadOnlyDictionary<string, JsonNode>? Data = null, CellError? Error = null)
{
    public static CellOutput Stream(string name, string text) => new("stream", name, text);
    public static CellOutput Display(IReadOnlyDictionary<string, JsonNode> data) => new("display_data", Data: data);
    public static CellOutput Result(IReadOnlyDictionary<string, JsonNode> data) => new("execute_result", Data: data);
    public static CellOutput Fail(CellError e) => new("error", Error: e);

    /// <summary>The nbformat 4 output object.</summary>
    public JsonObject ToJson(int? executionCount)
    {
        switch (Kind)
        {
            case "stream":
                return new JsonObject { ["output_type"] = "stream", ["name"] = StreamName, ["text"] = NotebookDocument.Lines(Text ?? "") };
            case "error":
                return new JsonObject
                {
                    ["output_type"] = "error", ["ename"] = Error!.Name, ["evalue"] = Error.Located,
                    ["traceback"] = new JsonArray(Error.Detail.Split('\n').Select(l => (JsonNode)JsonValue.Create(l)!).ToArray()),
                };
            default:
                var data = new JsonObject();
                foreach (var (mime, v) in Data!)
                    data[mime] = v is JsonValue s && s.TryGetValue<string>(out var str) && mime.StartsWith("text/", StringComparison.Ordinal)
                        ? NotebookDocument.Lines(str) : v.DeepClone();
                var o = new JsonObject { ["output_type"] = Kind, ["data"] = data, ["metadata"] = new JsonObject() };
                if (Kind == "execute_result") o["execution_count"] = executionCount;
                return o;
        }
    }
}

/// <summary>What running one cell produced.</summary>
public sealed record CellRun(int CellIndex, IReadOnlyList<CellOutput> Outputs, CellError? Error, double Seconds);
