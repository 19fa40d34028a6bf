using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Blocks.Lm;

/// <summary>
/// Preallocated keys and values for <see cref="TinyLm.ForwardCached"/>: per layer K and V buffers [B,H,MaxLen,hd]
/// written in place (no concatenation), the number of filled slots <see cref="Length"/>, and a key-padding mask
/// [B,MaxLen] (true = real token) over the filled slots. Keys are stored after RoPE, at the positions they were given.
/// The cache owns its buffers (they live outside any dispose scope); dispose it.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] keys, values;

    /// <summary>Allocates zeroed buffers for <paramref name="batch"/> rows and up to <paramref name="maxLen"/> slots.</summary>
    public KvCache(TinyLmConfig cfg, long batch, long maxLen, Device device, ScalarType dtype)
    {
        cfg.Validate();
        if (batch <= 0) throw new ArgumentException($"KvCache: batch = {batch} must be > 0.");
        if (maxLen <= 0) throw new ArgumentException($"KvCache: maxLen = {maxLen} must be > 0.");
        Config = cfg; Batch = batch; MaxLen = maxLen;
        keys = new Tensor[cfg.Layers]; values = new Tensor[cfg.Layers];
        for (int i = 0; i < cfg.Layers; i++)
        {
            keys[i] = torch.zeros([batch, cfg.Heads, maxLen, cfg.HeadDim], dtype: dtype, device: device).DetachFromDisposeScope();
            values[i] = torch.zeros([batch, cfg.Heads, maxLen, cfg.HeadDim], dtype: dtype, device: device).DetachFromDisposeScope();
        }
        KeyMask = torch.zeros([batch, maxLen], dtype: ScalarType.Bool, device: device).DetachFromDisposeScope();
    }

    /// <summary>The model config the buffers were shaped for.</summary>
    public TinyLmConfig Config { get; }
    /// <summary>Rows B.</summary>
    public long Batch { get; }
    /// <summary>Capacity in slots.</summary>
    public long MaxLen { get; }
    /// <summary>Filled slots (the same for every row; pads occupy slots too).</summary>
    public long Length { get; private set; }
    /// <summary>[B, MaxLen] bool: true where a filled slot holds a real token. Slots ≥ <see cref="Length"/> are false.</summary>
    public Tensor KeyMask { get; }

    /// <summary>Layer <paramref name="layer"/>'s key buffer [B,H,MaxLen,hd] (only the first <see cref="Length"/> slots are meaningful).</summary>
    public Tensor Keys(int layer) => keys[layer];
    /// <summary>Layer <paramref name="layer"/>'s value buffer [B,H,MaxLen,hd].</summary>
    public Tensor Values(int layer) => values[layer];

    /// <summary>Empties the cache (the buffers are kept).</summary>
    public void Reset()
    {
        Length = 0;
        using (torch.no_grad()) KeyMask.zero_();
    }

    /// <summary>Throws unless <paramref name="t"/> more slots fit and the batch matches.</summary>
    internal void CheckAppend(long batch, long t)
    {
        if (batch != Batch) throw new ArgumentException($"KvCache: the input has {batch} rows, the cache {Batch}.");
        if (Length + t > MaxLen) throw new ArgumentException($"KvCache: appending {t} tokens to {Length} exceeds MaxLen = {MaxLen}.");
    }

    /// <summary>Writes new keys/values [B,H,t,hd] of one layer at slots [Length, Length+t) and returns the filled views
    /// [B,H,Length+t,hd].</summary>
    internal (Tensor K, Tensor V) Write(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        keys[layer].narrow(2, Length, t).copy_(k);
        values[layer].narrow(2, Length, t).copy_(v);
        return (keys[layer].narrow(2, 0, Length + t), values[layer].narrow(2, 0, Length + t));
    }

    /// <summary>Records the key mask of <paramref name="t"/> new slots (null = all real).</summary>
    internal void WriteMask(Tensor? newKeyMask, long t)
    {
        var slot = KeyMask.narrow(1, Length, t);
        if (newKeyMask is null) slot.fill_(true); else slot.copy_(newKeyMask);
    }

    /// <summary>Marks <paramref name="t"/> more slots as filled (after every layer wrote them).</summary>
    internal void Advance(long t) => Length += t;

    /// <summary>Frees the buffers.</summary>
    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
        KeyMask.Dispose();
    }
}
