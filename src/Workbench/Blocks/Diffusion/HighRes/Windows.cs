using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion.HighRes;

/// <summary>A square window: top-left (Y, X) in canvas coordinates (negative or past the border by at most the jitter
/// range once jittered) and side Size.</summary>
public readonly record struct Window(int Y, int X, int Size);

/// <summary>MultiDiffusion's window layout and DemoFusion's random jitter.</summary>
public static class Windows
{
    /// <summary>Start positions along one axis: 0, stride, 2·stride, …, with the last window flush with the border
    /// (count = ⌈(n − size)/stride⌉ + 1; 2k − 1 for n = k·size, stride = size/2).</summary>
    public static int[] Starts(int n, int size, int stride)
    {
        if (size > n) throw new ArgumentException($"window {size} larger than the canvas {n}.");
        int count = (n - size + stride - 1) / stride + 1;
        return Enumerable.Range(0, count).Select(i => Math.Min(i * stride, n - size)).ToArray();
    }

    /// <summary>Every window of side <paramref name="size"/> on an H×W canvas, row-major.</summary>
    public static Window[] Grid(int H, int W, int size, int stride) =>
        Starts(H, size, stride).SelectMany(y => Starts(W, size, stride).Select(x => new Window(y, x, size))).ToArray();

    /// <summary>DemoFusion's jitter: range J = (size − stride)/4; interior windows move by U{−J..J} per axis, a window touching
    /// only the left/top border by U{−J..0}, only the right/bottom by U{0..J} (outward into a J-wide zero padding), a
    /// window spanning the whole axis not at all.</summary>
    public static Window[] Jitter(Window[] ws, int H, int W, int J, Random rng) => ws.Select(w =>
        new Window(w.Y + Shift(w.Y, w.Size, H, J, rng), w.X + Shift(w.X, w.Size, W, J, rng), w.Size)).ToArray();

    static int Shift(int start, int size, int n, int J, Random rng)
    {
        bool lo = start == 0, hi = start + size == n;
        if (J == 0 || (lo && hi)) return 0;
        if (lo) return -rng.Next(J + 1);
        if (hi) return rng.Next(J + 1);
        return rng.Next(-J, J + 1);
    }

    /// <summary>How many windows cover each canvas pixel [H, W] (cells outside the canvas ignored).</summary>
    public static int[,] Coverage(IEnumerable<Window> ws, int H, int W)
    {
        var c = new int[H, W];
        foreach (var w in ws)
            for (int y = Math.Max(0, w.Y); y < Math.Min(H, w.Y + w.Size); y++)
                for (int x = Math.Max(0, w.X); x < Math.Min(W, w.X + w.Size); x++) c[y, x]++;
        return c;
    }

    /// <summary>Crops the windows from a canvas z [1,C,H,W] zero-padded by <paramref name="pad"/> → [n, C, size, size].</summary>
    public static Tensor Crop(Tensor z, Window[] ws, int pad)
    {
        var zp = pad > 0 ? nn.functional.pad(z, [pad, pad, pad, pad]) : z;
        return torch.cat(ws.Select(w => zp[.., .., (w.Y + pad)..(w.Y + pad + w.Size), (w.X + pad)..(w.X + pad + w.Size)]).ToArray(), 0);
    }

    /// <summary>Averages window values [n, C, size, size] back onto an H×W canvas (padded by <paramref name="pad"/>): returns
    /// the sum divided by the overlap count where covered and <paramref name="fallback"/> (or 0) where no window reached,
    /// plus the count [1,1,H,W].</summary>
    public static (Tensor Canvas, Tensor Count) Average(Tensor values, Window[] ws, int H, int W, int pad, Tensor? fallback = null)
    {
        long C = values.shape[1];
        var sum = torch.zeros(1, C, H + 2 * pad, W + 2 * pad, device: values.device, dtype: values.dtype);
        var cnt = torch.zeros(1, 1, H + 2 * pad, W + 2 * pad, device: values.device, dtype: values.dtype);
        for (int i = 0; i < ws.Length; i++)
        {
            var w = ws[i];
            var ry = (w.Y + pad)..(w.Y + pad + w.Size); var rx = (w.X + pad)..(w.X + pad + w.Size);
            sum[.., .., ry, rx].add_(values[i..(i + 1)]);
            cnt[.., .., ry, rx].add_(1);
        }
        sum = sum[.., .., pad..(pad + H), pad..(pad + W)];
        cnt = cnt[.., .., pad..(pad + H), pad..(pad + W)];
        var avg = sum / cnt.clamp_min(1);
        var covered = cnt > 0;
        return (torch.where(covered, avg, fallback ?? torch.zeros_like(avg)), cnt);
    }
}

/// <summary>
/// Pixel / window interaction (CutDiffusion phase 1, AccDiffusion's shuffle): for every element (channel, y, x) an
/// independent random permutation of the K samples. <c>perm[k, c, y, x]</c> = which sample lands in slot k.
/// </summary>
public static class Interaction
{
    /// <summary>A per-element permutation [K, C, h, w] of 0..K−1 (argsort of uniform noise along dim 0).</summary>
    public static Tensor Permutation(long K, long C, long h, long w, Generator? g = null) =>
        torch.rand(new[] { K, C, h, w }, generator: g).argsort(0);

    /// <summary>Slot k at (c,y,x) takes sample perm[k,c,y,x].</summary>
    public static Tensor Apply(Tensor samples, Tensor perm) => samples.gather(0, perm.to(samples.device));

    /// <summary>The inverse: out[perm[k]] = permuted[k] (puts predicted noise back on its own sample).</summary>
    public static Tensor Invert(Tensor permuted, Tensor perm) => torch.zeros_like(permuted).scatter(0, perm.to(permuted.device), permuted);
}
