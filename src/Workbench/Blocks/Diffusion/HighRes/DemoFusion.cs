using TorchSharp;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion.HighRes;

/// <summary>DemoFusion's knobs (accdiffusion.md §2, code defaults): cosine scales of the skip residual (c1), of the
/// local/global fusion (c2) and of the blur (c3), blur σ, window interaction (AccDiffusion's shuffle), and switches to drop
/// a branch (ablations).</summary>
public sealed record DemoSettings(double Cs1 = 3, double Cs2 = 1, double Cs3 = 1, double Sigma = 0.8, bool Shuffle = false, bool Local = true, bool Global = true)
{
    /// <summary>AccDiffusion v2's local structure guidance: an edge ControlNet in the local branch only, scale λ, auto-Canny σ_c.</summary>
    public EdgeControlNet? Control { get; init; }
    public double ControlScale { get; init; } = 0.5;
    public double CannySigma { get; init; } = 0.3;
}

/// <summary>Per-window prompts for one scale, with windows fixed for every step of that scale (AccDiffusion step 3).</summary>
public sealed record PatchPlan(int Scale, Window[] Windows, long[][] Prompts);

/// <summary>What happened at one scale k of the upsample–diffuse loop.</summary>
public sealed record ScaleTrace(int K, int[] Timesteps, double[] C1, double[] C2, double[] C3, Img Upsampled, Img Final,
    Window[] FirstWindows, int[,] FirstCoverage, Img[] DilatedRawFirst, Img[] DilatedBlurredFirst, Img LocalFirst, Img GlobalFirst, double[] PermutationFirst, Img? Edges = null);

/// <summary>DemoFusion / AccDiffusion output: phase-1 image, one trace per scale.</summary>
public sealed record DemoFusionOutput(string Method, int Scale, Img Image, EvalCount Evals, double Seconds, long? PeakBytes, string PeakSource,
    Img Phase1, ScaleTrace[] Scales) : HighResOutput(Method, Scale, Image, Evals, Seconds, PeakBytes, PeakSource);

/// <summary>
/// DemoFusion (Du et al. 2024) as used by AccDiffusion: phase 1 at base size, then for k = 2..s: bicubic upsample, noise
/// inverse z̃_t, skip residual, local MultiDiffusion branch (optionally with per-window prompts), global dilated branch
/// (blurred input, optional per-element shuffle of the k² samples), cosine fusion, per-phase renormalisation.
/// </summary>
public static class DemoFusion
{
    static Device Dev(Denoiser d) => d.Model.parameters().First().device;

    /// <summary>DemoFusion's (and AccDiffusion's) count of model evaluations: N·[1 + Σ_{m=2..s}((2m − 1)² + m²)].</summary>
    public static long Evaluations(int n, int s) => n * (1 + Enumerable.Range(2, Math.Max(0, s - 1)).Sum(m => (long)(2 * m - 1) * (2 * m - 1) + m * m));

    /// <summary>Gaussian blur with kernel 2k − 1 and std σ (reflect padding), depthwise.</summary>
    public static Tensor Blur(Tensor z, int k, double sigma)
    {
        int ks = 2 * k - 1, half = k - 1;
        if (ks == 1 || sigma <= 0) return z.clone();
        var x = torch.arange(ks, dtype: float32, device: z.device) - half;
        var g1 = (-(x * x) / (2 * sigma * sigma)).exp();
        g1 = g1 / g1.sum();
        long C = z.shape[1];
        var kernel = g1.unsqueeze(1).matmul(g1.unsqueeze(0)).expand(C, 1, ks, ks).contiguous();
        var zp = nn.functional.pad(z, [half, half, half, half], PaddingModes.Reflect);
        return nn.functional.conv2d(zp, kernel, groups: C);
    }

    /// <summary>Phase 1: plain sampling at base size; with <paramref name="store"/> the conditional cross-attention maps of
    /// every step are accumulated.</summary>
    public static Tensor Phase1(Denoiser den, long[] prompt, SamplerSettings st, long seed, AttnStore? store = null)
    {
        var g = Seeding.TorchGenerator(seed, "phase1");
        var st1 = st with { ViewBatch = Math.Max(1, st.ViewBatch) };
        return Samplers.Sample(den, prompt, den.Base, den.Base, st1, g, store);
    }

    /// <summary>Upsample–diffuse for k = 2..s from the phase-1 result <paramref name="z1"/> [1,3,r,r].
    /// <paramref name="plans"/> gives AccDiffusion's frozen per-window prompts for scale k (null: DemoFusion's full prompt
    /// with windows re-jittered every step).</summary>
    public static (Tensor Z, ScaleTrace[] Traces) Upscale(Denoiser den, long[] prompt, Tensor z1, int s, SamplerSettings st, DemoSettings ds,
        long seed, Func<int, PatchPlan>? plans = null)
    {
        var g = Seeding.TorchGenerator(seed, "demofusion");
        var rng = Seeding.Rng(seed, "demofusion-jitter");
        var sched = den.Schedule;
        int r = den.Base, T = sched.T, stride = r / 2, J = (r - stride) / 4;
        var ts = sched.Leading(st.Steps);
        double anchorMean = z1.mean().ToDouble(), anchorStd = z1.std().ToDouble();
        var traces = new List<ScaleTrace>();
        var z = z1.clone();
        using var _ = torch.no_grad();
        // v2: edges of the finished phase (phase 1 first), carried to the next scale by bicubic resize (not clamped).
        Tensor? edges = ds.Control is null ? null : Canny.Condition(z1, ds.CannySigma).to(z1.device);
        var full = den.Context(prompt);                      // owned by the denoiser's cache
        for (int k = 2; k <= s; k++)
        {
            int S = k * r;
            var zUp = nn.functional.interpolate(z, [S, S], mode: InterpolationMode.Bicubic, align_corners: false);
            z.Dispose();
            var eps0 = torch.randn(zUp.shape, generator: g).to(zUp.device);
            var plan = plans?.Invoke(k);
            var grid = Windows.Grid(S, S, r, stride);
            using var edgeUp = edges is null ? null : nn.functional.interpolate(edges, [S, S], mode: InterpolationMode.Bicubic, align_corners: false);
            var edgeImg = edgeUp is null ? null : Img.Of(edgeUp * 2 - 1);
            using var fullCtx = full.repeat(grid.Length, 1, 1);
            using var planCtx = plan is null ? null : den.Contexts(plan.Prompts);
            z = sched.AddNoise(zUp, eps0, ts[0]);
            var c1s = new List<double>(); var c2s = new List<double>(); var c3s = new List<double>();
            Window[] firstW = []; int[,] firstCov = new int[0, 0];
            Img[] rawFirst = [], blurFirst = []; Img? localFirst = null, globalFirst = null; double[] permFirst = [];
            for (int i = 0; i < ts.Length; i++)
            {
                using var scope = torch.NewDisposeScope();
                int t = ts[i], tPrev = sched.Prev(t, st.Steps);
                double phi = Ddim.Phi(t, T);
                double c1 = Math.Pow(phi, ds.Cs1), c2 = Math.Pow(phi, ds.Cs2), c3 = 0.99 * Math.Pow(phi, ds.Cs3) + 0.01;
                c1s.Add(c1); c2s.Add(c2); c3s.Add(c3);
                var zr = (z * (1 - c1) + sched.AddNoise(zUp, eps0, t) * c1).MoveToOuterDisposeScope();  // skip residual
                z.Dispose(); z = zr;
                Tensor? local = null, glob = null;
                if (ds.Local)
                {
                    var ws = plan?.Windows ?? Windows.Jitter(grid, S, S, J, rng);
                    var fb = sched.AddNoise(zUp, eps0, tPrev);
                    local = Samplers.LocalStep(den, z, t, tPrev, ws, planCtx ?? fullCtx, st, J, g, fb, null, edgeUp, ds.Control, ds.ControlScale).Prev;
                    if (i == 0) { firstW = ws; firstCov = Windows.Coverage(ws, S, S); localFirst = Img.Of(local); }
                }
                if (ds.Global)
                {
                    var raw = Lattice.Split(z, k, k);                                                   // [k², C, r, r]
                    var blurred = Blur(z, k, ds.Sigma * c3);
                    blurred = (blurred - blurred.mean()) / blurred.std() * z.std() + z.mean();           // re-standardise
                    var input = Lattice.Split(blurred, k, k);
                    Tensor? perm = null;
                    if (ds.Shuffle)
                    {
                        perm = Interaction.Permutation(k * k, raw.shape[1], r, r, g).to(raw.device);   // one host→device copy per step
                        input = Interaction.Apply(input, perm);
                    }
                    var eps = den.Eps(input, t, full.expand(k * k, -1, -1), st.Guidance, st.ViewBatch);
                    if (perm is not null) eps = Interaction.Invert(eps, perm);
                    glob = Lattice.Merge(Ddim.Step(sched, raw, eps, t, tPrev, st.Eta, g, st.Clip).Prev, k, k);
                    if (i == 0)
                    {
                        rawFirst = Enumerable.Range(0, k * k).Select(j => Img.Of(raw[j])).ToArray();
                        blurFirst = Enumerable.Range(0, k * k).Select(j => Img.Of(input[j])).ToArray();
                        globalFirst = Img.Of(glob);
                        if (perm is not null)
                            permFirst = Enumerable.Range(0, k * k).Select(j => perm[0].eq(j).to(float32).mean().ToDouble()).ToArray();
                    }
                }
                var next = local is not null && glob is not null ? (local * (1 - c2) + glob * c2)
                         : local ?? glob ?? throw new ArgumentException("DemoSettings: both branches are off.");
                z.Dispose();
                z = next.MoveToOuterDisposeScope();
            }
            using (var zn = (z - z.mean()) / z.std() * anchorStd + anchorMean) { z.Dispose(); z = zn.clone(); } // per-phase renormalisation
            if (edges is not null) { edges.Dispose(); edges = Canny.Condition(z, ds.CannySigma).to(z.device); }
            var upImg = Img.Of(zUp);
            zUp.Dispose(); eps0.Dispose();
            traces.Add(new ScaleTrace(k, ts, c1s.ToArray(), c2s.ToArray(), c3s.ToArray(), upImg, Img.Of(z), firstW, firstCov,
                rawFirst, blurFirst, localFirst ?? Img.Of(z), globalFirst ?? Img.Of(z), permFirst, edgeImg));
        }
        edges?.Dispose();
        return (z, traces.ToArray());
    }

    /// <summary>DemoFusion at scale s: phase 1 + upsample–diffuse with the full prompt, no shuffle.</summary>
    public static DemoFusionOutput Run(Denoiser den, long[] prompt, int s, SamplerSettings st, long seed, DemoSettings? ds = null, string method = "DemoFusion")
    {
        den.ResetCount();
        ds ??= new DemoSettings();
        var ((p1, fin, tr), sec, peak, src) = Samplers.Timed(Dev(den), () =>
        {
            using var scope = torch.NewDisposeScope();
            using var z1 = Phase1(den, prompt, st, seed);
            var (z, traces) = Upscale(den, prompt, z1, s, st, ds, seed);
            var res = (Img.Of(z1), Img.Of(z), traces);
            z.Dispose();
            return res;
        });
        return new DemoFusionOutput(method, s, fin, den.Count, sec, peak, src, p1, tr);
    }
}
