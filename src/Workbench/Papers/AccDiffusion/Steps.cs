using TorchSharp;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.AccDiffusion;

/// <summary>One word's cross-attention map (averaged over phase-1 steps, layers and heads) and its mask before and after the
/// opening. <c>Position</c> is the token's index in the prompt.</summary>
public sealed record TokenMask(int Position, long Token, string Word, double[,] Map, double Threshold, bool[,] Raw, bool[,] Opened);

/// <summary>The per-window prompts of one scale: map windows (side m on the k·m map), latent windows (×r/m), the
/// window × word ratio matrix and each window's prompt.</summary>
public sealed record ScalePrompts(int K, Window[] MapWindows, Window[] LatentWindows, double[,] Ratios, long[][] Prompts, string[] PromptText);

/// <summary>AccDiffusion's output: DemoFusion's fields plus the token masks and the per-scale prompts.</summary>
public sealed record AccOutput(string Method, int Scale, Img Image, EvalCount Evals, double Seconds, long? PeakBytes, string PeakSource,
    Img Phase1, ScaleTrace[] Scales, TokenMask[] Masks, ScalePrompts[] Prompts) : HighResOutput(Method, Scale, Image, Evals, Seconds, PeakBytes, PeakSource);

/// <summary>AccDiffusion's switches (accdiffusion.md §2): patch-content-aware prompts (md-prompts) with threshold c, window
/// interaction (shuffle), and the ablations' mask options.</summary>
public sealed record AccSettings(bool MdPrompts = true, bool Shuffle = true, double C = 0.3, bool Opening = true, double? FixedThreshold = null);

/// <summary>
/// AccDiffusion (Lin et al., arXiv 2407.10738): cross-attention maps of the base generation → per-token masks → a prompt per
/// window holding only the words visible in it; DemoFusion's dilated sampling with window interaction.
/// </summary>
public static class AccSteps
{
    /// <summary>Opening (erode then dilate) with a 3×3 ones kernel, <paramref name="iterations"/> each. Erosion treats the
    /// outside as foreground (OpenCV's default border for erosion), dilation treats it as background.</summary>
    public static bool[,] Open(bool[,] m, int iterations)
    {
        var x = m;
        for (int i = 0; i < iterations; i++) x = Morph(x, erode: true);
        for (int i = 0; i < iterations; i++) x = Morph(x, erode: false);
        return x;
    }

    static bool[,] Morph(bool[,] m, bool erode)
    {
        int H = m.GetLength(0), W = m.GetLength(1);
        var o = new bool[H, W];
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                bool acc = erode;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int yy = y + dy, xx = x + dx;
                        bool v = yy < 0 || yy >= H || xx < 0 || xx >= W ? erode : m[yy, xx];
                        acc = erode ? acc && v : acc || v;
                    }
                o[y, x] = acc;
            }
        return o;
    }

    /// <summary>Step 2: for every word between BOS and the real EOS, B = [A_ℓ &gt; mean(A_ℓ)] (or a fixed threshold), then the
    /// opening with m // 16 iterations.</summary>
    /// <param name="attn">[m, m, L] mean cross-attention of the conditional branch.</param>
    public static TokenMask[] Masks(Tensor attn, long[] prompt, bool opening = true, double? fixedThreshold = null)
    {
        int m = (int)attn.shape[0];
        int eos = Array.IndexOf(prompt, (long)ShapeScenes.Eos);
        if (eos < 0) throw new ArgumentException("The prompt has no EOS.");
        var a = attn.to(float64).contiguous().data<double>().ToArray();
        int L = (int)attn.shape[2];
        var list = new List<TokenMask>();
        for (int l = 1; l < eos; l++)
        {
            var map = new double[m, m];
            double sum = 0;
            for (int y = 0; y < m; y++) for (int x = 0; x < m; x++) { map[y, x] = a[(y * m + x) * L + l]; sum += map[y, x]; }
            double thr = fixedThreshold ?? sum / (m * m);
            var raw = new bool[m, m];
            for (int y = 0; y < m; y++) for (int x = 0; x < m; x++) raw[y, x] = map[y, x] > thr;
            var opened = opening ? Open(raw, m / 16) : (bool[,])raw.Clone();
            list.Add(new TokenMask(l, prompt[l], ShapeScenes.Word(prompt[l]), map, thr, raw, opened));
        }
        return list.ToArray();
    }

    /// <summary>Step 3 for scale k: nearest-upscale each mask by k; windows of side m, stride m/2 on the k·m map (2k − 1 per
    /// side), jittered once with range J_m = J·m/r into a J_m zero padding; word ℓ joins window w iff
    /// (mask pixels of ℓ inside w)/(m·m) ≥ c; latent windows = map windows × r/m. The windows are then fixed for the scale.</summary>
    public static ScalePrompts PatchPrompts(TokenMask[] masks, int k, int r, double c, Random rng)
    {
        int m = masks.Length > 0 ? masks[0].Opened.GetLength(0) : r / 2;
        if (r % m != 0) throw new ArgumentException($"map side {m} must divide the base side {r}.");
        int f = r / m, M = k * m, J = (r - r / 2) / 4, Jm = J / f;
        var grid = Windows.Grid(M, M, m, m / 2);
        var mw = Windows.Jitter(grid, M, M, Jm, rng);
        var ratios = new double[mw.Length, masks.Length];
        var prompts = new long[mw.Length][];
        var text = new string[mw.Length];
        for (int w = 0; w < mw.Length; w++)
        {
            var words = new List<long>();
            for (int l = 0; l < masks.Length; l++)
            {
                int inside = 0;
                var mask = masks[l].Opened;
                for (int y = Math.Max(0, mw[w].Y); y < Math.Min(M, mw[w].Y + m); y++)
                    for (int x = Math.Max(0, mw[w].X); x < Math.Min(M, mw[w].X + m); x++)
                        if (mask[y / k, x / k]) inside++;                          // nearest-neighbour upscale by k
                ratios[w, l] = inside / (double)(m * m);
                if (ratios[w, l] >= c) words.Add(masks[l].Token);
            }
            var objs = words.Where(t => t < ShapeScenes.ObjectTokens).Select(t => (int)t);
            int? bg = words.Where(t => t >= ShapeScenes.ObjectTokens).Select(t => (int?)(int)(t - ShapeScenes.ObjectTokens)).FirstOrDefault();
            // Words keep the original token order: objects precede the background in ShapeScenes prompts.
            prompts[w] = ShapeScenes.PromptOf(objs, bg);
            text[w] = string.Join(" ", words.Select(ShapeScenes.Word));
        }
        var lw = mw.Select(x => new Window(x.Y * f, x.X * f, x.Size * f)).ToArray();
        return new ScalePrompts(k, mw, lw, ratios, prompts, text);
    }

    /// <summary>AccDiffusion at scale s: phase 1 with the attention store, masks, per-scale prompts (if enabled), DemoFusion's
    /// upsample–diffuse with the frozen prompt windows and window interaction (if enabled).</summary>
    public static AccOutput Run(Denoiser den, long[] prompt, int s, SamplerSettings st, long seed, AccSettings acc, DemoSettings? demo = null, string method = "AccDiffusion")
    {
        den.ResetCount();
        var dev = den.Model.parameters().First().device;
        demo = (demo ?? new DemoSettings()) with { Shuffle = acc.Shuffle };
        int r = den.Base, m = r / 2;
        TokenMask[] masks = [];
        var plans = new List<ScalePrompts>();
        var ((p1, fin, tr), sec, peak, src) = Samplers.Timed(dev, () =>
        {
            using var scope = torch.NewDisposeScope();
            using var store = new AttnStore(m);
            var z1 = DemoFusion.Phase1(den, prompt, st, seed, store);
            using (var a = store.Mean()) masks = Masks(a[0], prompt, acc.Opening, acc.FixedThreshold);
            var rng = Seeding.Rng(seed, "accdiffusion-windows");
            Func<int, PatchPlan>? planFor = null;
            if (acc.MdPrompts)
            {
                for (int k = 2; k <= s; k++) plans.Add(PatchPrompts(masks, k, r, acc.C, rng));
                planFor = k => { var p = plans[k - 2]; return new PatchPlan(k, p.LatentWindows, p.Prompts); };
            }
            var (z, traces) = DemoFusion.Upscale(den, prompt, z1, s, st, demo, seed, planFor);
            return (Img.Of(z1), Img.Of(z), traces);
        });
        return new AccOutput(method, s, fin, den.Count, sec, peak, src, p1, tr, masks, plans.ToArray());
    }
}
