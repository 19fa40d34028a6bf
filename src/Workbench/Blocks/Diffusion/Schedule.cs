using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Blocks.Diffusion;

/// <summary>
/// The DDPM noise schedule (ε-prediction): T steps, β linear from <c>BetaStart</c> to <c>BetaEnd</c>, ᾱ_t = Π(1 − β).
/// Timesteps are 0-based like diffusers (t ∈ 0..T−1).
/// </summary>
public sealed class NoiseSchedule
{
    public int T { get; }
    public double[] AlphaBar { get; }

    public NoiseSchedule(int T = 1000, double betaStart = 1e-4, double betaEnd = 0.02)
    {
        this.T = T;
        AlphaBar = new double[T];
        double a = 1;
        for (int t = 0; t < T; t++)
        {
            double beta = betaStart + (betaEnd - betaStart) * t / Math.Max(1, T - 1);
            a *= 1 - beta;
            AlphaBar[t] = a;
        }
    }

    /// <summary>ᾱ at t; t &lt; 0 means "after the last step" and gives 1 (diffusers' set_alpha_to_one).</summary>
    public double A(int t) => t < 0 ? 1.0 : AlphaBar[t];

    /// <summary>"Leading" spacing with offset 1 (diffusers DDIM/Euler with steps_offset = 1): for N = 50, T = 1000 →
    /// 981, 961, …, 1. Returns N timesteps, descending.</summary>
    public int[] Leading(int n)
    {
        if (n < 1 || n > T) throw new ArgumentException($"steps = {n}: must be in [1, {T}].");
        int ratio = T / n;
        return Enumerable.Range(0, n).Select(i => i * ratio + 1).Reverse().ToArray();
    }

    /// <summary>The previous timestep of DDIM's step from t (t − T/N; negative after the last step).</summary>
    public int Prev(int t, int n) => t - T / n;

    /// <summary>q(x_t | x_0): √ᾱ_t x_0 + √(1 − ᾱ_t) ε.</summary>
    public Tensor AddNoise(Tensor x0, Tensor eps, int t) => x0 * Math.Sqrt(A(t)) + eps * Math.Sqrt(1 - A(t));

    /// <summary>Per-row q(x_t | x_0) for a batch of timesteps (training).</summary>
    public Tensor AddNoise(Tensor x0, Tensor eps, long[] t)
    {
        var a = torch.tensor(t.Select(x => (float)AlphaBar[x]).ToArray(), device: x0.device).view(-1, 1, 1, 1);
        return x0 * a.sqrt() + eps * (1 - a).sqrt();
    }
}

/// <summary>One DDIM step's result: x_{t_prev} and the predicted clean sample x̂_0 (diffusers' pred_original_sample).</summary>
public sealed record DdimOut(Tensor Prev, Tensor X0);

/// <summary>DDIM (Song et al. 2021, eq. 12) with η: stateless, so it can be stepped any number of times per timestep.</summary>
public static class Ddim
{
    /// <summary>
    /// x̂0 = (x − √(1−ᾱ_t) ε)/√ᾱ_t (optionally clipped to [−1, 1]); σ = η √((1−ᾱ_p)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_p);
    /// x_p = √ᾱ_p x̂0 + √(1 − ᾱ_p − σ²) ε + σ z. With clipping, ε is recomputed from the clipped x̂0 (as diffusers does).
    /// </summary>
    public static DdimOut Step(NoiseSchedule s, Tensor x, Tensor eps, int t, int tPrev, double eta = 0, Generator? g = null, bool clip = true)
    {
        double at = s.A(t), ap = s.A(tPrev);
        var x0 = (x - eps * Math.Sqrt(1 - at)) / Math.Sqrt(at);
        if (clip)
        {
            x0 = x0.clamp(-1, 1);
            eps = (x - x0 * Math.Sqrt(at)) / Math.Sqrt(1 - at);
        }
        double sigma = eta * Math.Sqrt((1 - ap) / (1 - at)) * Math.Sqrt(1 - at / ap);
        var prev = x0 * Math.Sqrt(ap) + eps * Math.Sqrt(Math.Max(0, 1 - ap - sigma * sigma));
        if (sigma > 0) prev = prev + torch.randn(x.shape, generator: g).to(x.device) * sigma;
        return new DdimOut(prev, x0);
    }

    /// <summary>DemoFusion's cosine factor φ(t) = ½(1 + cos(π (T − t)/T)): 1 at t = T, 0 at t = 0.</summary>
    public static double Phi(int t, int T) => 0.5 * (1 + Math.Cos(Math.PI * (T - t) / T));
}
