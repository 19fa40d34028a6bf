using TorchSharp;
using Workbench.Blocks.Lm;
using static TorchSharp.torch;

namespace Workbench.Blocks.Rl;

/// <summary>A left-padded batch of prompts: ids [B,P] and a key mask [B,P] (true = real token).</summary>
public sealed class PromptBatch : IDisposable
{
    public Tensor Ids { get; }
    public Tensor Mask { get; }
    public int Count => (int)Ids.shape[0];
    public long Length => Ids.shape[1];

    PromptBatch(Tensor ids, Tensor mask) { Ids = ids; Mask = mask; }

    /// <summary>Left-pads <paramref name="prompts"/>, each repeated <paramref name="repeat"/> times in a row (group layout).</summary>
    public static PromptBatch Create(IReadOnlyList<long[]> prompts, long padId, Device device, int repeat = 1)
    {
        if (prompts.Count == 0) throw new ArgumentException("PromptBatch: no prompts.");
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("PromptBatch: an empty prompt.");
        int p = prompts.Max(x => x.Length), b = prompts.Count * repeat;
        var ids = new long[b * p]; var mask = new bool[b * p];
        for (int i = 0; i < prompts.Count; i++)
            for (int r = 0; r < repeat; r++)
            {
                int row = i * repeat + r, off = p - prompts[i].Length;
                for (int t = 0; t < p; t++)
                {
                    bool real = t >= off;
                    ids[row * p + t] = real ? prompts[i][t - off] : padId;
                    mask[row * p + t] = real;
                }
            }
        return new PromptBatch(torch.tensor(ids, [b, p]).to(device).DetachFromDisposeScope(),
            torch.tensor(mask, [b, p]).to(device).DetachFromDisposeScope());
    }

    /// <summary>The rows at <paramref name="index"/> (a new batch; the caller disposes it).</summary>
    public PromptBatch Select(Tensor index) =>
        new(Ids.index_select(0, index).DetachFromDisposeScope(), Mask.index_select(0, index).DetachFromDisposeScope());

    public void Dispose() { Ids.Dispose(); Mask.Dispose(); }
}

/// <summary>Sampled completions of a prompt batch: tokens [B,N], mask [B,N] (true up to and including EOS).</summary>
public sealed class Rollout(PromptBatch prompts, Tensor tokens, Tensor mask, long[] lengths, int forwardCalls, long tokensProcessed) : IDisposable
{
    public PromptBatch Prompts { get; } = prompts;
    public Tensor Tokens { get; } = tokens;
    public Tensor Mask { get; } = mask;
    public long[] Lengths { get; } = lengths;
    public int ForwardCalls { get; } = forwardCalls;
    public long TokensProcessed { get; } = tokensProcessed;
    public int Count => (int)Tokens.shape[0];
    public long CompletionTokens => Lengths.Sum();

    /// <summary>The rows at <paramref name="keep"/> (in that order) as a new rollout.</summary>
    public Rollout Select(int[] keep)
    {
        using var idx = torch.tensor(keep.Select(i => (long)i).ToArray()).to(Tokens.device);
        return new Rollout(Prompts.Select(idx), Tokens.index_select(0, idx).DetachFromDisposeScope(),
            Mask.index_select(0, idx).DetachFromDisposeScope(), keep.Select(i => Lengths[i]).ToArray(), 0, 0);
    }

    public void Dispose() { Prompts.Dispose(); Tokens.Dispose(); Mask.Dispose(); }
}

/// <summary>Sampling and scoring helpers over a <see cref="TinyLm"/> policy.</summary>
public static class Sequences
{
    /// <summary>Samples completions (takes ownership of <paramref name="prompts"/>).</summary>
    public static Rollout Sample(TinyLm model, PromptBatch prompts, GenerationOptions options, Generator? generator = null)
    {
        if (prompts.Length + options.MaxNewTokens > model.Config.MaxSeq)
            throw new ArgumentException($"Prompt length {prompts.Length} + {options.MaxNewTokens} new tokens exceeds the model's MaxSeq {model.Config.MaxSeq}; raise MaxSeq or shorten completions.");
        var g = Generation.Generate(model, prompts.Ids, prompts.Mask, options, generator);
        return new Rollout(prompts, g.Tokens.DetachFromDisposeScope(), g.Mask.DetachFromDisposeScope(), g.Lengths, g.ForwardCalls, g.TokensProcessed);
    }

    /// <summary>Final hidden states at the positions that predict each completion token: [B,N,D].</summary>
    public static Tensor CompletionHidden(TinyLm trunk, Rollout r)
    {
        using var scope = torch.NewDisposeScope();
        var full = torch.cat([r.Prompts.Ids, r.Tokens], 1);
        var mask = torch.cat([r.Prompts.Mask, r.Mask], 1);
        var h = trunk.Trunk(full, mask, LmUtil.PositionsFromMask(mask));
        return h.narrow(1, r.Prompts.Length - 1, r.Tokens.shape[1]).MoveToOuterDisposeScope();
    }

    /// <summary>log π(token) for every completion token: [B,N] (with grad unless called under no_grad).</summary>
    public static Tensor CompletionLogProbs(TinyLm model, Rollout r)
    {
        using var scope = torch.NewDisposeScope();
        var logits = model.Head(CompletionHidden(model, r));
        return LmUtil.TokenLogProbs(logits, r.Tokens).MoveToOuterDisposeScope();
    }
}
