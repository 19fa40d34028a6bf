using TorchSharp;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.CutDiffusion;

/// <summary>CutDiffusion's output: the usual cost and image, plus phase-1 intermediates (cutdiffusion.md §3).</summary>
/// <param name="CutStep">N₁ = ⌈p·N⌉, the number of structure steps.</param>
/// <param name="PermutationCounts">K×K: how often patch k landed in slot j at the first structure step (should be flat).</param>
/// <param name="PatchSimilarity">Mean pairwise Pearson correlation of the patches' x̂0 after every structure step.</param>
/// <param name="PatchX0">x̂0 of every patch after each structure step ([step][patch]).</param>
/// <param name="Relocated">x̂0 of the canvas right after relocation (before any detail step).</param>
/// <param name="PhaseEvals">Sample-evaluations in phase 1 and phase 2.</param>
public sealed record CutOutput(string Method, int Scale, Img Image, EvalCount Evals, double Seconds, long? PeakBytes, string PeakSource,
    int CutStep, double P, bool InteractionOn, int[,] Owner, double[,] PermutationCounts, double[] PatchSimilarity, Img[][] PatchX0,
    Img Relocated, long[] PhaseEvals, double[] PhaseSeconds, Window[] FirstDetailWindows, int[,] FirstDetailCoverage)
    : HighResOutput(Method, Scale, Image, Evals, Seconds, PeakBytes, PeakSource);

/// <summary>
/// CutDiffusion (Lin et al., arXiv 2404.15141): one pass at the target size, cut into (1) comprehensive structure
/// denoising of K = s_h·s_w base-size patches with per-element pixel interaction, (2) relocation of the patch pixels onto
/// the strided lattice, (3) specific detail refinement with jittered overlapping windows (MultiDiffusion).
/// </summary>
public static class CutSteps
{
    /// <summary>N₁ = ⌈p·N⌉ — the code's <c>i &lt; p·N</c> test; relocation happens exactly once, at step N₁, even when p·N is not
    /// an integer (the code's float equality would skip it).</summary>
    public static int CutStep(double p, int n) => Math.Min(n, (int)Math.Ceiling(p * n - 1e-9));

    /// <summary>The spec's evaluation formula: N₁·s_h·s_w + (N − N₁)·(2s_h − 1)(2s_w − 1).</summary>
    public static long Evaluations(int n, double p, int sh, int sw)
    {
        int n1 = CutStep(p, n);
        return (long)n1 * sh * sw + (long)(n - n1) * (2 * sh - 1) * (2 * sw - 1);
    }

    /// <summary>Mean pairwise Pearson correlation of K samples [K, …].</summary>
    public static double MeanPairwiseCorrelation(Tensor x)
    {
        using var _ = torch.NewDisposeScope();
        var f = x.flatten(1).to(float64);
        f = f - f.mean([1L], keepdim: true);
        f = f / (f.norm(1, keepdim: true) + 1e-12);
        var c = f.matmul(f.T);
        long K = c.shape[0];
        if (K < 2) return 1;
        return ((c.sum() - c.trace()) / (K * (K - 1))).ToDouble();
    }

    /// <summary>Runs CutDiffusion at scale s (square canvas s·r) with cut proportion <paramref name="p"/>.</summary>
    public static CutOutput Run(Denoiser den, long[] prompt, int s, double p, SamplerSettings st, long seed, bool interaction = true, string? name = null)
    {
        den.ResetCount();
        var dev = den.Model.parameters().First().device;
        var g = Seeding.TorchGenerator(seed, "cutdiffusion");
        var rng = Seeding.Rng(seed, "cutdiffusion-jitter");
        var sched = den.Schedule;
        int r = den.Base, S = s * r, K = s * s, stride = r / 2, J = (r - stride) / 4;
        int n = st.Steps, n1 = CutStep(p, n);
        var ts = sched.Leading(n);
        var permCounts = new double[K, K];
        var sims = new List<double>();
        var patchX0 = new List<Img[]>();
        Img? relocated = null;
        Window[] firstW = []; int[,] firstCov = new int[0, 0];
        var phaseEvals = new long[2]; var phaseSec = new double[2];
        var grid = Windows.Grid(S, S, r, stride);
        var ((img, _), sec, peak, src) = Samplers.Timed(dev, () =>
        {
            using var outer = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var full = den.Context(prompt);
            using var ctxK = full.repeat(K, 1, 1);
            using var ctxW = full.repeat(grid.Length, 1, 1);
            var patches = torch.randn(new long[] { K, 3, r, r }, generator: g).to(dev);   // step 1: K independent base noises
            Tensor? canvas = null;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int i = 0; i < n; i++)
            {
                using var scope = torch.NewDisposeScope();
                int t = ts[i], tPrev = sched.Prev(t, n);
                if (i < n1)
                {
                    // Step 2: structure phase — per-element permutation of the K patches, full prompt, unpermute ε̂, step raw patches.
                    var input = patches;
                    Tensor? perm = null;
                    if (interaction && K > 1)
                    {
                        perm = Interaction.Permutation(K, 3, r, r, g).to(dev);     // drawn on the CPU generator, copied once per step
                        input = Interaction.Apply(patches, perm);
                        if (i == 0)
                        {
                            var p0 = perm.view(K, -1);
                            for (int slot = 0; slot < K; slot++)
                                for (int k = 0; k < K; k++) permCounts[k, slot] = p0[slot].eq(k).to(float32).mean().ToDouble();
                        }
                    }
                    var eps = den.Eps(input, t, ctxK, st.Guidance, st.ViewBatch);
                    if (perm is not null) eps = Interaction.Invert(eps, perm);
                    var o = Ddim.Step(sched, patches, eps, t, tPrev, st.Eta, g, st.Clip);
                    sims.Add(MeanPairwiseCorrelation(o.X0));
                    patchX0.Add(Enumerable.Range(0, K).Select(k => Img.Of(o.X0[k])).ToArray());
                    patches.Dispose();
                    patches = o.Prev.MoveToOuterDisposeScope();
                    if (i == n1 - 1)
                    {
                        // Step 3: relocation. Canvas pixel (Y, X) ← patch (Y mod s, X mod s) at (Y div s, X div s).
                        relocated = Img.Of(Lattice.Merge(o.X0, s, s));
                        phaseEvals[0] = den.Count.Samples; phaseSec[0] = sw.Elapsed.TotalSeconds;
                    }
                    continue;
                }
                if (canvas is null)
                {
                    canvas = Lattice.Merge(patches, s, s).MoveToOuterDisposeScope();
                    if (relocated is null) relocated = Img.Of(canvas);       // p = 0: the canvas is the relocated noise
                }
                // Step 4: detail phase — jittered windows re-drawn every step, full prompt, overlap average.
                var ws = Windows.Jitter(grid, S, S, J, rng);
                if (firstW.Length == 0) { firstW = ws; firstCov = Windows.Coverage(ws, S, S); }
                var next = Samplers.LocalStep(den, canvas, t, tPrev, ws, ctxW, st, J, g).Prev.MoveToOuterDisposeScope();
                canvas.Dispose(); canvas = next;
            }
            canvas ??= Lattice.Merge(patches, s, s);
            patches.Dispose();
            if (dev.type == DeviceType.CUDA) torch.cuda.synchronize();      // phase 2's queued GPU work belongs to its time
            phaseEvals[1] = den.Count.Samples - phaseEvals[0]; phaseSec[1] = sw.Elapsed.TotalSeconds - phaseSec[0];
            var im = Img.Of(canvas); canvas.Dispose();
            return (im, 0);
        });
        return new CutOutput(name ?? (interaction ? "CutDiffusion" : "Cut, no interaction"), s, img, den.Count, sec, peak, src, n1, p, interaction,
            Lattice.Owner(S, S, s, s), permCounts, sims.ToArray(), patchX0.ToArray(), relocated ?? img, phaseEvals, phaseSec, firstW, firstCov);
    }
}
