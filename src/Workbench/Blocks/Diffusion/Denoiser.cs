using TorchSharp;
using Workbench.Data;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion;

/// <summary>Exact cost accounting of a sampler: UNet sample-evaluations (one per image row, CFG pair counted once, as the
/// specs' formulas), UNet forward rows (×2 under CFG), base-size-equivalent evaluations (pixels / base²) and calls.</summary>
public sealed record EvalCount(long Samples, long Forwards, double BaseEquivalents, long Calls, long ControlSamples = 0);

/// <summary>
/// The model as samplers see it: prompt encoding (cached), classifier-free guidance, chunking of many views into UNet
/// batches of at most <c>viewBatch</c> samples (×2 for CFG), and an exact evaluation counter. Batches are laid out
/// [uncond…, cond…] so an <see cref="AttnStore"/> keeps only the conditional half.
/// </summary>
public sealed class Denoiser(TinyUNet model, NoiseSchedule schedule)
{
    public TinyUNet Model { get; } = model;
    public NoiseSchedule Schedule { get; } = schedule;
    public int Base => Model.Config.Resolution;
    long samples, forwards, calls, control; double baseEq;
    readonly Dictionary<string, Tensor> contexts = new();

    public EvalCount Count => new(samples, forwards, baseEq, calls, control);
    public void ResetCount() { samples = forwards = calls = control = 0; baseEq = 0; }

    Device Dev => Model.parameters().First().device;

    /// <summary>Context [1, L, d] of one prompt (cached; the cache owns the tensors).</summary>
    public Tensor Context(long[] prompt)
    {
        var key = string.Join(",", prompt);
        if (contexts.TryGetValue(key, out var c)) return c;
        using var _ = torch.no_grad();
        using var ids = torch.tensor(prompt, [1, prompt.Length]).to(Dev);
        c = Model.Encode(ids).DetachFromDisposeScope();
        contexts[key] = c;
        return c;
    }

    /// <summary>Contexts [B, L, d] for B prompts.</summary>
    public Tensor Contexts(IEnumerable<long[]> prompts) => torch.cat(prompts.Select(Context).ToArray(), 0);

    /// <summary>Guided ε̂ for B samples x [B,3,h,w] at timestep t with per-sample contexts [B,L,d]:
    /// ε_u + g (ε_c − ε_u), in chunks of at most <paramref name="viewBatch"/> samples.</summary>
    /// <remarks>With <paramref name="controlNet"/> and <paramref name="edges"/> [B,3,h,w], the ControlNet's residuals (scaled by
    /// <paramref name="controlScale"/>) condition both CFG halves (the edge crop duplicated, as the v2 code does).</remarks>
    public Tensor Eps(Tensor x, int t, Tensor ctx, double guidance, int viewBatch = 16, AttnStore? store = null,
        EdgeControlNet? controlNet = null, Tensor? edges = null, double controlScale = 0)
    {
        long B = x.shape[0];
        if (ctx.shape[0] != B) throw new ArgumentException($"Eps: {B} samples but {ctx.shape[0]} contexts.");
        var outs = new List<Tensor>();
        var uncond = Context(ShapeScenes.EmptyPrompt);
        for (long s = 0; s < B; s += viewBatch)
        {
            long n = Math.Min(viewBatch, B - s);
            var xi = x.narrow(0, s, n).to(Dev);
            var ci = ctx.narrow(0, s, n).to(Dev);
            var xx = torch.cat([xi, xi], 0);
            var cc = torch.cat([uncond.expand(n, -1, -1), ci], 0);
            var tt = torch.full(2 * n, t, dtype: int64, device: Dev);
            if (store is not null) store.Rows = (n, n);
            Tensor[]? sk = null; Tensor? mid = null;
            if (controlNet is not null && edges is not null)
            {
                var ei = edges.narrow(0, s, n).to(Dev);
                var (a, b) = controlNet.Forward(xx, tt, cc, torch.cat([ei, ei], 0));
                sk = a.Select(r => r * controlScale).ToArray(); mid = b * controlScale;
                control += n;
            }
            var e = Model.Forward(xx, tt, cc, store, sk, mid);
            var (eu, ec) = (e.narrow(0, 0, n), e.narrow(0, n, n));
            outs.Add(eu + (ec - eu) * guidance);
            samples += n; forwards += 2 * n; calls++;
            baseEq += n * (double)(x.shape[2] * x.shape[3]) / (Base * Base);
        }
        return outs.Count == 1 ? outs[0] : torch.cat(outs.ToArray(), 0);
    }
}
