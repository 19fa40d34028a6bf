using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Workbench.Kernel;

/// <summary>The connection file Jupyter hands a kernel: transport, ip, five ports, the signing key and scheme.</summary>
public sealed record ConnectionInfo(string Transport, string Ip, int ShellPort, int IopubPort, int StdinPort, int ControlPort, int HbPort, string Key, string SignatureScheme)
{
    public string Address(int port) => $"{Transport}://{Ip}:{port}";

    public static ConnectionInfo Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Connection file not found: {path}. Jupyter passes it as {{connection_file}}.", path);
        var o = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path} is not a JSON object.");
        int Port(string k) => o[k]?.GetValue<int>() ?? throw new InvalidDataException($"{path}: missing \"{k}\".");
        var scheme = o["signature_scheme"]?.GetValue<string>() ?? "hmac-sha256";
        if (scheme != "hmac-sha256") throw new InvalidDataException($"{path}: signature scheme {scheme} is not supported (use hmac-sha256).");
        return new ConnectionInfo(o["transport"]?.GetValue<string>() ?? "tcp", o["ip"]?.GetValue<string>() ?? "127.0.0.1",
            Port("shell_port"), Port("iopub_port"), Port("stdin_port"), Port("control_port"), Port("hb_port"),
            o["key"]?.GetValue<string>() ?? "", scheme);
    }
}

/// <summary>A Jupyter message (protocol 5.3): routing identities, header, parent header, metadata, content.</summary>
public sealed record JupyterMessage(IReadOnlyList<byte[]> Identities, JsonObject Header, JsonObject ParentHeader, JsonObject Metadata, JsonObject Content)
{
    public string Type => Header["msg_type"]?.GetValue<string>() ?? "";
}

/// <summary>
/// The wire format: identities, "&lt;IDS|MSG&gt;", HMAC-SHA256 signature (hex) of header + parent + metadata + content, the four
/// JSON frames, then buffers. Messages whose signature does not match are rejected.
/// </summary>
public sealed class Wire(string key, string session)
{
    public const string Delimiter = "<IDS|MSG>";
    public const string ProtocolVersion = "5.3";
    readonly byte[] keyBytes = Encoding.UTF8.GetBytes(key);
    public string Session { get; } = session;

    public string Sign(IEnumerable<byte[]> frames)
    {
        if (keyBytes.Length == 0) return "";
        using var h = new HMACSHA256(keyBytes);
        foreach (var f in frames) h.TransformBlock(f, 0, f.Length, null, 0);
        h.TransformFinalBlock([], 0, 0);
        return Convert.ToHexString(h.Hash!).ToLowerInvariant();
    }

    /// <summary>Parses and verifies a multipart message; returns null (and the reason) when it is malformed or badly signed.</summary>
    public JupyterMessage? Parse(IReadOnlyList<byte[]> frames, out string? problem)
    {
        problem = null;
        int d = -1;
        for (int i = 0; i < frames.Count; i++)
            if (frames[i].Length == Delimiter.Length && Encoding.ASCII.GetString(frames[i]) == Delimiter) { d = i; break; }
        if (d < 0 || frames.Count < d + 6) { problem = "malformed message (no delimiter or too few frames)"; return null; }
        var signature = Encoding.ASCII.GetString(frames[d + 1]);
        var parts = frames.Skip(d + 2).Take(4).ToArray();
        var expected = Sign(parts);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(signature), Encoding.ASCII.GetBytes(expected)))
        { problem = "bad signature: message rejected"; return null; }
        try
        {
            JsonObject Obj(byte[] b) => JsonNode.Parse(b) as JsonObject ?? new JsonObject();
            return new JupyterMessage(frames.Take(d).ToArray(), Obj(parts[0]), Obj(parts[1]), Obj(parts[2]), Obj(parts[3]));
        }
        catch (JsonException e) { problem = "malformed JSON: " + e.Message; return null; }
    }

    public JsonObject NewHeader(string msgType) => new()
    {
        ["msg_id"] = Guid.NewGuid().ToString(),
        ["session"] = Session,
        ["username"] = "papers",
        ["date"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ"),
        ["msg_type"] = msgType,
        ["version"] = ProtocolVersion,
    };

    /// <summary>The frames of a message of <paramref name="msgType"/> in reply to (or caused by) <paramref name="parent"/>.</summary>
    public List<byte[]> Frames(string msgType, JsonObject content, JupyterMessage? parent, IReadOnlyList<byte[]>? identities = null)
    {
        var header = NewHeader(msgType);
        var parts = new[]
        {
            Bytes(header), Bytes(parent?.Header ?? new JsonObject()), Bytes(new JsonObject()), Bytes(content),
        };
        var frames = new List<byte[]>();
        frames.AddRange(identities ?? []);
        frames.Add(Encoding.ASCII.GetBytes(Delimiter));
        frames.Add(Encoding.ASCII.GetBytes(Sign(parts)));
        frames.AddRange(parts);
        return frames;
    }

    static readonly JsonSerializerOptions Compact = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    static byte[] Bytes(JsonObject o) => Encoding.UTF8.GetBytes(o.ToJsonString(Compact));
}
