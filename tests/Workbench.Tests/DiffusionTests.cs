using TorchSharp;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Data;
using Workbench.Papers.CutDiffusion;
using Workbench.Runtime;
using Xunit;
using static TorchSharp.torch;

namespace Workbench.Tests;

/// <summary>ShapeScenes: the same scene drawn at any side has the same ground truth.</summary>
public class ShapeScenesTests
{
    [Fact]
    public void ShapeScenes_renders_consistent_ground_truth_at_any_resolution()
    {
        var rng = new Random(3);
        for (int i = 0; i < 20; i++)
        {
            var scene = ShapeScenes.Sample(rng);
            Assert.Equal(scene.Objects.Length, scene.Objects.Select(o => o.Token).Distinct().Count());          // no repeated (shape, colour)
            Assert.All(scene.Objects, o => Assert.True(o.Cx - o.Half >= 0 && o.Cx + o.Half <= 1 && o.Cy - o.Half >= 0 && o.Cy + o.Half <= 1));
            var p = scene.Prompt;
            Assert.Equal(ShapeScenes.PromptLength, p.Length);
            Assert.Equal(ShapeScenes.Bos, p[0]);
            Assert.Equal(scene.Objects.Select(o => o.Token).Order(), ShapeScenes.ObjectsOf(p).Order());
            Assert.Equal(scene.Background, ShapeScenes.BackgroundOf(p));
            double[]? fractions = null;
            foreach (var R in new[] { 16, 32, 64, 128 })
            {
                var r = ShapeScenes.Render(scene, R);
                Assert.Equal(3 * R * R, r.Rgb.Length);
                Assert.All(r.Rgb, v => Assert.InRange(v, -1.0001f, 1.0001f));
                var truth = new int[ShapeScenes.ObjectTokens];
                foreach (var o in scene.Objects) truth[o.Token] = 1;
                Assert.Equal(truth, r.Counts);
                // Every object is one connected region of its own class (counted once), at every resolution.
                Assert.Equal(truth, Counting.Components(r.ClassMap, R, R, 1));
                // Area fractions agree across resolutions (the scene is resolution-free).
                var f = scene.Objects.Select(o => r.ClassMap.Count(c => c == 1 + o.Token) / (double)(R * R)).ToArray();
                if (fractions is not null) for (int k = 0; k < f.Length; k++) Assert.InRange(f[k] - fractions[k], -0.04, 0.04);
                if (R == 128) fractions = f; else fractions ??= f;
            }
        }
    }

    [Fact]
    public void Background_detail_is_native_scale()
    {
        var s = new ShapeScene(2, false, [], 1);                       // grid: a dark line every 6 px at any R
        foreach (var R in new[] { 16, 48 })
        {
            var r = ShapeScenes.Render(s, R);
            Assert.True(r.Rgb[0] < r.Rgb[1 + R]);                  // (0,0) on a line, (1,1) not
            Assert.Equal(r.Rgb[0], r.Rgb[6], 5);
        }
    }
}

/// <summary>Blocks/Diffusion invariants on a random-weight tiny UNet (no training).</summary>
public class DiffusionTests
{
    static readonly UNetConfig Tiny = new(16, [8, 16], 1, [1], 16, 1, Heads: 2);

    static Denoiser Make(long seed = 1)
    {
        _ = T.Rt;
        torch.manual_seed(seed);
        var m = new TinyUNet(Tiny);
        m.eval();
        return new Denoiser(m, new NoiseSchedule());
    }

    static readonly long[] Prompt = ShapeScenes.PromptOf([3, 10], 1);

    [Fact]
    public void Leading_spacing_and_cosine_factor()
    {
        var s = new NoiseSchedule();
        var ts = s.Leading(50);
        Assert.Equal(981, ts[0]); Assert.Equal(1, ts[^1]); Assert.Equal(50, ts.Length);
        Assert.Equal(-19, s.Prev(1, 50));
        Assert.Equal(1.0, s.A(-1));
        Assert.Equal(1.0, Ddim.Phi(1000, 1000), 12);
        Assert.Equal(0.0, Ddim.Phi(0, 1000), 12);
        // c1 = φ³ ≤ c2 = φ for every t
        Assert.All(ts, t => Assert.True(Math.Pow(Ddim.Phi(t, 1000), 3) <= Ddim.Phi(t, 1000) + 1e-15));
    }

    [Fact]
    public void Ddim_with_eta_0_is_deterministic_and_eta_1_is_not()
    {
        var den = Make();
        var st = new SamplerSettings(Steps: 3, ViewBatch: 4);
        using var a = Samplers.Sample(den, Prompt, 16, 16, st, new Generator(5));
        using var b = Samplers.Sample(den, Prompt, 16, 16, st, new Generator(5));
        Assert.True(a.eq(b).all().item<bool>());
        // η = 0: the same noise with different generators for the (unused) step noise still agrees; η = 1 uses it.
        var s = den.Schedule;
        using var x = torch.randn(1, 3, 16, 16, generator: new Generator(1));
        using var e = torch.randn(1, 3, 16, 16, generator: new Generator(2));
        var d0 = Ddim.Step(s, x, e, 501, 251, 0, new Generator(3)).Prev;
        var d1 = Ddim.Step(s, x, e, 501, 251, 0, new Generator(4)).Prev;
        Assert.True(d0.eq(d1).all().item<bool>());
        var n0 = Ddim.Step(s, x, e, 501, 251, 1, new Generator(3)).Prev;
        var n1 = Ddim.Step(s, x, e, 501, 251, 1, new Generator(4)).Prev;
        Assert.False(n0.allclose(n1));
        // x̂0 from the exact noise recovers x0 (no clipping).
        using var x0 = torch.rand(1, 3, 16, 16, generator: new Generator(6)) * 2 - 1;
        var xt = s.AddNoise(x0, e, 700);
        Assert.True(Ddim.Step(s, xt, e, 700, 680, clip: false).X0.allclose(x0, 1e-4, 1e-4));
    }

    [Theory, InlineData(32, 16, 8), InlineData(48, 16, 8), InlineData(64, 32, 16), InlineData(40, 16, 8)]
    public void Windows_cover_the_canvas_with_the_stated_overlaps_and_strides(int S, int r, int stride)
    {
        var grid = Windows.Grid(S, S, r, stride);
        int perSide = (S - r + stride - 1) / stride + 1;
        Assert.Equal(perSide * perSide, grid.Length);
        if (S % r == 0) Assert.Equal(2 * (S / r) - 1, perSide);
        var starts = Windows.Starts(S, r, stride);
        Assert.Equal(0, starts[0]); Assert.Equal(S - r, starts[^1]);
        for (int i = 1; i < starts.Length - 1; i++) Assert.Equal(stride, starts[i] - starts[i - 1]);
        int J = (r - stride) / 4;
        var rng = new Random(1);
        for (int rep = 0; rep < 50; rep++)
        {
            var j = Windows.Jitter(grid, S, S, J, rng);
            for (int k = 0; k < grid.Length; k++)
            {
                int dy = j[k].Y - grid[k].Y, dx = j[k].X - grid[k].X;
                Assert.InRange(dy, -J, J); Assert.InRange(dx, -J, J);
                if (grid[k].Y == 0) Assert.True(dy <= 0);                    // edge windows only move outward
                if (grid[k].Y == S - r) Assert.True(dy >= 0);
                if (grid[k].X == 0) Assert.True(dx <= 0);
                if (grid[k].X == S - r) Assert.True(dx >= 0);
            }
            var cov = Windows.Coverage(j, S, S);
            foreach (var c in cov) Assert.True(c >= 1);                          // every pixel covered
        }
        // Overlap-averaging identical outputs returns the input.
        using var z = torch.randn(1, 3, S, S, generator: new Generator(2));
        var jw = Windows.Jitter(grid, S, S, J, new Random(9));
        using var crops = Windows.Crop(z, jw, J);
        var (back, cnt) = Windows.Average(crops, jw, S, S, J);
        Assert.True(back.allclose(z, 1e-6, 1e-6));
        Assert.True((cnt >= 1).all().item<bool>());
    }

    [Fact]
    public void Uncovered_cells_take_the_fallback_and_never_NaN()
    {
        using var v = torch.ones(1, 3, 8, 8);
        var (c, n) = Windows.Average(v, [new Window(0, 0, 8)], 16, 16, 0, torch.full(1, 3, 16, 16, 7f));
        Assert.False(c.isnan().any().item<bool>());
        Assert.Equal(7f, c[0, 0, 15, 15].item<float>());
        Assert.Equal(1f, c[0, 0, 0, 0].item<float>());
    }

    [Fact]
    public void Permutation_inverse_is_identity_and_preserves_the_multiset()
    {
        _ = T.Rt;
        using var x = torch.randn(4, 3, 5, 5, generator: new Generator(1));
        using var perm = Interaction.Permutation(4, 3, 5, 5, new Generator(2));
        using var y = Interaction.Apply(x, perm);
        Assert.True(Interaction.Invert(y, perm).eq(x).all().item<bool>());
        Assert.True(y.sort(0).Values.eq(x.sort(0).Values).all().item<bool>());       // per-position multiset
        Assert.False(y.eq(x).all().item<bool>());
        Assert.True(perm.sort(0).Values.eq(torch.arange(4).view(4, 1, 1, 1).expand(4, 3, 5, 5)).all().item<bool>());
    }

    [Theory, InlineData(2, 2), InlineData(3, 3), InlineData(2, 3)]
    public void Relocation_is_a_bijection_with_the_stated_sampling_rule(int sh, int sw)
    {
        _ = T.Rt;
        int h = 4, w = 5;
        using var p = torch.randn(sh * sw, 3, h, w, generator: new Generator(3));
        using var canvas = Lattice.Merge(p, sh, sw);
        Assert.Equal(new long[] { 1, 3, sh * h, sw * w }, canvas.shape);
        Assert.True(Lattice.Split(canvas, sh, sw).eq(p).all().item<bool>());
        for (int Y = 0; Y < sh * h; Y++)
            for (int X = 0; X < sw * w; X++)
                Assert.Equal(p[(Y % sh) * sw + X % sw, 1, Y / sh, X / sw].item<float>(), canvas[0, 1, Y, X].item<float>());
        var owner = Lattice.Owner(sh * h, sw * w, sh, sw);
        Assert.Equal(0, owner[0, 0]); Assert.Equal(sh * sw - 1, owner[sh - 1, sw - 1]);
    }

    [Theory, InlineData(50, 0.5, 2, 325), InlineData(50, 0.5, 3, 850), InlineData(50, 0.5, 4, 1625)]
    public void CutDiffusion_evaluation_formula_matches_the_spec(int n, double p, int s, long expected)
    {
        Assert.Equal(expected, CutSteps.Evaluations(n, p, s, s));
        Assert.Equal(new long[] { 450, 1250, 2450 }[s - 2], Samplers.MultiDiffusionEvaluations(n, s));
        Assert.Equal(new long[] { 700, 2400, 5650 }[s - 2], DemoFusion.Evaluations(n, s));
    }

    [Fact]
    public void Cut_happens_exactly_once_for_non_integer_p_N()
    {
        Assert.Equal(18, CutSteps.CutStep(0.35, 50));           // 17.5 → 18 structure steps
        Assert.Equal(25, CutSteps.CutStep(0.5, 50));
        Assert.Equal(0, CutSteps.CutStep(0, 50));
        Assert.Equal(50, CutSteps.CutStep(1, 50));
    }

    [Theory, InlineData(2, 0.5), InlineData(2, 0.35), InlineData(3, 0.5)]
    public void Measured_evaluations_equal_the_formulas(int s, double p)
    {
        var den = Make();
        var st = new SamplerSettings(Steps: 4, ViewBatch: 16);
        var cut = CutSteps.Run(den, Prompt, s, p, st, 1);
        Assert.Equal(CutSteps.Evaluations(4, p, s, s), cut.Evals.Samples);
        Assert.Equal(2 * cut.Evals.Samples, cut.Evals.Forwards);
        Assert.Equal(CutSteps.CutStep(p, 4) * s * s, cut.PhaseEvals[0]);
        Assert.False(cut.Image.Data.Any(float.IsNaN));
        if (s == 2 && p == 0.5)
        {
            var st2 = st with { Steps = 2 };
            Assert.Equal(Samplers.MultiDiffusionEvaluations(2, s), Samplers.MultiDiffusion(den, Prompt, s, st2, 1).Evals.Samples);
            Assert.Equal(DemoFusion.Evaluations(2, s), DemoFusion.Run(den, Prompt, s, st2, 1).Evals.Samples);
            var d = Samplers.Direct(den, Prompt, s, st2, 1);
            Assert.Equal(2, d.Evals.Samples); Assert.Equal(2.0 * s * s, d.Evals.BaseEquivalents);
        }
    }

    [Fact]
    public void View_batch_changes_CutDiffusion_only_at_float_rounding_level()
    {
        var den = Make();
        var a = CutSteps.Run(den, Prompt, 2, 0.5, new SamplerSettings(Steps: 4, ViewBatch: 1), 7);
        var b = CutSteps.Run(den, Prompt, 2, 0.5, new SamplerSettings(Steps: 4, ViewBatch: 4), 7);
        double d = a.Image.Data.Zip(b.Image.Data, (x, y) => (double)Math.Abs(x - y)).Max();
        Assert.True(d < 1e-4, $"max |Δ| = {d}");
        Assert.True(a.Evals.Calls > b.Evals.Calls);
    }

    [Fact]
    public void CutDiffusion_at_s_1_is_plain_sampling()
    {
        var den = Make();
        var st = new SamplerSettings(Steps: 4, ViewBatch: 4, Guidance: 3, LocalGuidance: 3);
        var cut = CutSteps.Run(den, Prompt, 1, 0.5, st, 11);
        using var z = Samplers.Sample(den, Prompt, 16, 16, st, Seeding.TorchGenerator(11, "cutdiffusion"));
        var plain = Img.Of(z);
        double d = cut.Image.Data.Zip(plain.Data, (x, y) => (double)Math.Abs(x - y)).Max();
        Assert.True(d < 1e-5, $"max |Δ| = {d}");
    }

    [Fact]
    public void No_tensor_leak_per_sampling_run()
    {
        var den = Make();
        var st = new SamplerSettings(Steps: 2, ViewBatch: 4);
        CutSteps.Run(den, Prompt, 2, 0.5, st, 1);                      // warm: caches the contexts
        DemoFusion.Run(den, Prompt, 2, st, 1);
        Samplers.MultiDiffusion(den, Prompt, 2, st, 1);
        Samplers.Direct(den, Prompt, 2, st, 1);
        var live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        CutSteps.Run(den, Prompt, 2, 0.5, st, 2);
        DemoFusion.Run(den, Prompt, 2, st with { Steps = 3 }, 2);
        Samplers.MultiDiffusion(den, Prompt, 2, st, 2);
        Samplers.Direct(den, Prompt, 2, st, 2);
        Assert.Equal(live, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Attention_store_keeps_the_conditional_half_with_rows_summing_to_one()
    {
        var den = Make();
        using var store = new AttnStore(8);
        using var z = Samplers.Sample(den, Prompt, 16, 16, new SamplerSettings(Steps: 2), new Generator(1), store);
        using var m = store.Mean();
        Assert.Equal(new long[] { 1, 8, 8, ShapeScenes.PromptLength }, m.shape);
        Assert.True(m.sum(-1).allclose(torch.ones(1, 8, 8), 1e-5, 1e-5));
        Assert.Equal(2 * 2, store.Count);                                 // 2 steps × (1 down + 1 up) layers at side 8
    }

    [Fact]
    public void Frechet_distance_is_zero_for_equal_sets_and_the_mean_shift_otherwise()
    {
        _ = T.Rt;
        using var a = torch.randn(200, 4, generator: new Generator(1), dtype: float64);
        Assert.True(Math.Abs(Evaluators.Frechet(a, a)) < 1e-4);
        using var b = a + 0.5;
        Assert.InRange(Evaluators.Frechet(a, b), 4 * 0.25 - 1e-3, 4 * 0.25 + 1e-3);
    }

    [Fact]
    public void Components_counts_separate_blobs_and_drops_small_ones()
    {
        var m = new int[8 * 8];
        m[0] = m[1] = m[8] = 3;                    // blob of 3 px, class 3
        m[63] = m[62] = 3;                         // 2 px
        m[30] = 5;                                 // 1 px
        var c = Counting.Components(m, 8, 8, 2);
        Assert.Equal(2, c[2]); Assert.Equal(0, c[4]);
        Assert.Equal((1, true, false), Counting.Compare([0, 0, 2], [0, 0, 1]));
    }
}

/// <summary>AccDiffusion's mask and patch-prompt rules (accdiffusion.md §2 steps 2–3).</summary>
public class AccDiffusionTests
{
    static Tensor Attn(int m, int L, int seed)
    {
        _ = T.Rt;
        return torch.rand(new long[] { m, m, L }, generator: new Generator((ulong)seed)).softmax(-1);
    }

    [Fact]
    public void Masks_follow_the_mean_threshold_and_skip_BOS_EOS_and_padding()
    {
        var prompt = ShapeScenes.PromptOf([4], 2);                  // BOS, obj, bg, EOS, PAD, PAD
        using var a = Attn(8, 6, 1);
        var masks = Workbench.Papers.AccDiffusion.AccSteps.Masks(a, prompt, opening: false);
        Assert.Equal(new long[] { 4, ShapeScenes.ObjectTokens + 2 }, masks.Select(m => m.Token).ToArray());
        foreach (var m in masks)
        {
            double mean = 0; foreach (var v in m.Map) mean += v; mean /= 64;
            Assert.Equal(mean, m.Threshold, 12);
            for (int y = 0; y < 8; y++) for (int x = 0; x < 8; x++) Assert.Equal(m.Map[y, x] > mean, m.Raw[y, x]);
        }
        var fixedT = Workbench.Papers.AccDiffusion.AccSteps.Masks(a, prompt, opening: false, fixedThreshold: 2.0);
        Assert.All(fixedT, m => Assert.DoesNotContain(true, m.Raw.Cast<bool>()));
    }

    [Fact]
    public void Opening_never_grows_a_mask_and_removes_specks_on_a_16x16_map()
    {
        var rng = new Random(2);
        for (int rep = 0; rep < 20; rep++)
        {
            var m = new bool[16, 16];
            for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) m[y, x] = rng.NextDouble() < 0.5;
            var o = Workbench.Papers.AccDiffusion.AccSteps.Open(m, 16 / 16);
            for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) Assert.True(!o[y, x] || m[y, x]);
        }
        var speck = new bool[16, 16];
        speck[5, 5] = true;
        for (int y = 8; y < 14; y++) for (int x = 8; x < 14; x++) speck[y, x] = true;  // a 6×6 block survives
        var op = Workbench.Papers.AccDiffusion.AccSteps.Open(speck, 1);
        Assert.False(op[5, 5]); Assert.True(op[10, 10]); Assert.True(op[8, 8]);
        // Erosion treats the outside as foreground: a full mask stays full.
        var full = new bool[16, 16];
        for (int y = 0; y < 16; y++) for (int x = 0; x < 16; x++) full[y, x] = true;
        Assert.DoesNotContain(false, Workbench.Papers.AccDiffusion.AccSteps.Open(full, 1).Cast<bool>());
        // m = 8 → 8 // 16 = 0 iterations: the mask is unchanged.
        using var a = Attn(8, 6, 3);
        var ms = Workbench.Papers.AccDiffusion.AccSteps.Masks(a, ShapeScenes.PromptOf([1, 2], 0), opening: true);
        Assert.All(ms, m => Assert.Equal(m.Raw.Cast<bool>(), m.Opened.Cast<bool>()));
    }

    [Theory, InlineData(2), InlineData(3)]
    public void Patch_prompts_follow_the_threshold_c(int k)
    {
        var prompt = ShapeScenes.PromptOf([4, 9], 1);
        using var a = Attn(16, 6, 4);
        var masks = Workbench.Papers.AccDiffusion.AccSteps.Masks(a, prompt);
        int r = 32, m = 16;
        var all = Workbench.Papers.AccDiffusion.AccSteps.PatchPrompts(masks, k, r, 0, new Random(1));
        Assert.Equal((2 * k - 1) * (2 * k - 1), all.Prompts.Length);
        Assert.All(all.Prompts, p => Assert.Equal(prompt, p));                       // c = 0: every word everywhere
        var none = Workbench.Papers.AccDiffusion.AccSteps.PatchPrompts(masks, k, r, 1.01, new Random(1));
        Assert.All(none.Prompts, p => Assert.Equal(ShapeScenes.EmptyPrompt, p));     // c > 1: all prompts empty
        var mid = Workbench.Papers.AccDiffusion.AccSteps.PatchPrompts(masks, k, r, 0.3, new Random(1));
        var grid = Windows.Grid(k * m, k * m, m, m / 2);
        for (int w = 0; w < mid.Prompts.Length; w++)
        {
            Assert.InRange(mid.MapWindows[w].Y - grid[w].Y, -2, 2);                   // map jitter J_m = (r/8)/(r/m) = 2
            Assert.Equal(mid.MapWindows[w].Y * 2, mid.LatentWindows[w].Y);           // latent = map × r/m
            Assert.Equal(r, mid.LatentWindows[w].Size);
            for (int l = 0; l < masks.Length; l++)
            {
                int inside = 0;
                for (int y = 0; y < m; y++) for (int x = 0; x < m; x++)
                {
                    int Y = mid.MapWindows[w].Y + y, X = mid.MapWindows[w].X + x;
                    if (Y >= 0 && X >= 0 && Y < k * m && X < k * m && masks[l].Opened[Y / k, X / k]) inside++;
                }
                Assert.Equal(inside / 256.0, mid.Ratios[w, l], 12);
                Assert.Equal(mid.Ratios[w, l] >= 0.3, mid.Prompts[w].Contains(masks[l].Token));
            }
        }
    }

    [Fact]
    public void AccDiffusion_costs_exactly_DemoFusion_and_with_c_0_and_no_shuffle_equals_it()
    {
        _ = T.Rt;
        torch.manual_seed(1);
        var model = new TinyUNet(new UNetConfig(16, [8, 16], 1, [1], 16, 1, Heads: 2));
        model.eval();
        var den = new Denoiser(model, new NoiseSchedule());
        var prompt = ShapeScenes.PromptOf([4, 9], 1);
        var st = new SamplerSettings(Steps: 3, ViewBatch: 8);
        var acc = Workbench.Papers.AccDiffusion.AccSteps.Run(den, prompt, 2, st, 5, new Workbench.Papers.AccDiffusion.AccSettings());
        Assert.Equal(DemoFusion.Evaluations(3, 2), acc.Evals.Samples);
        Assert.Single(acc.Prompts);
        Assert.Equal(9, acc.Prompts[0].Prompts.Length);
        var acc3 = Workbench.Papers.AccDiffusion.AccSteps.Run(den, prompt, 3, st with { Steps = 2 }, 5, new Workbench.Papers.AccDiffusion.AccSettings());
        Assert.Equal(DemoFusion.Evaluations(2, 3), acc3.Evals.Samples);   // scales 2 and 3
        Assert.Equal(new[] { 9, 25 }, acc3.Prompts.Select(p => p.Prompts.Length).ToArray());
        Assert.Equal(48, acc3.Image.H);
        Assert.False(acc3.Image.Data.Any(float.IsNaN));
        // Without shuffle and with every word in every window (c = 0), only the frozen jitter differs from DemoFusion:
        // with jitter-free windows the outputs would match; here we check the global branch alone, which must match.
        var g1 = Workbench.Papers.AccDiffusion.AccSteps.Run(den, prompt, 2, st, 5, new Workbench.Papers.AccDiffusion.AccSettings(Shuffle: false, C: 0),
            new DemoSettings(Local: false));
        var g2 = DemoFusion.Run(den, prompt, 2, st, 5, new DemoSettings(Local: false));
        Assert.Equal(g2.Image.Data, g1.Image.Data);
    }
}

/// <summary>AccDiffusion v2: auto-Canny rules and the ControlNet's wiring (accdiffusion-v2.md §5 unit-testable properties).</summary>
public class AccDiffusionV2Tests
{
    [Fact]
    public void Canny_follows_the_median_rule_and_is_binary()
    {
        _ = T.Rt;
        foreach (var v in new[] { -1f, 0f, 0.7f })                                  // constant images (incl. v = 0): no edges
        {
            using var c = torch.full(3, 16, 16, v);
            var (e, _, _, _) = Canny.Auto(c, 0.3);
            Assert.Equal(0f, e.sum().item<float>());
        }
        using var img = torch.full(3, 16, 16, -0.6f);
        img[.., .., 8..].fill_(0.6f);                                                // a vertical step
        var (edges, med, lo, hi) = Canny.Auto(img, 0.3);
        Assert.True(edges.eq(0).logical_or(edges.eq(1)).all().item<bool>());
        Assert.Equal(Math.Round((1 - 0.6) * 127.5), med, 6);                           // median of the values (ties take the lower)
        Assert.Equal((int)Math.Max(0, 0.7 * med), lo); Assert.Equal((int)Math.Min(255, 1.3 * med), hi);
        var cols = Enumerable.Range(0, 16).Where(x => edges[.., x].sum().item<float>() > 0).ToArray();
        Assert.NotEmpty(cols);
        Assert.All(cols, x => Assert.InRange(x, 7, 8));                             // thin, on the step
    }

    static (Denoiser Den, EdgeControlNet Net) Make()
    {
        _ = T.Rt;
        torch.manual_seed(1);
        var m = new TinyUNet(new UNetConfig(16, [8, 16], 1, [1], 16, 1, Heads: 2));
        m.eval();
        var net = new EdgeControlNet(m);
        net.eval();
        return (new Denoiser(m, new NoiseSchedule()), net);
    }

    [Fact]
    public void Zero_initialised_ControlNet_and_lambda_0_give_exactly_v1_and_it_runs_only_in_the_local_branch()
    {
        var (den, net) = Make();
        var prompt = ShapeScenes.PromptOf([4, 9], 1);
        var st = new SamplerSettings(Steps: 3, ViewBatch: 4);
        var acc = new Workbench.Papers.AccDiffusion.AccSettings();
        var v1 = Workbench.Papers.AccDiffusion.AccSteps.Run(den, prompt, 2, st, 3, acc);
        var v2 = Workbench.Papers.AccDiffusionV2.V2Steps.Run(den, prompt, 2, st, 3, acc, net, 0.6, 0.3);
        Assert.Equal(v1.Image.Data, v2.Image.Data);                                  // zero convs ⇒ bit-identical
        Assert.Equal(v1.Evals.Samples, v2.Evals.Samples);
        Assert.Equal(3L * 9, v2.Evals.ControlSamples);                               // local windows × steps; never the global branch
        Assert.Equal(0L, v1.Evals.ControlSamples);
        using (torch.no_grad()) foreach (var p in net.parameters()) p.add_(0.05);   // a non-zero ControlNet …
        var v2b = Workbench.Papers.AccDiffusionV2.V2Steps.Run(den, prompt, 2, st, 3, acc, net, 0.6, 0.3);
        Assert.NotEqual(v1.Image.Data, v2b.Image.Data);
        var v2z = Workbench.Papers.AccDiffusionV2.V2Steps.Run(den, prompt, 2, st, 3, acc, net, 0, 0.3);
        Assert.Equal(v1.Image.Data, v2z.Image.Data);                                 // … at λ = 0 is v1 again
        Assert.NotNull(v2.Scales[0].Edges);
    }
}

/// <summary>The Gpu presets' shapes (base 32, three levels, attention at 16 and 8) run end to end on the CPU with random
/// weights and one step, so the H100 run cannot fail on a shape.</summary>
public class DiffusionGpuShapeTests
{
    [Fact]
    public void Gpu_preset_shapes_run_every_method()
    {
        _ = T.Rt;
        Assert.NotNull(CutConfig.Gpu.Validate());
        Assert.NotNull(Workbench.Papers.AccDiffusion.AccConfig.Gpu.Validate());
        Assert.NotNull(Workbench.Papers.AccDiffusionV2.V2Config.Gpu.Validate());
        torch.manual_seed(1);
        var m = new TinyUNet(UNetConfig.Gpu);
        m.eval();
        Assert.InRange(m.parameters().Sum(p => p.numel()), 8_000_000, 16_000_000);      // ≈ 12M as laid out in the spec
        var den = new Denoiser(m, new NoiseSchedule());
        using var net = new EdgeControlNet(m);
        var prompt = ShapeScenes.PromptOf([4, 9], 1);
        var st = new SamplerSettings(Steps: 1, ViewBatch: 16);
        // CutDiffusion at 2× and 4× (two steps: one per phase); the DemoFusion path (v2 = v1 + ControlNet) at 2× with one step.
        foreach (var s in new[] { 2, 4 })
        {
            var cut = CutSteps.Run(den, prompt, s, 0.5, st with { Steps = 2 }, 1);
            Assert.Equal(CutSteps.Evaluations(2, 0.5, s, s), cut.Evals.Samples);
            Assert.Equal(32 * s, cut.Image.H);
        }
        var v2 = Workbench.Papers.AccDiffusionV2.V2Steps.Run(den, prompt, 2, st, 1, new Workbench.Papers.AccDiffusion.AccSettings(), net, 0.6, 0.3);
        Assert.Equal(DemoFusion.Evaluations(1, 2), v2.Evals.Samples);
        Assert.Equal(16, v2.Masks[0].Map.GetLength(0));                                    // maps from the 16×16 level
        Assert.Equal(64, v2.Image.H);
        Assert.False(v2.Image.Data.Any(float.IsNaN));
        Assert.Equal(9 * 2, Samplers.MultiDiffusion(den, prompt, 2, st with { Steps = 2 }, 1).Evals.Samples);
        Assert.Equal(64, Samplers.Direct(den, prompt, 2, st, 1).Image.H);
    }
}
