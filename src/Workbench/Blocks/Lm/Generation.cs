using TorchSharp;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Blocks.Lm;

/// <summary>How <see cref="Generation.Generate"/> decodes.</summary>
/// <param name="MaxNewTokens">N ≥ 1 new tokens at most.</param>
/// <param name="Temperature">Logits are divided by it before softmax (ignored when greedy); must be > 0.</param>
/// <param name="TopP">Nucleus mass in (0, 1]: keep the smallest set of most likely tokens whose cumulative probability
/// reaches TopP (always at least the top one); 1 = no truncation.</param>
/// <param name="Greedy">Argmax instead of sampling.</param>
/// <param name="EosId">End-of-sequence id; −1 = never stop.</param>
/// <param name="PadId">Written after a row's EOS.</param>
/// <param name="UseCache">KV-cached decoding; false recomputes the whole sequence every step (the reference path).</param>
public sealed record GenerationOptions(int MaxNewTokens, double Temperature = 1.0, double TopP = 1.0, bool Greedy = false,
    long EosId = -1, long PadId = 0, bool UseCache = true)
{
    /// <summary>Throws <see cref="ConfigException"/> naming the bad field.</summary>
    public GenerationOptions Validate()
    {
        const string c = nameof(GenerationOptions);
        Check.Positive(c, nameof(MaxNewTokens), MaxNewTokens);
        if (!Greedy) Check.Positive(c, nameof(Temperature), Temperature);
        Check.That(TopP > 0 && TopP <= 1, c, nameof(TopP), $"{TopP} must be in (0, 1].");
        Check.NonNegative(c, nameof(PadId), PadId);
        return this;
    }
}

/// <summary>The output of <see cref="Generation.Generate"/>; tensors on the model's device, disposed with the record.</summary>
/// <param name="Tokens">[B,N] int64: generated tokens; positions after a row's EOS (and after an early stop) are PadId.</param>
/// <param name="Mask">[B,N] bool: true for generated tokens up to and including the row's first EOS.</param>
/// <param name="Lengths">Per row, the number of true entries of <paramref name="Mask"/>.</param>
/// <param name="ForwardCalls">Model forward calls made.</param>
/// <param name="TokensProcessed">Σ over forward calls of B × (tokens fed), pads included (compute accounting).</param>
public sealed record GenerationResult(Tensor Tokens, Tensor Mask, long[] Lengths, int ForwardCalls, long TokensProcessed) : IDisposable
{
    /// <summary>Disposes <see cref="Tokens"/> and <see cref="Mask"/>.</summary>
    public void Dispose() { Tokens.Dispose(); Mask.Dispose(); }
}

/// <summary>Autoregressive decoding for <see cref="TinyLm"/> from left-padded prompts.</summary>
public static class Generation
{
    /// <summary>
    /// Decodes up to <c>MaxNewTokens</c> tokens after prompts [B,P] (int64, LEFT-padded; every row needs ≥ 1 real token)
    /// with promptMask [B,P] bool (true = real). Cached: one <see cref="TinyLm.ForwardCached"/> over the whole prompt, then
    /// one per new token at position = real prompt length + step. Runs under no_grad and stops early when every row has
    /// emitted EOS. Sampling draws from <paramref name="generator"/> (null = torch's global RNG).
    /// </summary>
    public static GenerationResult Generate(TinyLm model, Tensor prompts, Tensor promptMask, GenerationOptions options, torch.Generator? generator = null)
    {
        var o = options.Validate();
        if (prompts.dim() != 2 || prompts.dtype != ScalarType.Int64) throw new ArgumentException($"Generate: prompts must be [B,P] int64, got [{string.Join(",", prompts.shape)}] {prompts.dtype}.");
        if (promptMask.dtype != ScalarType.Bool || !promptMask.shape.SequenceEqual(prompts.shape)) throw new ArgumentException("Generate: promptMask must be bool with the prompts' shape.");
        long b = prompts.shape[0], p = prompts.shape[1];
        int n = o.MaxNewTokens;
        if (p + n - 1 > model.Config.MaxSeq)
            throw new ArgumentException($"Generate: prompt length {p} + MaxNewTokens {n} − 1 exceeds the model's MaxSeq = {model.Config.MaxSeq}.");

        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        if (!promptMask.select(1, p - 1).all().item<bool>())
            throw new ArgumentException("Generate: prompts must be LEFT-padded (the last column of promptMask must be all true).");
        var dev = prompts.device;
        var tokens = torch.full([b, n], o.PadId, dtype: ScalarType.Int64, device: dev);
        var mask = torch.zeros([b, n], dtype: ScalarType.Bool, device: dev);
        var finished = torch.zeros([b], dtype: ScalarType.Bool, device: dev);
        bool useEos = o.EosId >= 0;
        int calls = 0; long processed = 0;

        using var cache = o.UseCache ? new KvCache(model.Config, b, p + n - 1, dev, model.ParameterDtype) : null;
        Tensor seq = prompts, seqMask = promptMask;     // uncached path: the growing sequence
        Tensor? last = null;                             // cached path: logits [B,V] for the next token
        Tensor? nextPos = null;                          // cached path: [B,1] position of the next token
        if (cache is not null)
        {
            using (var s0 = torch.NewDisposeScope())
            {
                var logits = model.ForwardCached(prompts, cache, LmUtil.PositionsFromMask(promptMask), promptMask);
                last = logits.select(1, p - 1).MoveToOuterDisposeScope();
            }
            nextPos = promptMask.sum(1, keepdim: true, type: ScalarType.Int64);
            calls++; processed += b * p;
        }

        for (int step = 0; step < n; step++)
        {
            using var st = torch.NewDisposeScope();
            Tensor lg;
            if (cache is null)
            {
                lg = model.Forward(seq, seqMask).select(1, -1);
                calls++; processed += b * seq.shape[1];
            }
            else lg = last!;
            var tok = Sample(lg, o, generator);                                           // (B)
            if (useEos) tok = torch.where(finished, torch.tensor(o.PadId, device: dev), tok);
            tokens.select(1, step).copy_(tok);
            mask.select(1, step).copy_(finished.logical_not());
            if (useEos) finished.logical_or_(tok.eq(o.EosId));
            if (step == n - 1 || (useEos && finished.all().item<bool>())) break;

            if (cache is null)
            {
                var newSeq = torch.cat([seq, tok.unsqueeze(1)], 1).MoveToOuterDisposeScope();
                var newMask = torch.cat([seqMask, torch.ones([b, 1], dtype: ScalarType.Bool, device: dev)], 1).MoveToOuterDisposeScope();
                if (!ReferenceEquals(seq, prompts)) { seq.Dispose(); seqMask.Dispose(); }
                (seq, seqMask) = (newSeq, newMask);
            }
            else
            {
                var next = model.ForwardCached(tok.unsqueeze(1), cache, nextPos!).select(1, 0).MoveToOuterDisposeScope();
                last!.Dispose(); last = next;
                nextPos!.add_(1);
                calls++; processed += b;
            }
        }
        var lengths = mask.sum(1, type: ScalarType.Int64).cpu().data<long>().ToArray();
        return new GenerationResult(tokens.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope(), lengths, calls, processed);
    }

    /// <summary>Picks one token per row from logits [B,V] → [B] int64: argmax when greedy; otherwise softmax(logits/T),
    /// nucleus truncation to TopP, and torch.multinomial with <paramref name="generator"/>. When the generator lives on
    /// another device than the logits (a CPU generator with a CUDA model), the draw happens on the generator's device.</summary>
    public static Tensor Sample(Tensor logits, GenerationOptions options, torch.Generator? generator = null)
    {
        using var scope = torch.NewDisposeScope();
        if (options.Greedy) return logits.argmax(-1).MoveToOuterDisposeScope();
        var dev = logits.device;
        var l = logits.dtype == ScalarType.Float64 ? logits : logits.to_type(ScalarType.Float32);
        if (generator is not null && generator.device.type != dev.type) l = l.to(generator.device);
        var probs = (l / options.Temperature).softmax(-1);
        Tensor pick;
        if (options.TopP < 1)
        {
            var (sorted, index) = probs.sort(-1, descending: true);
            var before = sorted.cumsum(-1) - sorted;                  // mass of the strictly more likely tokens
            var kept = sorted.masked_fill(before.ge(options.TopP), 0);  // the top token always has before = 0 < TopP
            pick = index.gather(-1, torch.multinomial(kept, 1, generator: generator)).squeeze(-1);
        }
        else pick = torch.multinomial(probs, 1, generator: generator).squeeze(-1);
        return pick.to(dev).MoveToOuterDisposeScope();
    }
}
