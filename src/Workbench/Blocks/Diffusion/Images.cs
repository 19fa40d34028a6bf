using System.IO.Compression;
using System.Net;
using System.Text;
using Workbench.Blocks.Diffusion.HighRes;

namespace Workbench.Blocks.Diffusion;

/// <summary>A grid of labelled colour images as self-contained HTML (PNG data URIs, nearest-neighbour upscaling) — Plotly's
/// image grid is grey-only. Notebooks display it through <c>DiffusionFormatters</c>; reports embed <see cref="Html"/>.</summary>
public sealed record ImageGrid(string Title, string Html);

public static class Images
{
    /// <summary>PNG bytes of an RGB image in [−1, 1], each pixel drawn as zoom×zoom.</summary>
    public static byte[] Png(Img im, int zoom = 1)
    {
        int W = im.W * zoom, H = im.H * zoom, plane = im.H * im.W;
        var raw = new byte[H * (1 + 3 * W)];
        for (int y = 0; y < H; y++)
        {
            int row = y * (1 + 3 * W);
            for (int x = 0; x < W; x++)
            {
                int i = (y / zoom) * im.W + x / zoom;
                for (int c = 0; c < 3; c++)
                    raw[row + 1 + 3 * x + c] = (byte)Math.Clamp((int)Math.Round((im.Data[c * plane + i] + 1) * 127.5), 0, 255);
            }
        }
        using var ms = new MemoryStream();
        ms.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var ihdr = new byte[13];
        WriteBe(ihdr, 0, W); WriteBe(ihdr, 4, H); ihdr[8] = 8; ihdr[9] = 2;
        Chunk(ms, "IHDR", ihdr);
        using (var z = new MemoryStream())
        {
            using (var zs = new ZLibStream(z, CompressionLevel.Optimal, leaveOpen: true)) zs.Write(raw);
            Chunk(ms, "IDAT", z.ToArray());
        }
        Chunk(ms, "IEND", []);
        return ms.ToArray();
    }

    /// <summary>A heat map (values scaled to [0,1] by their range) as a grey image, for masks and maps.</summary>
    public static Img Grey(double[,] v)
    {
        int H = v.GetLength(0), W = v.GetLength(1);
        double lo = double.MaxValue, hi = double.MinValue;
        foreach (var x in v) { lo = Math.Min(lo, x); hi = Math.Max(hi, x); }
        var d = new float[3 * H * W];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                float g = (float)(hi > lo ? 2 * (v[y, x] - lo) / (hi - lo) - 1 : -1);
                d[y * W + x] = g; d[H * W + y * W + x] = g; d[2 * H * W + y * W + x] = g;
            }
        return new Img(H, W, d);
    }

    /// <summary>Labelled images in rows of <paramref name="cols"/>, each shown at about <paramref name="px"/> pixels wide.</summary>
    public static ImageGrid Grid(string title, IEnumerable<(string Label, Img Image)> items, int cols = 6, int px = 128)
    {
        var sb = new StringBuilder();
        sb.Append($"<div class=\"imggrid\"><div style=\"font-weight:bold;margin:4px 0\">{WebUtility.HtmlEncode(title)}</div>");
        sb.Append($"<div style=\"display:grid;grid-template-columns:repeat({cols}, max-content);gap:6px\">");
        foreach (var (label, im) in items)
        {
            int zoom = Math.Max(1, px / Math.Max(im.W, 1));
            var b64 = Convert.ToBase64String(Png(im, zoom));
            sb.Append($"<figure style=\"margin:0\"><img src=\"data:image/png;base64,{b64}\" style=\"image-rendering:pixelated;width:{px}px\"/>" +
                      $"<figcaption style=\"font-size:11px;max-width:{px}px\">{WebUtility.HtmlEncode(label)}</figcaption></figure>");
        }
        sb.Append("</div></div>");
        return new ImageGrid(title, sb.ToString());
    }

    static void WriteBe(byte[] b, int o, int v) { b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v; }

    static void Chunk(Stream s, string type, byte[] data)
    {
        var len = new byte[4]; WriteBe(len, 0, data.Length); s.Write(len);
        var td = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        s.Write(td);
        var crc = new byte[4]; WriteBe(crc, 0, (int)Crc(td)); s.Write(crc);
    }

    static uint Crc(byte[] d)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in d)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }
}
