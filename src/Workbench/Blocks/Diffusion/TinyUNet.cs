using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Blocks.Diffusion;

/// <summary>
/// TinyUNet's shape (accdiffusion.md §5): base side <c>Resolution</c>, channels per level, res-blocks per level,
/// self + cross attention at the levels in <c>AttnLevels</c> (level i has side Resolution / 2^i), text encoder = token
/// embeddings (d = <c>TextDim</c>) + <c>TextLayers</c> pre-norm transformer layers.
/// </summary>
public sealed record UNetConfig(int Resolution, int[] Channels, int ResBlocks, int[] AttnLevels, int TextDim, int TextLayers,
    int Heads = 4, int Vocab = 32, int PromptLength = 6)
{
    public static UNetConfig Gpu { get; } = new(32, [64, 128, 192], 2, [1, 2], 128, 2);
    public static UNetConfig Test { get; } = new(16, [16, 32], 1, [1], 32, 1, Heads: 2);

    /// <summary>The side of the query grid at a level.</summary>
    public int SideAt(int level) => Resolution >> level;

    public UNetConfig Validate()
    {
        const string n = nameof(UNetConfig);
        Runtime.Check.That(Channels.Length >= 1, n, nameof(Channels), "needs at least one level.");
        Runtime.Check.That(Resolution % (1 << (Channels.Length - 1)) == 0, n, nameof(Resolution), $"{Resolution} is not divisible by 2^{Channels.Length - 1}.");
        Runtime.Check.That(AttnLevels.All(l => l >= 0 && l < Channels.Length), n, nameof(AttnLevels), "levels must exist.");
        Runtime.Check.That(Channels.All(c => c % Heads == 0 && c % 8 == 0) && TextDim % Heads == 0, n, nameof(Heads), "channels must divide by the heads and by 8 (GroupNorm).");
        Runtime.Check.Positive(n, nameof(ResBlocks), ResBlocks);
        return this;
    }
}

/// <summary>
/// Accumulates cross-attention probabilities of the layers whose query grid has side <see cref="Side"/> (down and up blocks
/// only, as AccDiffusion's store): Sum is [B, Side·Side, L] over layers, heads and calls; Count the number of maps added.
/// <see cref="Rows"/> picks which batch rows are kept (the conditional half under CFG).
/// </summary>
public sealed class AttnStore(int side) : IDisposable
{
    public int Side { get; } = side;
    public (long Start, long Length)? Rows { get; set; }
    public Tensor? Sum { get; private set; }
    public int Count { get; private set; }

    internal void Add(Tensor probs /* [B, heads, HW, L] */)
    {
        using var _ = torch.NewDisposeScope();
        var p = probs.mean([1L]);
        if (Rows is { } r) p = p.narrow(0, r.Start, r.Length);
        p = p.detach().cpu();
        if (Sum is null) Sum = p.clone().DetachFromDisposeScope();
        else Sum.add_(p);
        Count++;
    }

    /// <summary>The mean map [B, Side, Side, L].</summary>
    public Tensor Mean()
    {
        if (Sum is null) throw new InvalidOperationException("No attention was stored (no layer at this side?).");
        return (Sum / Count).view(Sum.shape[0], Side, Side, Sum.shape[2]);
    }

    public void Dispose() => Sum?.Dispose();
}

static class Gn
{
    /// <summary>GroupNorm with weight 1 and bias 0 set explicitly (TorchSharp 0.107 can leave them uninitialised).</summary>
    public static GroupNorm Make(long channels)
    {
        var g = GroupNorm(Math.Min(8, channels), channels);
        using (torch.no_grad()) { g.weight!.fill_(1); g.bias!.fill_(0); }
        return g;
    }
}

sealed class ResBlock : Module<Tensor, Tensor, Tensor>
{
    readonly GroupNorm n1, n2;
    readonly Conv2d c1, c2;
    readonly Linear temb;
    readonly Conv2d? skip;

    public ResBlock(string name, long cin, long cout, long tdim) : base(name)
    {
        n1 = Gn.Make(cin); c1 = Conv2d(cin, cout, 3, padding: 1);
        temb = Linear(tdim, cout);
        n2 = Gn.Make(cout); c2 = Conv2d(cout, cout, 3, padding: 1);
        if (cin != cout) skip = Conv2d(cin, cout, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor t)
    {
        var h = c1.forward(functional.silu(n1.forward(x)));
        h = h + temb.forward(functional.silu(t)).unsqueeze(-1).unsqueeze(-1);
        h = c2.forward(functional.silu(n2.forward(h)));
        return (skip is null ? x : skip.forward(x)) + h;
    }
}

/// <summary>Self-attention + cross-attention to the prompt + feed-forward on the pixel tokens of one level.</summary>
sealed class AttnBlock : nn.Module
{
    readonly GroupNorm norm;
    readonly Conv2d projIn, projOut;
    readonly LayerNorm ln1, ln2, ln3;
    readonly Linear qkv, selfOut, q, kv, crossOut, ff1, ff2;
    readonly int heads;
    public int Side { get; }
    public bool InMid { get; }

    public AttnBlock(string name, long c, long ctxDim, int heads, int side, bool inMid) : base(name)
    {
        this.heads = heads; Side = side; InMid = inMid;
        norm = Gn.Make(c); projIn = Conv2d(c, c, 1);
        ln1 = LayerNorm(c); qkv = Linear(c, 3 * c); selfOut = Linear(c, c);
        ln2 = LayerNorm(c); q = Linear(c, c); kv = Linear(ctxDim, 2 * c); crossOut = Linear(c, c);
        ln3 = LayerNorm(c); ff1 = Linear(c, 4 * c); ff2 = Linear(4 * c, c);
        projOut = Conv2d(c, c, 1);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor ctx, AttnStore? store)
    {
        long B = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], d = C / heads;
        var h = projIn.forward(norm.forward(x)).flatten(2).transpose(1, 2);             // (B, HW, C)
        var s = qkv.forward(ln1.forward(h)).view(B, H * W, 3, heads, d).permute(2, 0, 3, 1, 4); // (3, B, heads, HW, d)
        var a = functional.scaled_dot_product_attention(s[0], s[1], s[2]);               // (B, heads, HW, d)
        h = h + selfOut.forward(a.transpose(1, 2).reshape(B, H * W, C));
        var qq = q.forward(ln2.forward(h)).view(B, H * W, heads, d).transpose(1, 2);     // (B, heads, HW, d)
        var k2 = kv.forward(ctx).view(B, ctx.shape[1], 2, heads, d).permute(2, 0, 3, 1, 4); // (2, B, heads, L, d)
        var probs = (qq.matmul(k2[0].transpose(-2, -1)) / Math.Sqrt(d)).softmax(-1);     // (B, heads, HW, L)
        if (store is not null && !InMid && store.Side == H) store.Add(probs);
        h = h + crossOut.forward(probs.matmul(k2[1]).transpose(1, 2).reshape(B, H * W, C));
        h = h + ff2.forward(functional.gelu(ff1.forward(ln3.forward(h))));
        return x + projOut.forward(h.transpose(1, 2).reshape(B, C, H, W));
    }
}

sealed class TextLayer : nn.Module
{
    readonly LayerNorm ln1, ln2;
    readonly Linear qkv, proj, ff1, ff2;
    readonly int heads;

    public TextLayer(string name, long d, int heads) : base(name)
    {
        this.heads = heads;
        ln1 = LayerNorm(d); qkv = Linear(d, 3 * d); proj = Linear(d, d);
        ln2 = LayerNorm(d); ff1 = Linear(d, 4 * d); ff2 = Linear(4 * d, d);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x)
    {
        long B = x.shape[0], L = x.shape[1], D = x.shape[2];
        var s = qkv.forward(ln1.forward(x)).view(B, L, 3, heads, D / heads).permute(2, 0, 3, 1, 4);
        var a = functional.scaled_dot_product_attention(s[0], s[1], s[2]).transpose(1, 2).reshape(B, L, D);
        x = x + proj.forward(a);
        return x + ff2.forward(functional.gelu(ff1.forward(ln2.forward(x))));
    }
}

/// <summary>
/// A small conditional UNet for ε-prediction in pixel space. Each level: res-blocks (+ attention where configured), a skip,
/// a stride-2 downsample; a middle res–attn–res; the up path concatenates each level's skip. Optional ControlNet-style
/// residuals are added to the skips and the middle output. Works at any side divisible by 2^(levels − 1).
/// </summary>
public sealed class TinyUNet : nn.Module
{
    public UNetConfig Config { get; }
    readonly Embedding tok, pos;
    readonly ModuleList<TextLayer> text;
    readonly LayerNorm textNorm;
    readonly Linear t1, t2;
    readonly Conv2d convIn, convOut;
    readonly ModuleList<ResBlock> downRes, upRes, midRes;
    readonly ModuleList<AttnBlock> downAttn, upAttn, midAttn;
    readonly ModuleList<Conv2d> downs, ups;
    readonly GroupNorm normOut;
    readonly int[] downAttnIndex, upAttnIndex;

    public TinyUNet(UNetConfig cfg) : base("tiny_unet")
    {
        Config = cfg.Validate();
        var ch = cfg.Channels;
        long c0 = ch[0], tdim = 4 * c0;
        tok = Embedding(cfg.Vocab, cfg.TextDim); pos = Embedding(cfg.PromptLength, cfg.TextDim);
        text = new ModuleList<TextLayer>(Enumerable.Range(0, cfg.TextLayers).Select(i => new TextLayer($"text{i}", cfg.TextDim, cfg.Heads)).ToArray());
        textNorm = LayerNorm(cfg.TextDim);
        t1 = Linear(c0, tdim); t2 = Linear(tdim, tdim);
        convIn = Conv2d(3, c0, 3, padding: 1);
        var dr = new List<ResBlock>(); var da = new List<AttnBlock>(); var dai = new List<int>();
        var ds = new List<Conv2d>();
        long prev = c0;
        for (int l = 0; l < ch.Length; l++)
        {
            for (int b = 0; b < cfg.ResBlocks; b++)
            {
                dr.Add(new ResBlock($"d{l}r{b}", prev, ch[l], tdim)); prev = ch[l];
                if (cfg.AttnLevels.Contains(l)) { dai.Add(dr.Count - 1); da.Add(new AttnBlock($"d{l}a{b}", ch[l], cfg.TextDim, cfg.Heads, cfg.SideAt(l), false)); }
                else dai.Add(-1);
            }
            if (l < ch.Length - 1) ds.Add(Conv2d(ch[l], ch[l], 3, stride: 2, padding: 1));
        }
        long cl = ch[^1];
        midRes = new ModuleList<ResBlock>(new ResBlock("m0", cl, cl, tdim), new ResBlock("m1", cl, cl, tdim));
        midAttn = new ModuleList<AttnBlock>(new AttnBlock("ma", cl, cfg.TextDim, cfg.Heads, cfg.SideAt(ch.Length - 1), true));
        var ur = new List<ResBlock>(); var ua = new List<AttnBlock>(); var uai = new List<int>();
        var us = new List<Conv2d>();
        for (int l = ch.Length - 1; l >= 0; l--)
        {
            for (int b = 0; b < cfg.ResBlocks; b++)
            {
                ur.Add(new ResBlock($"u{l}r{b}", b == 0 ? 2 * ch[l] : ch[l], ch[l], tdim));
                if (cfg.AttnLevels.Contains(l)) { uai.Add(ua.Count); ua.Add(new AttnBlock($"u{l}a{b}", ch[l], cfg.TextDim, cfg.Heads, cfg.SideAt(l), false)); }
                else uai.Add(-1);
            }
            if (l > 0) us.Add(Conv2d(ch[l], ch[l - 1], 3, padding: 1));
        }
        // down attention indices refer to positions in da
        int k = 0; downAttnIndex = dai.Select(x => x < 0 ? -1 : k++).ToArray();
        upAttnIndex = uai.ToArray();
        downRes = new ModuleList<ResBlock>(dr.ToArray()); downAttn = new ModuleList<AttnBlock>(da.ToArray()); downs = new ModuleList<Conv2d>(ds.ToArray());
        upRes = new ModuleList<ResBlock>(ur.ToArray()); upAttn = new ModuleList<AttnBlock>(ua.ToArray()); ups = new ModuleList<Conv2d>(us.ToArray());
        normOut = Gn.Make(c0); convOut = Conv2d(c0, 3, 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>Prompt tokens [B, L] (long) → context [B, L, TextDim].</summary>
    public Tensor Encode(Tensor tokens)
    {
        var p = torch.arange(tokens.shape[1], device: tokens.device);
        var h = tok.forward(tokens) + pos.forward(p).unsqueeze(0);
        foreach (var layer in text) h = layer.Forward(h);
        return textNorm.forward(h);
    }

    static Tensor TimeFeatures(Tensor t, long dim)
    {
        long half = dim / 2;
        var f = torch.exp(-Math.Log(10000) * torch.arange(half, device: t.device, dtype: float32) / half);
        var a = t.to(float32).unsqueeze(1) * f.unsqueeze(0);
        return torch.cat([a.sin(), a.cos()], 1);
    }

    /// <summary>The encoder half: time embedding, down path (one skip per level) and middle block input. With
    /// <paramref name="hint"/> (a ControlNet's encoded condition, [B, c0, H, W]) added after the first conv.</summary>
    public (Tensor Temb, List<Tensor> Skips, Tensor H) Down(Tensor x, Tensor t, Tensor ctx, AttnStore? store = null, Tensor? hint = null)
    {
        var ch = Config.Channels;
        var temb = t2.forward(functional.silu(t1.forward(TimeFeatures(t, ch[0]))));
        var h = convIn.forward(x);
        if (hint is not null) h = h + hint;
        var skips = new List<Tensor>();
        int r = 0;
        for (int l = 0; l < ch.Length; l++)
        {
            for (int b = 0; b < Config.ResBlocks; b++, r++)
            {
                h = downRes[r].forward(h, temb);
                if (downAttnIndex[r] >= 0) h = downAttn[downAttnIndex[r]].Forward(h, ctx, store);
            }
            skips.Add(h);
            if (l < ch.Length - 1) h = downs[l].forward(h);
        }
        return (temb, skips, h);
    }

    /// <summary>The middle block (res–attn–res).</summary>
    public Tensor Mid(Tensor h, Tensor temb, Tensor ctx, AttnStore? store = null)
    {
        h = midRes[0].forward(h, temb);
        h = midAttn[0].Forward(h, ctx, store);
        return midRes[1].forward(h, temb);
    }

    /// <summary>ε̂(x, t, context). <paramref name="skipResiduals"/> (one per level) and <paramref name="midResidual"/> are
    /// added to the skips and the middle output (ControlNet); <paramref name="store"/> collects cross-attention maps.</summary>
    public Tensor Forward(Tensor x, Tensor t, Tensor ctx, AttnStore? store = null, Tensor[]? skipResiduals = null, Tensor? midResidual = null)
    {
        var ch = Config.Channels;
        var (temb, skips, h) = Down(x, t, ctx, store);
        if (skipResiduals is not null) for (int l = 0; l < skips.Count; l++) skips[l] = skips[l] + skipResiduals[l];
        h = Mid(h, temb, ctx, store);
        if (midResidual is not null) h = h + midResidual;
        int r = 0;
        for (int l = ch.Length - 1, u = 0; l >= 0; l--)
        {
            h = torch.cat([h, skips[l]], 1);
            for (int b = 0; b < Config.ResBlocks; b++, r++)
            {
                h = upRes[r].forward(h, temb);
                if (upAttnIndex[r] >= 0) h = upAttn[upAttnIndex[r]].Forward(h, ctx, store);
            }
            if (l > 0) h = ups[u++].forward(functional.interpolate(h, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest));
        }
        return convOut.forward(functional.silu(normOut.forward(h)));
    }
}
