using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using TorchSharp;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Lm;

/// <summary>
/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of UTF-8 JSON
/// <c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}</c> padded with spaces
/// to a multiple of 8 (offsets count from the first byte after the header), then the raw little-endian data.
/// Dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.
/// </summary>
public static class Safetensors
{
    static readonly (string Name, ScalarType Type)[] Dtypes =
    [
        ("F64", ScalarType.Float64), ("F32", ScalarType.Float32), ("F16", ScalarType.Float16), ("BF16", ScalarType.BFloat16),
        ("I64", ScalarType.Int64), ("I32", ScalarType.Int32), ("I16", ScalarType.Int16), ("I8", ScalarType.Int8),
        ("U8", ScalarType.Byte), ("BOOL", ScalarType.Bool),
    ];

    static string DtypeName(ScalarType t, string key) =>
        Dtypes.FirstOrDefault(d => d.Type == t).Name ?? throw new ArgumentException($"Safetensors: tensor '{key}' has unsupported dtype {t}.");

    /// <summary>Writes the tensors (any device; copied to the CPU) atomically: a temporary file, then a rename.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Safetensors: big-endian hosts are not supported.");
        using var scope = torch.NewDisposeScope();
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var cpu = names.Select(k => tensors[k].detach().cpu().contiguous()).ToList();

        using var header = new MemoryStream();
        using (var w = new Utf8JsonWriter(header))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            for (int i = 0; i < names.Count; i++)
            {
                if (names[i] == "__metadata__") throw new ArgumentException("Safetensors: '__metadata__' is reserved.");
                var t = cpu[i];
                long size = t.NumberOfElements * t.ElementSize;
                w.WriteStartObject(names[i]);
                w.WriteString("dtype", DtypeName(t.dtype, names[i]));
                w.WriteStartArray("shape"); foreach (var s in t.shape) w.WriteNumberValue(s); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(offset); w.WriteNumberValue(offset + size); w.WriteEndArray();
                w.WriteEndObject();
                offset += size;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - header.Length % 8) % 8);
        for (int i = 0; i < pad; i++) header.WriteByte((byte)' ');

        AtomicFile.Write(path, s =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            s.Write(len);
            header.Position = 0; header.CopyTo(s);
            foreach (var t in cpu) if (t.NumberOfElements > 0) s.Write(Bytes(t));
        });
    }

    static Span<byte> Bytes(Tensor t)
    {
        if (t.NumberOfElements * t.ElementSize > int.MaxValue) throw new ArgumentException("Safetensors: tensors over 2 GiB are not supported.");
        return t.bytes;
    }

    /// <summary>Reads every tensor (on the CPU; the caller disposes). Truncated files and bad headers throw
    /// <see cref="InvalidDataException"/> naming the file.</summary>
    public static Dictionary<string, Tensor> Load(string path) => Read(path, loadTensors: true).Tensors;

    /// <summary>The <c>__metadata__</c> map (empty when absent), without reading the data.</summary>
    public static Dictionary<string, string> ReadMetadata(string path) => Read(path, loadTensors: false).Metadata;

    static (Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) Read(string path, bool loadTensors)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Safetensors: big-endian hosts are not supported.");
        InvalidDataException Bad(string why) => new($"Safetensors file '{path}': {why}");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long fileLen = fs.Length;
        if (fileLen < 8) throw Bad($"truncated: {fileLen} bytes, shorter than the 8-byte header length.");
        Span<byte> lenBytes = stackalloc byte[8];
        fs.ReadExactly(lenBytes);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (n > (ulong)(fileLen - 8)) throw Bad($"truncated or not safetensors: header length {n} exceeds the {fileLen - 8} bytes after it.");
        if (n > 100_000_000) throw Bad($"header length {n} is implausibly large.");
        var headerBytes = new byte[n];
        fs.ReadExactly(headerBytes);
        long dataStart = 8 + (long)n, dataLen = fileLen - dataStart;

        var entries = new List<(string Name, ScalarType Type, long[] Shape, long Begin, long End)>();
        var meta = new Dictionary<string, string>();
        try
        {
            using var doc = JsonDocument.Parse(headerBytes);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad("the header is not a JSON object.");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    foreach (var m in prop.Value.EnumerateObject()) meta[m.Name] = m.Value.GetString() ?? "";
                    continue;
                }
                var e = prop.Value;
                var dt = e.GetProperty("dtype").GetString();
                var type = Dtypes.FirstOrDefault(d => d.Name == dt);
                if (type.Name is null) throw Bad($"tensor '{prop.Name}' has unsupported dtype '{dt}'.");
                var shape = e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                var off = e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                if (off.Length != 2 || off[0] < 0 || off[1] < off[0]) throw Bad($"tensor '{prop.Name}' has bad data_offsets [{string.Join(",", off)}].");
                long elem = type.Type switch { ScalarType.Float64 or ScalarType.Int64 => 8, ScalarType.Float32 or ScalarType.Int32 => 4,
                    ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2, _ => 1 };
                long expect = shape.Aggregate(1L, (a, s) => a * s) * elem;
                if (off[1] - off[0] != expect)
                    throw Bad($"tensor '{prop.Name}' ({dt} [{string.Join(",", shape)}]) needs {expect} bytes but data_offsets span {off[1] - off[0]}.");
                if (off[1] > dataLen)
                    throw Bad($"truncated: tensor '{prop.Name}' ends at data byte {off[1]} but only {dataLen} data bytes follow the header.");
                entries.Add((prop.Name, type.Type, shape, off[0], off[1]));
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw Bad($"bad header ({ex.Message}).");
        }

        var result = new Dictionary<string, Tensor>();
        if (!loadTensors) return (result, meta);
        try
        {
            foreach (var (name, type, shape, begin, end) in entries)
            {
                var t = torch.empty(shape, dtype: type, device: torch.CPU).DetachFromDisposeScope();
                result[name] = t;
                if (end == begin) continue;
                if (end - begin > int.MaxValue) throw Bad($"tensor '{name}' is over 2 GiB (not supported).");
                fs.Position = dataStart + begin;
                fs.ReadExactly(t.bytes);
            }
        }
        catch (EndOfStreamException)
        {
            foreach (var t in result.Values) t.Dispose();
            throw Bad("truncated: the data ends early.");
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return (result, meta);
    }

    /// <summary>Saves <c>module.state_dict()</c> (parameters and persistent buffers).</summary>
    public static void SaveModule(string path, nn.Module module, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(path, module.state_dict(), metadata);

    /// <summary>Copies a saved state dict into <paramref name="module"/> (converting dtype and device). Throws
    /// <see cref="InvalidDataException"/> listing missing keys, unexpected keys and shape mismatches, copying nothing.</summary>
    public static void LoadModule(string path, nn.Module module)
    {
        var loaded = Load(path);
        try
        {
            var target = module.state_dict();
            var missing = target.Keys.Where(k => !loaded.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
            var unexpected = loaded.Keys.Where(k => !target.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
            var shapes = target.Keys.Where(loaded.ContainsKey).Where(k => !target[k].shape.SequenceEqual(loaded[k].shape))
                .Select(k => $"{k}: file [{string.Join(",", loaded[k].shape)}] vs module [{string.Join(",", target[k].shape)}]").ToList();
            if (missing.Count + unexpected.Count + shapes.Count > 0)
            {
                var sb = new StringBuilder($"Safetensors file '{path}' does not match the module:");
                if (missing.Count > 0) sb.Append($" missing keys: {string.Join(", ", missing)};");
                if (unexpected.Count > 0) sb.Append($" unexpected keys: {string.Join(", ", unexpected)};");
                if (shapes.Count > 0) sb.Append($" shape mismatches: {string.Join("; ", shapes)};");
                throw new InvalidDataException(sb.ToString().TrimEnd(';') + ".");
            }
            using var noGrad = torch.no_grad();
            foreach (var (k, t) in target) t.copy_(loaded[k]);
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }
}

/// <summary>Training records in cached checkpoints: the steps actually done (a run under a time budget may have cut them),
/// so a later load reports the truth, and the rule for reusing a cut one.</summary>
public static class TrainedCheckpoint
{
    /// <summary>Metadata for a checkpoint: what it is, steps done and requested, and any extra fields. A checkpoint with fewer
    /// steps than requested, or one its trainer marks <paramref name="cut"/> otherwise (a smaller data pool), carries this
    /// run's id, so only this run reuses it (<see cref="SameRun"/>).</summary>
    public static Dictionary<string, string> Metadata(string what, int steps, int requested, IEnumerable<KeyValuePair<string, string>>? extra = null, bool cut = false)
    {
        var m = new Dictionary<string, string>
        {
            ["what"] = what,
            ["steps"] = steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["requested_steps"] = requested.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if ((cut || steps < requested) && Deadline.RunId is { } id) m["run_id"] = id;       // a cut one is reused only within its run
        foreach (var (k, v) in extra ?? []) m[k] = v;
        return m;
    }

    /// <summary>Whether a checkpoint trained for <paramref name="steps"/> of <paramref name="requested"/> may be reused: a full
    /// one always; one cut by a time budget only by the same budgeted run (the next paper of the same device call, same
    /// <see cref="Deadline.RunId"/>). A run without a deadline, or a later run, trains the full count again.</summary>
    public static bool Reusable(IReadOnlyDictionary<string, string> meta, int steps, int requested) => steps >= requested || SameRun(meta);

    /// <summary>True when the checkpoint was written by this budgeted run (a deadline is set and the run ids match).</summary>
    public static bool SameRun(IReadOnlyDictionary<string, string> meta) =>
        Deadline.At is not null && Deadline.RunId is { } id && meta.TryGetValue("run_id", out var r) && r == id;

    /// <summary>The steps a cached checkpoint was trained for (<paramref name="requested"/> for checkpoints written before the
    /// count was recorded), whether to use it (<see cref="Reusable"/>), and its metadata.</summary>
    public static (int Steps, bool Use, Dictionary<string, string> Metadata) Read(string path, int requested)
    {
        var meta = Safetensors.ReadMetadata(path);
        int steps = meta.TryGetValue("steps", out var s) && int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : requested;
        return (steps, Reusable(meta, steps, requested), meta);
    }
}
