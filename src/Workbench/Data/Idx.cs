using System.Buffers.Binary;
using System.IO.Compression;

namespace Workbench.Data;

/// <summary>An IDX file's content: dimensions and raw unsigned bytes (row-major).</summary>
public sealed record IdxData(int[] Dims, byte[] Bytes)
{
    public int Count => Dims[0];
    public int ItemSize => Dims.Skip(1).Aggregate(1, (a, b) => a * b);
}

/// <summary>A malformed IDX file: the message names the file, what is wrong and what to do.</summary>
public sealed class IdxFormatException(string message) : IOException(message);

/// <summary>
/// Reader for the IDX format of (Fashion-)MNIST: big-endian header <c>00 00 08 ndim</c> (0x08 = unsigned byte),
/// then ndim 32-bit big-endian sizes, then the data. Gzip is detected by its magic bytes (1f 8b).
/// </summary>
public static class Idx
{
    public const int ImagesMagic = 0x00000803; // ubyte, 3 dims
    public const int LabelsMagic = 0x00000801; // ubyte, 1 dim

    public static IdxData Read(string path, int? expectMagic = null, int? limit = null)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file not found: {path}.", path);
        using var raw = File.OpenRead(path);
        Stream s = raw;
        var b0 = raw.ReadByte(); var b1 = raw.ReadByte();
        raw.Position = 0;
        if (b0 == 0x1f && b1 == 0x8b) s = new GZipStream(raw, CompressionMode.Decompress);
        try
        {
            return ReadStream(s, path, expectMagic, limit);
        }
        catch (InvalidDataException e)
        {
            throw new IdxFormatException($"{path}: corrupt gzip stream ({e.Message}). Reinstall the data package or re-download the file.");
        }
        finally
        {
            if (!ReferenceEquals(s, raw)) s.Dispose();
        }
    }

    static IdxData ReadStream(Stream s, string path, int? expectMagic, int? limit)
    {
        Span<byte> head = stackalloc byte[4];
        if (ReadFully(s, head) < 4) throw new IdxFormatException($"{path}: file too short for an IDX header (needs at least 4 bytes).");
        int magic = BinaryPrimitives.ReadInt32BigEndian(head);
        if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] is < 1 or > 4)
            throw new IdxFormatException($"{path}: wrong magic number 0x{magic:X8}; an unsigned-byte IDX file starts with 0x0000080N (N = number of dimensions). Is this the right file?");
        if (expectMagic is int em && magic != em)
            throw new IdxFormatException($"{path}: magic 0x{magic:X8} but 0x{em:X8} was expected ({(em == ImagesMagic ? "images" : "labels")}). Were images and labels swapped?");
        int ndim = head[3];
        var dims = new int[ndim];
        Span<byte> d = stackalloc byte[4];
        for (int i = 0; i < ndim; i++)
        {
            if (ReadFully(s, d) < 4) throw new IdxFormatException($"{path}: truncated header (dimension {i} of {ndim} missing).");
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(d);
            if (dims[i] < 0) throw new IdxFormatException($"{path}: negative size {dims[i]} in dimension {i}.");
        }
        long item = 1;
        for (int i = 1; i < ndim; i++) item *= dims[i];
        int count = limit is int l ? Math.Min(l, dims[0]) : dims[0];
        long want = item * count;
        if (want > int.MaxValue) throw new IdxFormatException($"{path}: {want} bytes is too large to read at once; pass a limit.");
        var bytes = new byte[want];
        int got = ReadFully(s, bytes);
        if (got < want)
            throw new IdxFormatException($"{path}: truncated: header promises {dims[0]} items of {item} bytes, but the data ends after {got} of the {want} bytes read. Reinstall the data package or re-download the file.");
        dims[0] = count;
        return new IdxData(dims, bytes);
    }

    static int ReadFully(Stream s, Span<byte> buf)
    {
        int total = 0;
        while (total < buf.Length)
        {
            int n = s.Read(buf[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    /// <summary>Writes an unsigned-byte IDX file (gzip if the name ends in .gz). Used for test fixtures.</summary>
    public static void Write(string path, int[] dims, byte[] bytes)
    {
        using var fs = File.Create(path);
        using Stream s = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(fs, CompressionLevel.Fastest) : fs;
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, 0x0800 | dims.Length); s.Write(b);
        foreach (var dim in dims) { BinaryPrimitives.WriteInt32BigEndian(b, dim); s.Write(b); }
        s.Write(bytes);
    }
}
