using Workbench.Runtime;

namespace Workbench.Blocks.Lm;

/// <summary>
/// A GPT-style decoder: RoPE (rotate-half convention, θ = <paramref name="RopeTheta"/>), pre-norm RMSNorm, SwiGLU MLP,
/// no biases, input and output embeddings tied when <paramref name="TieEmbeddings"/>. Shared by the RL papers
/// (cppo.md §5, remax.md) and the multimodal LM of vtw.md, which sets <c>FfnHidden = 704</c> and unties the head.
/// </summary>
/// <param name="Vocab">Token ids are in [0, Vocab).</param>
/// <param name="Dim">Residual width d.</param>
/// <param name="Layers">Number of blocks L.</param>
/// <param name="Heads">Attention heads; <c>Dim % Heads == 0</c> and the head width must be even (RoPE rotates pairs).</param>
/// <param name="MaxSeq">Largest position + 1 (size of the RoPE tables).</param>
/// <param name="FfnHidden">SwiGLU width m; 0 picks round(8/3·Dim) rounded up to a multiple of 8 (LLaMA's rule).</param>
/// <param name="RopeTheta">RoPE base θ: frequency of pair i is θ^(−2i/hd).</param>
/// <param name="NormEps">ε inside RMSNorm's square root.</param>
/// <param name="TieEmbeddings">The LM head reuses the token embedding matrix.</param>
/// <param name="InitStd">Std of the normal initialisation of every matrix (output projections use InitStd/√(2L), as GPT-2).</param>
public sealed record TinyLmConfig(int Vocab, int Dim, int Layers, int Heads, int MaxSeq,
    int FfnHidden = 0, double RopeTheta = 10000, double NormEps = 1e-5,
    bool TieEmbeddings = true, double InitStd = 0.02)
{
    /// <summary>Width of one head, <c>Dim / Heads</c>.</summary>
    public int HeadDim => Dim / Heads;

    /// <summary>The resolved SwiGLU width: <see cref="FfnHidden"/>, or round(8/3·Dim) up to a multiple of 8 when it is 0.</summary>
    public int Hidden => FfnHidden > 0 ? FfnHidden : ((int)Math.Round(8.0 * Dim / 3) + 7) / 8 * 8;

    /// <summary>Throws <see cref="ConfigException"/> naming the field and the fix; returns this config otherwise.</summary>
    public TinyLmConfig Validate()
    {
        const string c = nameof(TinyLmConfig);
        Check.Positive(c, nameof(Vocab), Vocab);
        Check.Positive(c, nameof(Dim), Dim);
        Check.Positive(c, nameof(Layers), Layers);
        Check.Positive(c, nameof(Heads), Heads);
        Check.Positive(c, nameof(MaxSeq), MaxSeq);
        Check.NonNegative(c, nameof(FfnHidden), FfnHidden);
        Check.Positive(c, nameof(RopeTheta), RopeTheta);
        Check.Positive(c, nameof(NormEps), NormEps);
        Check.Positive(c, nameof(InitStd), InitStd);
        Check.That(Dim % Heads == 0, c, nameof(Heads), $"Dim = {Dim} is not divisible by Heads = {Heads}: pick Heads dividing Dim.");
        Check.That(HeadDim % 2 == 0, c, nameof(Dim),
            $"head width Dim / Heads = {HeadDim} is odd; RoPE rotates pairs of channels, so choose Dim and Heads with an even quotient.");
        return this;
    }

    /// <summary>Closed-form parameter count: V·d (embedding) + L·(2d + 4d² + 3dm) + d (final norm) + V·d if untied.</summary>
    public long ParameterCount()
    {
        long v = Vocab, d = Dim, m = Hidden;
        return v * d + Layers * (2 * d + 4 * d * d + 3 * d * m) + d + (TieEmbeddings ? 0 : v * d);
    }
}
