using TorchSharp;
using TorchSharp.Modules;
using Workbench.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Blocks.Lm;

/// <summary>
/// The shared tiny decoder LM (see <see cref="TinyLmConfig"/>). Three forward paths give the same numbers up to float
/// error: fused SDPA (<see cref="Forward"/>, <see cref="Trunk"/>), explicit softmax(QKᵀ/√hd + mask) returning the
/// attention weights (<see cref="Inspect"/>), and incremental decoding over a <see cref="KvCache"/>
/// (<see cref="ForwardCached"/>). Left-padded batches are supported everywhere: a key-padding mask hides pad keys, pad
/// queries attend only to themselves (no empty softmax row), and RoPE uses the true positions.
/// </summary>
/// <remarks>State-dict keys: <c>tok_emb</c> [V,d], <c>blocks.{i}.{attn_norm,wqkv,wo,mlp_norm,w_gate_up,w_down}</c>,
/// <c>norm</c> [d], <c>head</c> [V,d] when untied. The RoPE tables are non-persistent buffers.</remarks>
public sealed class TinyLm : Module<Tensor, Tensor>
{
    // Fields (not readonly): Module.to() replaces parameters and buffers through reflection.
    Parameter tok_emb;                      // (V, d)
    readonly ModuleList<TinyLmBlock> blocks;
    Parameter norm;                         // (d)
    Parameter? head;                        // (V, d), null when tied
    Tensor rope_cos, rope_sin;              // (MaxSeq, hd) non-persistent buffers, in the parameters' dtype

    /// <summary>Builds the model on the CPU in float32 with a deterministic initialisation drawn from a generator
    /// derived from <paramref name="seed"/> (purpose "tinylm-init"); move it with <c>.to(device)</c> / <c>.to(dtype)</c>.</summary>
    public TinyLm(TinyLmConfig cfg, long seed) : base("tiny_lm")
    {
        Config = cfg.Validate();
        using var g = Seeding.TorchGenerator(seed, "tinylm-init");
        tok_emb = Normal([cfg.Vocab, cfg.Dim], cfg.InitStd, g);
        blocks = new ModuleList<TinyLmBlock>(Enumerable.Range(0, cfg.Layers).Select(_ => new TinyLmBlock(cfg, g)).ToArray());
        norm = new Parameter(torch.ones(cfg.Dim, dtype: ScalarType.Float32, device: torch.CPU));
        head = cfg.TieEmbeddings ? null : Normal([cfg.Vocab, cfg.Dim], cfg.InitStd, g);
        (rope_cos, rope_sin) = Tables(ScalarType.Float32, torch.CPU);
        register_buffer(nameof(rope_cos), rope_cos, persistent: false);
        register_buffer(nameof(rope_sin), rope_sin, persistent: false);
        RegisterComponents();
    }

    internal static Parameter Normal(long[] shape, double std, Generator g) =>
        new(torch.empty(shape, dtype: ScalarType.Float32, device: torch.CPU).normal_(0, std, g));

    (Tensor, Tensor) Tables(ScalarType dtype, Device device)
    {
        var (c, s) = LmOps.RopeTables(Config.MaxSeq, Config.HeadDim, Config.RopeTheta);
        var rc = c.to(dtype, device, disposeAfter: true).DetachFromDisposeScope();
        var rs = s.to(dtype, device, disposeAfter: true).DetachFromDisposeScope();
        return (rc, rs);
    }

    /// <summary>Module.to() skips non-persistent buffers (TorchSharp 0.107's named_buffers never yields them), so move the
    /// RoPE tables here: recomputed from float64 in the new dtype (a float32 table cast to float64 would carry float32
    /// error) on the new device, and kept non-persistent (out of the state dict).</summary>
    protected override void _toEpilog(ScalarType? dtype, Device? device, bool non_blocking)
    {
        base._toEpilog(dtype, device, non_blocking);
        var (oc, os) = (rope_cos, rope_sin);
        (rope_cos, rope_sin) = Tables(dtype ?? oc.dtype, device ?? oc.device);
        oc.Dispose(); os.Dispose();
        _internal_buffers[nameof(rope_cos)] = (rope_cos, false);
        _internal_buffers[nameof(rope_sin)] = (rope_sin, false);
    }

    /// <summary>The RoPE cosine table [MaxSeq, hd] (for tests).</summary>
    internal Tensor RopeCos => rope_cos;

    /// <summary>The validated config.</summary>
    public TinyLmConfig Config { get; }

    /// <summary>Observer called with (layer, site, tensor) on every forward path; sites in order are "attn_out" (attention
    /// projection output, before the residual add), "mlp_out" and "block_out" (the residual stream after the block).
    /// The tensor belongs to the forward's dispose scope: keep a copy with
    /// <c>t.detach().clone().DetachFromDisposeScope()</c>. Null = no hook.</summary>
    public Action<int, string, Tensor>? Hook { get; set; }

    /// <summary>dtype of the parameters (the dtype a <see cref="KvCache"/> for this model should use).</summary>
    public ScalarType ParameterDtype => tok_emb.dtype;

    /// <summary>Device of the parameters.</summary>
    public Device ParameterDevice => tok_emb.device;

    /// <summary>[B,T] int64 → logits [B,T,V]; causal, positions 0..T−1, fused SDPA.</summary>
    public override Tensor forward(Tensor ids) => Forward(ids);

    /// <summary>Token embeddings: ids [B,T] int64 → [B,T,d].</summary>
    public Tensor Embed(Tensor ids)
    {
        CheckIds(ids);
        return tok_emb.index_select(0, ids.reshape(-1)).view(ids.shape[0], ids.shape[1], Config.Dim);
    }

    /// <summary>The decoder without the LM head: final RMS-normed hidden states [B,T,d].</summary>
    /// <param name="ids">[B,T] int64.</param>
    /// <param name="keyMask">[B,T] bool, true = real token (left padding); null = no padding.</param>
    /// <param name="positions">[B,T] int64 RoPE positions (pad positions arbitrary). Null: 0..T−1 without a mask,
    /// <see cref="LmUtil.PositionsFromMask"/> with one.</param>
    public Tensor Trunk(Tensor ids, Tensor? keyMask = null, Tensor? positions = null)
    {
        using var scope = torch.NewDisposeScope();
        return Core(Embed(ids), keyMask, positions, null, null, null, null).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="Trunk"/> from input embeddings x [B,T,d] instead of ids (e.g. a multimodal prefix).</summary>
    public Tensor TrunkEmbeds(Tensor x, Tensor? keyMask = null, Tensor? positions = null)
    {
        using var scope = torch.NewDisposeScope();
        return Core(x, keyMask, positions, null, null, null, null).MoveToOuterDisposeScope();
    }

    /// <summary>LM head: [.., d] → [.., V] (the embedding matrix when tied).</summary>
    public Tensor Head(Tensor hidden) => functional.linear(hidden, head ?? tok_emb);

    /// <summary>Head(Trunk(ids, keyMask, positions)): logits [B,T,V].</summary>
    public Tensor Forward(Tensor ids, Tensor? keyMask = null, Tensor? positions = null)
    {
        using var scope = torch.NewDisposeScope();
        return Head(Core(Embed(ids), keyMask, positions, null, null, null, null)).MoveToOuterDisposeScope();
    }

    /// <summary>The unfused path: explicit softmax(QKᵀ/√hd + mask) with the same masks and positions as
    /// <see cref="Forward"/>; returns logits, the residual stream (embedding output and every block's output) and every
    /// layer's attention weights [B,H,T,T]. The caller disposes the trace.</summary>
    public LmTrace Inspect(Tensor ids, Tensor? keyMask = null, Tensor? positions = null)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = new List<Tensor>(); var attn = new List<Tensor>();
        var logits = Head(Core(Embed(ids), keyMask, positions, null, null, hidden, attn));
        return new LmTrace(logits.MoveToOuterDisposeScope(),
            hidden.Select(t => t.MoveToOuterDisposeScope()).ToList(), attn.Select(t => t.MoveToOuterDisposeScope()).ToList());
    }

    /// <summary>Appends ids [B,t] at <paramref name="positions"/> [B,t] to the cache and returns their logits [B,t,V].
    /// The new tokens attend to every real cached token and causally to each other.</summary>
    /// <param name="newKeyMask">[B,t] bool for the new tokens (true = real); null = all real.</param>
    public Tensor ForwardCached(Tensor ids, KvCache cache, Tensor positions, Tensor? newKeyMask = null)
    {
        using var scope = torch.NewDisposeScope();
        var c = cache.Config;
        if (c.Layers != Config.Layers || c.Heads != Config.Heads || c.HeadDim != Config.HeadDim)
            throw new ArgumentException($"ForwardCached: the cache was shaped for {c.Layers} layers × {c.Heads} heads × {c.HeadDim}, the model has {Config.Layers} × {Config.Heads} × {Config.HeadDim}.");
        return Head(Core(Embed(ids), null, positions, cache, newKeyMask, null, null)).MoveToOuterDisposeScope();
    }

    /// <summary>Number of blocks L (for callers that run layers one at a time with <see cref="RunLayer"/>).</summary>
    public int LayerCount => blocks.Count;

    /// <summary>
    /// One decoder block on its own, for callers that change the token set between layers (visual-token withdrawal,
    /// pruning, parallel paths). Same operations as the blocks inside <see cref="Forward"/>: pre-norm attention with RoPE
    /// at <paramref name="positions"/>, then SwiGLU; the <see cref="Hook"/> is called as there.
    /// </summary>
    /// <param name="i">Block index, 0..L−1.</param>
    /// <param name="x">[B,T,d] residual stream entering the block.</param>
    /// <param name="positions">[B,T] int64 RoPE positions of the T tokens.</param>
    /// <param name="allowed">[B|1,1,T,P+T] bool (true = attend) over past + new keys; null = plain causal (no past), or
    /// every key when a single new token follows a past.</param>
    /// <param name="pastK">[B,H,P,hd] keys already cached for this block (RoPE applied), or null.</param>
    /// <param name="pastV">[B,H,P,hd] values, or null.</param>
    /// <param name="weights">Compute the attention explicitly and return its weights [B,H,T,P+T].</param>
    public LayerStep RunLayer(int i, Tensor x, Tensor positions, Tensor? allowed = null, Tensor? pastK = null, Tensor? pastV = null, bool weights = false)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int hd = Config.HeadDim;
        if (i < 0 || i >= blocks.Count) throw new ArgumentOutOfRangeException(nameof(i), $"RunLayer: layer {i} is outside 0..{blocks.Count - 1}.");
        CheckBt(positions, "positions", b, t, ScalarType.Int64);
        if ((pastK is null) != (pastV is null)) throw new ArgumentException("RunLayer: give both pastK and pastV or neither.");
        var flat = positions.reshape(-1);
        var cos = rope_cos.index_select(0, flat).view(b, t, 1, 1, hd);
        var sin = rope_sin.index_select(0, flat).view(b, t, 1, 1, hd);
        var (q, k, v) = Qkv(i, x, cos, sin);
        if (pastK is not null) { k = torch.cat([pastK, k], 2); v = torch.cat([pastV!, v], 2); }   // (B, H, P+T, hd)
        long p = k.shape[2] - t;
        if (allowed is null && p > 0 && t > 1) allowed = LmOps.Allowed(torch.ones(1, p + t, dtype: ScalarType.Bool, device: x.device), null, p, t);
        Tensor o; Tensor? w = null;
        if (!weights)
            o = functional.scaled_dot_product_attention(q, k, v, allowed, is_casual: allowed is null && p == 0);
        else
        {
            var s = q.matmul(k.transpose(-2, -1)) * (1.0 / Math.Sqrt(hd));              // (B, H, T, P+T)
            var mask = allowed ?? (p == 0 ? LmOps.Causal(t, x.device) : null);
            w = (mask is null ? s : s.masked_fill(mask.logical_not(), double.NegativeInfinity)).softmax(-1);
            o = w.matmul(v);
        }
        x = Finish(i, x, o);
        return new LayerStep(x.MoveToOuterDisposeScope(), k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope(), w?.MoveToOuterDisposeScope());
    }

    /// <summary>Block i's pre-norm QKV projection with RoPE on Q and K: each [B,H,T,hd] (every forward path shares it).</summary>
    (Tensor Q, Tensor K, Tensor V) Qkv(int i, Tensor x, Tensor cos, Tensor sin)
    {
        long b = x.shape[0], t = x.shape[1];
        var blk = blocks[i];
        var qkv = functional.linear(LmOps.RmsNorm(x, blk.attn_norm, Config.NormEps), blk.wqkv).view(b, t, 3, Config.Heads, Config.HeadDim);
        var qk = LmOps.ApplyRope(qkv.narrow(2, 0, 2), cos, sin);                       // (B, T, 2, H, hd)
        return (qk.select(2, 0).transpose(1, 2), qk.select(2, 1).transpose(1, 2), qkv.select(2, 2).transpose(1, 2));
    }

    /// <summary>The rest of block i after attention o [B,H,T,hd]: output projection and residual, then the SwiGLU MLP
    /// (silu(xW_g) ⊙ xW_u) and residual, calling the <see cref="Hook"/> at each site.</summary>
    Tensor Finish(int i, Tensor x, Tensor o)
    {
        var blk = blocks[i];
        var a = functional.linear(o.transpose(1, 2).reshape(x.shape[0], x.shape[1], Config.Dim), blk.wo);   // (B, T, d)
        Hook?.Invoke(i, "attn_out", a);
        x = x + a;
        var gu = functional.linear(LmOps.RmsNorm(x, blk.mlp_norm, Config.NormEps), blk.w_gate_up).chunk(2, -1);
        var m = functional.linear(functional.silu(gu[0]) * gu[1], blk.w_down);
        Hook?.Invoke(i, "mlp_out", m);
        x = x + m;
        Hook?.Invoke(i, "block_out", x);
        return x;
    }

    /// <summary>The final RMSNorm (what <see cref="Trunk"/> applies after the last block).</summary>
    public Tensor FinalNorm(Tensor x) => LmOps.RmsNorm(x, norm, Config.NormEps);

    void CheckIds(Tensor ids)
    {
        if (ids.dim() != 2) throw new ArgumentException($"TinyLm: ids must be [B,T], got [{string.Join(",", ids.shape)}].");
        if (ids.dtype != ScalarType.Int64) throw new ArgumentException($"TinyLm: ids must be int64, got {ids.dtype}.");
    }

    static void CheckBt(Tensor? t, string name, long b, long n, ScalarType dtype)
    {
        if (t is null) return;
        if (t.dim() != 2 || t.shape[0] != b || t.shape[1] != n)
            throw new ArgumentException($"TinyLm: {name} must be [{b},{n}], got [{string.Join(",", t.shape)}].");
        if (t.dtype != dtype) throw new ArgumentException($"TinyLm: {name} must be {dtype}, got {t.dtype}.");
    }

    /// <summary>The decoder body shared by every path. x [B,T,d] embeddings. Without a cache: <paramref name="keyMask"/>
    /// pads keys and queries. With a cache: the new tokens are written to it and attend to its filled slots. When
    /// <paramref name="attn"/> is given the attention is computed explicitly and its weights collected.</summary>
    Tensor Core(Tensor x, Tensor? keyMask, Tensor? positions, KvCache? cache, Tensor? newKeyMask, List<Tensor>? hidden, List<Tensor>? attn)
    {
        long b = x.shape[0], t = x.shape[1];
        int hd = Config.HeadDim;
        CheckBt(keyMask, "keyMask", b, t, ScalarType.Bool);
        CheckBt(newKeyMask, "newKeyMask", b, t, ScalarType.Bool);
        CheckBt(positions, "positions", b, t, ScalarType.Int64);
        if (cache is not null && positions is null) throw new ArgumentException("ForwardCached: positions are required.");
        if (positions is null && keyMask is not null) positions = LmUtil.PositionsFromMask(keyMask);

        // RoPE tables at the positions, broadcastable to (B, T, 2, H, hd)
        Tensor cos, sin;
        if (positions is null)
        {
            if (t > Config.MaxSeq) throw new ArgumentException($"TinyLm: sequence length {t} exceeds MaxSeq = {Config.MaxSeq}.");
            cos = rope_cos.narrow(0, 0, t).view(t, 1, 1, hd);
            sin = rope_sin.narrow(0, 0, t).view(t, 1, 1, hd);
        }
        else
        {
            var flat = positions.reshape(-1);
            cos = rope_cos.index_select(0, flat).view(b, t, 1, 1, hd);
            sin = rope_sin.index_select(0, flat).view(b, t, 1, 1, hd);
        }

        // Attention mask (B, 1, t, S) bool, true = attend; null = plain causal
        Tensor? allowed = null;
        long offset = 0;
        if (cache is not null)
        {
            cache.CheckAppend(b, t);
            offset = cache.Length;
            cache.WriteMask(newKeyMask, t);
            var keys = cache.KeyMask.narrow(1, 0, offset + t);
            allowed = t == 1 && newKeyMask is null
                ? keys.view(b, 1, 1, offset + 1)                  // one real new token: every real key is in its past
                : LmOps.Allowed(keys, newKeyMask, offset, t);
        }
        else if (keyMask is not null) allowed = LmOps.Allowed(keyMask, keyMask, 0, t);
        if (attn is not null) allowed ??= LmOps.Causal(t, x.device);

        hidden?.Add(x);
        for (int i = 0; i < blocks.Count; i++)
        {
            var (q, k, v) = Qkv(i, x, cos, sin);
            if (cache is not null) (k, v) = cache.Write(i, k, v);                          // (B, H, S, hd)
            Tensor o;
            if (attn is null)
                o = functional.scaled_dot_product_attention(q, k, v, allowed, is_casual: allowed is null);
            else
            {
                var s = q.matmul(k.transpose(-2, -1)) * (1.0 / Math.Sqrt(hd));           // (B, H, T, S)
                var w = s.masked_fill(allowed!.logical_not(), double.NegativeInfinity).softmax(-1);
                attn.Add(w);
                o = w.matmul(v);
            }
            x = Finish(i, x, o);
            hidden?.Add(x);
        }
        cache?.Advance(t);
        return LmOps.RmsNorm(x, norm, Config.NormEps);
    }
}
