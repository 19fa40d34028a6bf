using TorchSharp;
using TorchSharp.Modules;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Vision;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Blocks.Multimodal;

/// <summary>
/// The shared tiny multimodal LM "T" (vtw.md §5): a patch-linear vision encoder ([CLS], learned 2D positions, bidirectional
/// <see cref="VitBlock"/>s), a Linear-GELU-Linear projector to the LM width, and <see cref="TinyLm"/> fed through its
/// embeddings. Paper-neutral: VTW, ParVTS, MSD and EDA build on it.
/// </summary>
/// <param name="Data">The SceneVQA world (image size, patch, grid).</param>
/// <param name="Lm">The decoder (Vocab is set from the tokenizer by <see cref="MultimodalLm"/>).</param>
/// <param name="VisionDim">Encoder width (128; test 32).</param>
/// <param name="VisionLayers">Encoder blocks (2; test 1).</param>
/// <param name="VisionHeads">Encoder heads (4).</param>
public sealed record MultimodalConfig(SceneVqaConfig Data, TinyLmConfig Lm, int VisionDim = 128, int VisionLayers = 2, int VisionHeads = 4)
{
    /// <summary>Model T: L = 8, d = 256, 8 heads, SwiGLU m = 704, untied head, 48 px, 144 visual tokens.</summary>
    public static MultimodalConfig Gpu { get; } = new(SceneVqaConfig.Gpu,
        new TinyLmConfig(Vocab: 0, Dim: 256, Layers: 8, Heads: 8, MaxSeq: 256, FfnHidden: 704, TieEmbeddings: false));
    /// <summary>Test: 24 px, 36 visual tokens, L = 4, d = 64, vision 1 layer at width 32.</summary>
    public static MultimodalConfig Test { get; } = new(SceneVqaConfig.Test,
        new TinyLmConfig(Vocab: 0, Dim: 64, Layers: 4, Heads: 4, MaxSeq: 160, TieEmbeddings: false), VisionDim: 32, VisionLayers: 1);

    public MultimodalConfig Validate()
    {
        const string n = nameof(MultimodalConfig);
        Data.Validate();
        Check.Positive(n, nameof(VisionDim), VisionDim); Check.Positive(n, nameof(VisionLayers), VisionLayers);
        Check.That(VisionDim % VisionHeads == 0, n, nameof(VisionHeads), $"VisionDim = {VisionDim} is not divisible by {VisionHeads} heads.");
        return this;
    }
}

/// <summary>Where the parts of a prompt sit: S system tokens (with &lt;bos&gt;), then Nv visual tokens, then text.</summary>
public sealed record PromptLayout(int System, int Visual)
{
    public int TextStart => System + Visual;
}

/// <summary>The sequence between two layers: hidden states X [B,T,d], RoPE positions [B,T], and Orig [B,T], the column of
/// each token in the full prompt (so kept tokens can be found after a drop).</summary>
public sealed record MmState(Tensor X, Tensor Positions, Tensor Orig) : IDisposable
{
    public long Length => X.shape[1];
    public void Dispose() { X.Dispose(); Positions.Dispose(); Orig.Dispose(); }
}

/// <summary>What a prefill produced: last-prompt-token logits [B,V] and post-norm hidden [B,d]; optionally the attention
/// weights (heads kept) per layer, the residual stream at the last prompt token per layer (L+1 entries, [B,d]), the per-layer
/// K/V (a cache for decoding) and the token count / key count each layer ran with (for MAC counting).</summary>
public sealed record MmRun(Tensor LastLogits, Tensor LastHidden, List<Tensor> Attention, List<Tensor> LastResidual,
    List<(Tensor K, Tensor V)> Kv, long[] TokensPerLayer, long[] KeysPerLayer, long NextPosition) : IDisposable
{
    public void Dispose()
    {
        LastLogits.Dispose(); LastHidden.Dispose();
        foreach (var t in Attention) t.Dispose();
        foreach (var t in LastResidual) t.Dispose();
        foreach (var (k, v) in Kv) { k.Dispose(); v.Dispose(); }
    }
}

/// <summary>
/// A per-layer token plan for <see cref="MultimodalLm.Prefill"/>: before layer i, <see cref="Keep"/> may return the
/// columns of the current sequence to keep ([B,T'] int64, same T' per row, increasing order); <see cref="Mask"/> may return an
/// attention mask [B|1,1,T,T] (true = attend) for layer i instead of the causal one; <see cref="NeedWeights"/> asks for layer
/// i's attention weights, passed to the next <see cref="Keep"/> call. Position ids travel with the tokens unless Keep renumbers them.
/// </summary>
public sealed class TokenPlan
{
    public Func<int, MmState, Tensor?, Tensor?>? Keep { get; init; }
    public Func<int, MmState, Tensor?>? Mask { get; init; }
    public Func<int, bool>? NeedWeights { get; init; }
    /// <summary>Renumber the kept tokens 0..T'−1 after a drop (VTW's contiguous / "shift" mode) instead of keeping their ids.</summary>
    public bool ContiguousPositions { get; init; }
    public static TokenPlan None { get; } = new();
}

/// <summary>The model. Build with a seed; <see cref="MultimodalTraining.TrainOrLoad"/> trains it (cached).</summary>
public sealed class MultimodalLm : Module<Tensor, Tensor>
{
    readonly Linear patch;
    readonly Parameter cls, pos;
    readonly ModuleList<VitBlock> vblocks;
    readonly LayerNorm vnorm;
    readonly Linear proj1, proj2;
    public readonly TinyLm lm;

    public MultimodalConfig Config { get; }
    public WordTokenizer Tokenizer { get; }
    public PromptLayout Layout { get; }
    /// <summary>Ids of &lt;bos&gt; + the system prompt (the S tokens before the image).</summary>
    public long[] SystemIds { get; }

    public MultimodalLm(MultimodalConfig cfg, long seed) : base("mmlm")
    {
        Config = cfg.Validate();
        Tokenizer = SceneVqa.Tokenizer();
        var lmCfg = (cfg.Lm with { Vocab = Tokenizer.VocabSize }).Validate();
        SystemIds = [Tokenizer.BosId, .. Tokenizer.Encode(SceneVqa.SystemText)];
        Layout = new PromptLayout(SystemIds.Length, cfg.Data.VisualTokens);
        using var g = Seeding.TorchGenerator(seed, "mmlm-vision-init");
        int p = cfg.Data.Patch, dv = cfg.VisionDim;
        torch.random.manual_seed(Seeding.DeriveSeed(seed, "mmlm-modules"));
        patch = Linear(3L * p * p, dv);
        cls = new Parameter(torch.zeros(1, 1, dv));
        pos = new Parameter(torch.empty(1, cfg.Data.VisualTokens + 1, dv).normal_(0, 0.02, g));
        vblocks = new ModuleList<VitBlock>(Enumerable.Range(0, cfg.VisionLayers).Select(i => new VitBlock($"vblock{i}", dv, cfg.VisionHeads, 2 * dv)).ToArray());
        vnorm = LayerNorm(dv);
        proj1 = Linear(dv, lmCfg.Dim);
        proj2 = Linear(lmCfg.Dim, lmCfg.Dim);
        lm = new TinyLm(lmCfg, seed);
        RegisterComponents();
    }

    public TinyLm Lm => lm;
    public int Layers => lm.Config.Layers;

    /// <summary>Not used: call <see cref="EncodeImages"/> / <see cref="Prefill"/>.</summary>
    public override Tensor forward(Tensor images) => EncodeImages(images).Tokens;

    /// <summary>Images [B,3,H,W] → visual tokens [B,Nv,d] (projected) and the last encoder layer's [CLS]→patch attention
    /// [B,Nv] (heads averaged), the saliency ParVTS uses.</summary>
    public (Tensor Tokens, Tensor ClsAttention) EncodeImages(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        int p = Config.Data.Patch, n = Config.Data.PatchesPerSide;
        long b = images.shape[0];
        if (images.dtype != patch.weight!.dtype) images = images.to_type(patch.weight!.dtype);
        var x = images.view(b, 3, n, p, n, p).permute(0, 2, 4, 1, 3, 5).reshape(b, n * n, 3 * p * p);   // (B, Nv, 3·p·p) row-major patches
        var t = torch.cat([cls.expand(b, -1, -1), patch.forward(x)], 1) + pos;                          // (B, 1+Nv, dv)
        Tensor w = null!;
        foreach (var blk in vblocks) (t, w) = blk.ForwardInspect(t);
        var sal = w.mean([1L]).select(1, 0).narrow(1, 1, n * n);                                        // (B, Nv) CLS → patches
        var v = proj2.forward(functional.gelu(proj1.forward(vnorm.forward(t.narrow(1, 1, n * n)))));
        return (v.MoveToOuterDisposeScope(), sal.MoveToOuterDisposeScope());
    }

    /// <summary>Prompt embeddings [B, S+Nv+T, d]: system ids, visual tokens, then text ids [B,T] (right-padded).</summary>
    public Tensor Embeds(Tensor visual, Tensor textIds)
    {
        using var scope = torch.NewDisposeScope();
        long b = textIds.shape[0];
        var sys = lm.Embed(torch.tensor(SystemIds, device: textIds.device).unsqueeze(0)).expand(b, -1, -1);
        return torch.cat([sys, visual.to(sys.dtype), lm.Embed(textIds)], 1).MoveToOuterDisposeScope();
    }

    /// <summary>The starting state of a prefill: positions and original columns 0..n−1.</summary>
    public static MmState Start(Tensor x)
    {
        long b = x.shape[0], n = x.shape[1];
        var ar = torch.arange(n, device: x.device).unsqueeze(0).expand(b, -1).contiguous();
        return new MmState(x, ar, ar.clone());
    }

    /// <summary>
    /// Runs layers [from, to) of the decoder on <paramref name="state"/> under <paramref name="plan"/>. Returns the new state;
    /// records attention / residual / K,V / token counts into <paramref name="rec"/> when given.
    /// </summary>
    public MmState RunLayers(MmState state, int from, int to, TokenPlan plan, MmRecorder? rec = null)
    {
        using var scope = torch.NewDisposeScope();
        Tensor? prevW = null;
        var st = state;
        for (int i = from; i < to; i++)
        {
            var keep = plan.Keep?.Invoke(i, st, prevW);
            if (keep is not null)
            {
                var idx3 = keep.unsqueeze(-1).expand(-1, -1, st.X.shape[2]);
                var pos = plan.ContiguousPositions ? torch.arange(keep.shape[1], device: keep.device).unsqueeze(0).expand(keep.shape[0], -1) : st.Positions.gather(1, keep);
                st = new MmState(st.X.gather(1, idx3), pos, st.Orig.gather(1, keep));
            }
            var mask = plan.Mask?.Invoke(i, st);
            bool need = rec?.Attention is not null || (plan.NeedWeights?.Invoke(i) ?? false);
            var step = lm.RunLayer(i, st.X, st.Positions, mask, weights: need);
            prevW = step.Weights;
            rec?.Record(i, st, step);
            st = st with { X = step.X };
        }
        return new MmState(st.X.MoveToOuterDisposeScope(), st.Positions.MoveToOuterDisposeScope(), st.Orig.MoveToOuterDisposeScope());
    }

    /// <summary>Column of each row's last prompt token (original column <paramref name="lastOrig"/> [B]) in a state after drops.</summary>
    public static Tensor ColumnOf(MmState st, Tensor lastOrig) => st.Orig.eq(lastOrig.unsqueeze(1)).to_type(ScalarType.Int32).argmax(1);

    /// <summary>
    /// A full prefill under <paramref name="plan"/>: x [B,n,d] prompt embeddings, <paramref name="lastOrig"/> [B] the column of
    /// each row's last prompt token. Returns its logits and hidden state, and what <paramref name="collect"/> asked for.
    /// </summary>
    public MmRun Prefill(Tensor x, Tensor lastOrig, TokenPlan? plan = null, MmCollect collect = MmCollect.None)
    {
        using var scope = torch.NewDisposeScope();
        var rec = new MmRecorder(Layers, collect, lastOrig);
        var st = RunLayers(Start(x), 0, Layers, plan ?? TokenPlan.None, rec);
        var col = ColumnOf(st, lastOrig).to_type(ScalarType.Int64);
        var last = st.X.gather(1, col.view(-1, 1, 1).expand(-1, 1, st.X.shape[2])).squeeze(1);         // (B, d)
        var h = lm.FinalNorm(last);
        if (rec.LastResidual is not null) rec.LastResidual.Add(last);
        var logits = lm.Head(h);
        long next = st.Positions.max().ToInt64() + 1;
        return new MmRun(logits.MoveToOuterDisposeScope(), h.MoveToOuterDisposeScope(),
            rec.Attention?.Select(t => t.MoveToOuterDisposeScope()).ToList() ?? [],
            rec.LastResidual?.Select(t => t.MoveToOuterDisposeScope()).ToList() ?? [],
            rec.Kv?.Select(kv => (kv.K.MoveToOuterDisposeScope(), kv.V.MoveToOuterDisposeScope())).ToList() ?? [],
            rec.Tokens, rec.Keys, next);
    }

    /// <summary>One cached decoding step: ids [B,1] at <paramref name="position"/>; every layer's cache (any length per layer,
    /// e.g. without the withdrawn visual tokens in layers ≥ K) is extended in place. Returns logits [B,V].
    /// Rows must have equal prompt lengths (no padding in the cache).</summary>
    public Tensor DecodeStep(Tensor ids, long position, List<(Tensor K, Tensor V)> cache)
    {
        using var scope = torch.NewDisposeScope();
        var x = lm.Embed(ids);
        var pos = torch.full(new long[] { ids.shape[0], 1 }, position, dtype: ScalarType.Int64, device: ids.device);
        for (int i = 0; i < Layers; i++)
        {
            var step = lm.RunLayer(i, x, pos, null, cache[i].K, cache[i].V);
            cache[i].K.Dispose(); cache[i].V.Dispose();
            cache[i] = (step.K.DetachFromDisposeScope(), step.V.DetachFromDisposeScope());
            x = step.X;
        }
        return lm.Head(lm.FinalNorm(x.squeeze(1))).MoveToOuterDisposeScope();
    }
}

/// <summary>What <see cref="MultimodalLm.Prefill"/> collects besides logits.</summary>
[Flags]
public enum MmCollect { None = 0, Attention = 1, LastResidual = 2, Cache = 4 }

/// <summary>Collects per-layer records during <see cref="MultimodalLm.RunLayers"/>.</summary>
public sealed class MmRecorder
{
    public List<Tensor>? Attention { get; }
    public List<Tensor>? LastResidual { get; }
    public List<(Tensor K, Tensor V)>? Kv { get; }
    public long[] Tokens { get; }
    public long[] Keys { get; }
    readonly Tensor lastOrig;

    public MmRecorder(int layers, MmCollect c, Tensor lastOrig)
    {
        this.lastOrig = lastOrig;
        Tokens = new long[layers]; Keys = new long[layers];
        if (c.HasFlag(MmCollect.Attention)) Attention = [];
        if (c.HasFlag(MmCollect.LastResidual)) LastResidual = [];
        if (c.HasFlag(MmCollect.Cache)) Kv = [];
    }

    public void Record(int layer, MmState input, LayerStep step)
    {
        Tokens[layer] = input.Length; Keys[layer] = step.K.shape[2];
        // The step's tensors belong to RunLayers' scope: move them one scope out, to the caller of RunLayers.
        if (Attention is not null && step.Weights is not null) Attention.Add(step.Weights.MoveToOuterDisposeScope());
        if (LastResidual is not null)
        {
            var col = MultimodalLm.ColumnOf(input, lastOrig).to_type(ScalarType.Int64);
            LastResidual.Add(input.X.gather(1, col.view(-1, 1, 1).expand(-1, 1, input.X.shape[2])).squeeze(1).MoveToOuterDisposeScope());
        }
        Kv?.Add((step.K.MoveToOuterDisposeScope(), step.V.MoveToOuterDisposeScope()));
    }
}
