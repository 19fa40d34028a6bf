using System.Diagnostics;
using TorchSharp;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion.HighRes;

/// <summary>Shared sampler settings: N DDIM steps (η, x̂0 clipping), CFG scale of the whole-canvas / global branch
/// (<c>Guidance</c>) and of the local windows (<c>LocalGuidance</c>, the repos' multi_guidance), UNet batch of views.</summary>
public sealed record SamplerSettings(int Steps = 50, double Guidance = 4, double LocalGuidance = 4, int ViewBatch = 16, double Eta = 0, bool Clip = true);

/// <summary>An image [3, H, W] in [−1, 1] as a CPU array.</summary>
public sealed record Img(int H, int W, float[] Data)
{
    public static Img Of(Tensor t)
    {
        using var _ = torch.NewDisposeScope();
        var x = t.dim() == 4 ? t[0] : t;
        return new Img((int)x.shape[1], (int)x.shape[2], x.detach().cpu().to(float32).contiguous().data<float>().ToArray());
    }
    public Tensor ToTensor() => torch.tensor(Data, [1, 3, H, W]);
}

/// <summary>What every high-resolution sampler returns: the final image, exact evaluations, time and peak GPU memory
/// (null on CPU: TorchSharp 0.107 has no allocator statistics; on CUDA the NVML sampler of <see cref="GpuMemory"/>).</summary>
public record HighResOutput(string Method, int Scale, Img Image, EvalCount Evals, double Seconds, long? PeakBytes, string PeakSource);

/// <summary>MultiDiffusion's extra: overlap counts and windows of the first step.</summary>
public sealed record MultiDiffusionOutput(string Method, int Scale, Img Image, EvalCount Evals, double Seconds, long? PeakBytes, string PeakSource,
    Window[] FirstWindows, int[,] FirstCoverage) : HighResOutput(Method, Scale, Image, Evals, Seconds, PeakBytes, PeakSource);

/// <summary>The strided-pixel lattice shared by CutDiffusion's relocation and DemoFusion's dilated sampling: canvas pixel
/// (Y, X) belongs to sample (Y mod s_h)·s_w + (X mod s_w) at coordinate (Y div s_h, X div s_w).</summary>
public static class Lattice
{
    /// <summary>Canvas [1, C, s_h·h, s_w·w] → samples [s_h·s_w, C, h, w].</summary>
    public static Tensor Split(Tensor z, int sh, int sw)
    {
        long C = z.shape[1], h = z.shape[2] / sh, w = z.shape[3] / sw;
        return z.reshape(C, h, sh, w, sw).permute(2, 4, 0, 1, 3).reshape(sh * sw, C, h, w);
    }

    /// <summary>Samples [s_h·s_w, C, h, w] → canvas [1, C, s_h·h, s_w·w] (the inverse of <see cref="Split"/>).</summary>
    public static Tensor Merge(Tensor p, int sh, int sw)
    {
        long C = p.shape[1], h = p.shape[2], w = p.shape[3];
        return p.reshape(sh, sw, C, h, w).permute(2, 3, 0, 4, 1).reshape(1, C, h * sh, w * sw);
    }

    /// <summary>The owner map (sample id per canvas pixel).</summary>
    public static int[,] Owner(int H, int W, int sh, int sw)
    {
        var o = new int[H, W];
        for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) o[y, x] = (y % sh) * sw + x % sw;
        return o;
    }
}

/// <summary>Direct sampling at s·r and MultiDiffusion (overlapping windows from pure noise, full prompt), plus the shared
/// local (window) step and a timer.</summary>
public static class Samplers
{
    /// <summary>Runs <paramref name="body"/> with a CUDA-synchronised stopwatch and the NVML peak sampler.</summary>
    public static (T Value, double Seconds, long? Peak, string Source) Timed<T>(Device dev, Func<T> body)
    {
        using var peak = new GpuMemory.PeakSampler();
        if (dev.type == DeviceType.CUDA) torch.cuda.synchronize();
        var sw = Stopwatch.StartNew();
        var v = body();
        if (dev.type == DeviceType.CUDA) torch.cuda.synchronize();
        return (v, sw.Elapsed.TotalSeconds, peak.Peak, peak.Source);
    }

    static Device Dev(Denoiser d) => d.Model.parameters().First().device;

    /// <summary>Plain CFG DDIM sampling of one prompt on an H×W canvas (s = 1 is base-size sampling).</summary>
    public static Tensor Sample(Denoiser den, long[] prompt, int H, int W, SamplerSettings st, Generator g, AttnStore? store = null)
    {
        var ts = den.Schedule.Leading(st.Steps);
        var z = torch.randn(new long[] { 1, 3, H, W }, generator: g).to(Dev(den));
        using var _ = torch.no_grad();
        foreach (var t in ts)
        {
            using var scope = torch.NewDisposeScope();
            var eps = den.Eps(z, t, den.Context(prompt), st.Guidance, st.ViewBatch, store);
            var next = Ddim.Step(den.Schedule, z, eps, t, den.Schedule.Prev(t, st.Steps), st.Eta, g, st.Clip).Prev.MoveToOuterDisposeScope();
            z.Dispose(); z = next;
        }
        return z;
    }

    /// <summary>Direct inference at s·r (the failure the papers start from: repeated objects).</summary>
    public static HighResOutput Direct(Denoiser den, long[] prompt, int s, SamplerSettings st, long seed)
    {
        den.ResetCount();
        var g = Seeding.TorchGenerator(seed, "direct");
        int S = s * den.Base;
        var (img, sec, peak, src) = Timed(Dev(den), () => { using var ds = torch.NewDisposeScope(); using var z = Sample(den, prompt, S, S, st, g); return Img.Of(z); });
        return new HighResOutput("Direct", s, img, den.Count, sec, peak, src);
    }

    /// <summary>One local (window) step on canvas z [1,C,H,W]: crop the windows from the J-padded canvas, guided ε̂ per
    /// window with its own context, DDIM per window, average the overlaps. Uncovered cells take <paramref name="fallback"/>.</summary>
    public static (Tensor Prev, Tensor X0, Tensor Count) LocalStep(Denoiser den, Tensor z, int t, int tPrev, Window[] ws, Tensor ctx,
        SamplerSettings st, int pad, Generator g, Tensor? fallback = null, Tensor? fallbackX0 = null,
        Tensor? edgeCanvas = null, EdgeControlNet? control = null, double controlScale = 0)
    {
        int H = (int)z.shape[2], W = (int)z.shape[3];
        var crops = Windows.Crop(z, ws, pad);
        var edgeCrops = edgeCanvas is null || control is null ? null : Windows.Crop(edgeCanvas, ws, pad);   // same windows, zero padding
        var eps = den.Eps(crops, t, ctx, st.LocalGuidance, st.ViewBatch, null, control, edgeCrops, controlScale);
        var o = Ddim.Step(den.Schedule, crops, eps, t, tPrev, st.Eta, g, st.Clip);
        var (prev, cnt) = Windows.Average(o.Prev, ws, H, W, pad, fallback);
        var (x0, _) = Windows.Average(o.X0, ws, H, W, pad, fallbackX0);
        return (prev, x0, cnt);
    }

    /// <summary>MultiDiffusion's count of model evaluations (stride r/2): N·(2s − 1)².</summary>
    public static long MultiDiffusionEvaluations(int n, int s) => (long)n * (2 * s - 1) * (2 * s - 1);

    /// <summary>MultiDiffusion at s·r from pure noise: windows r×r, stride r/2, jitter J = (r − stride)/4 re-drawn each step
    /// (DemoFusion's local branch without the skip residual and global branch), full prompt.</summary>
    public static MultiDiffusionOutput MultiDiffusion(Denoiser den, long[] prompt, int s, SamplerSettings st, long seed, bool jitter = true)
    {
        den.ResetCount();
        var g = Seeding.TorchGenerator(seed, "multidiffusion");
        var rng = Seeding.Rng(seed, "multidiffusion-jitter");
        int r = den.Base, S = s * r, stride = r / 2, J = jitter ? (r - stride) / 4 : 0;
        var grid = Windows.Grid(S, S, r, stride);
        Window[] first = [];
        var ts = den.Schedule.Leading(st.Steps);
        var (img, sec, peak, src) = Timed(Dev(den), () =>
        {
            using var ds = torch.NewDisposeScope();
            var z = torch.randn(new long[] { 1, 3, S, S }, generator: g).to(Dev(den));
            using var _ = torch.no_grad();
            using var ctx = den.Context(prompt).repeat(grid.Length, 1, 1);
            foreach (var t in ts)
            {
                using var scope = torch.NewDisposeScope();
                var ws = Windows.Jitter(grid, S, S, J, rng);
                if (first.Length == 0) first = ws;
                var next = LocalStep(den, z, t, den.Schedule.Prev(t, st.Steps), ws, ctx, st, J, g).Prev.MoveToOuterDisposeScope();
                z.Dispose(); z = next;
            }
            var im = Img.Of(z); z.Dispose(); return im;
        });
        return new MultiDiffusionOutput("MultiDiffusion", s, img, den.Count, sec, peak, src, first, Windows.Coverage(first, S, S));
    }
}
