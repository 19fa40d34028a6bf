using System.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using Workbench.Runtime;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Workbench.Papers.Eca;

/// <summary>A minimal character-level causal LM (GPT-style, pre-norm) whose attention is either standard masked
/// attention (autograd) or ECA's (<see cref="EcaAttentionFunction"/>). Kept in this folder until a shared tiny LM exists.</summary>
public sealed class CausalLm : Module<Tensor, Tensor>
{
    readonly Embedding tok, pos;
    readonly ModuleList<LayerNorm> ln1, ln2;
    readonly ModuleList<Linear> qkv, proj, fc1, fc2;
    readonly LayerNorm lnF;
    readonly Linear head;
    readonly int heads;
    public int? EcaDepth { get; set; }       // null: standard attention

    public CausalLm(int vocab, int context, int dim, int layers, int heads) : base("causal_lm")
    {
        if (dim % heads != 0) throw new ArgumentException($"CausalLm: dim {dim} is not divisible by {heads} heads.");
        this.heads = heads;
        tok = Embedding(vocab, dim); pos = Embedding(context, dim);
        ln1 = new ModuleList<LayerNorm>(Enumerable.Range(0, layers).Select(_ => LayerNorm(dim)).ToArray());
        ln2 = new ModuleList<LayerNorm>(Enumerable.Range(0, layers).Select(_ => LayerNorm(dim)).ToArray());
        qkv = new ModuleList<Linear>(Enumerable.Range(0, layers).Select(_ => Linear(dim, 3 * dim)).ToArray());
        proj = new ModuleList<Linear>(Enumerable.Range(0, layers).Select(_ => Linear(dim, dim)).ToArray());
        fc1 = new ModuleList<Linear>(Enumerable.Range(0, layers).Select(_ => Linear(dim, 4 * dim)).ToArray());
        fc2 = new ModuleList<Linear>(Enumerable.Range(0, layers).Select(_ => Linear(4 * dim, dim)).ToArray());
        lnF = LayerNorm(dim); head = Linear(dim, vocab);
        RegisterComponents();
    }

    public override Tensor forward(Tensor idx)
    {
        using var scope = torch.NewDisposeScope();
        long b = idx.shape[0], t = idx.shape[1];
        var x = tok.forward(idx) + pos.forward(torch.arange(t, device: idx.device));
        long d = x.shape[2], hd = d / heads;
        for (int i = 0; i < qkv.Count; i++)
        {
            var a = qkv[i].forward(ln1[i].forward(x)).reshape(b, t, 3, heads, hd).permute(2, 0, 3, 1, 4);   // (3, B, H, T, hd)
            var o = EcaDepth is int depth ? EcaAttentionFunction.Apply(a[0], a[1], a[2], depth) : EcaAttention.Reference(a[0], a[1], a[2]);
            x = x + proj[i].forward(o.transpose(1, 2).reshape(b, t, d));
            x = x + fc2[i].forward(functional.gelu(fc1[i].forward(ln2[i].forward(x))));
        }
        return head.forward(lnF.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Loss curves of the same LM trained with standard and with ECA attention (same initialisation and batches).
/// <see cref="Steps"/> is what ran; <see cref="RequestedSteps"/> what the config asked for (fewer under a time budget).</summary>
public sealed record LmComparison(string Dtype, int Layers, int Dim, int Heads, int Context, int Depth, int Steps,
    double[] StandardLoss, double[] EcaLoss, double MaxAbsDiff, double StandardSeconds, double EcaSeconds, int TextChars, int RequestedSteps);

public static class LmStep
{
    public static LmComparison Compare(string text, EcaConfig c, Device device, long seed)
    {
        var chars = text.Distinct().Order().ToArray();
        var index = chars.Select((ch, i) => (ch, i)).ToDictionary(x => x.ch, x => (long)x.i);
        var dtype = c.LmFloat64 ? ScalarType.Float64 : ScalarType.Float32;
        using var data = torch.tensor(text.Select(ch => index[ch]).ToArray()).to(device);
        var gen = Seeding.TorchGenerator(seed, "lm-batches");
        var starts = Enumerable.Range(0, c.LmSteps).Select(_ => torch.randint(0, data.shape[0] - c.LmContext - 1, [c.LmBatch], generator: gen)).ToList();
        (double[] Loss, double Seconds) Train(int? depth, int steps)
        {
            Seeding.SeedAll(seed);
            using var model = new CausalLm(chars.Length, c.LmContext, c.LmDim, c.LmLayers, c.LmHeads) { EcaDepth = depth };
            model.to(dtype).to(device);
            using var opt = torch.optim.AdamW(model.parameters(), 1e-3);
            var losses = new double[steps];
            var sw = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++)
            {
                using var scope = torch.NewDisposeScope();
                var off = starts[s].to(device).unsqueeze(1) + torch.arange(c.LmContext + 1, device: device);   // (B, T+1)
                var batch = data.index_select(0, off.flatten()).reshape(c.LmBatch, c.LmContext + 1);
                var x = batch.narrow(1, 0, c.LmContext); var y = batch.narrow(1, 1, c.LmContext);
                var logits = model.forward(x);
                var loss = functional.cross_entropy(logits.reshape(-1, chars.Length), y.flatten());
                opt.zero_grad(); loss.backward(); opt.step();
                losses[s] = loss.ToDouble();        // item<double>() throws on a float32 loss
            }
            return (losses, sw.Elapsed.TotalSeconds);
        }
        // Under a time budget: time a few steps of each model, then run as many steps as fit (both models the same number).
        int n = c.LmSteps;
        if (TimeBudget.Share(0.9) is double budget)
        {
            // One untimed step of each first (kernel loading, the optimizer's state, allocator growth), then three timed.
            int probe = Math.Min(n, 3);
            Train(null, 1); Train(c.LmDepth, 1);
            double probeSeconds = Train(null, probe).Seconds + Train(c.LmDepth, probe).Seconds;
            n = TimeBudget.FitSteps(c.LmSteps, probe, probeSeconds, budget - probeSeconds, minimum: Math.Min(c.LmSteps, 10));
        }
        var (std, ts) = Train(null, n);
        var (eca, te) = Train(c.LmDepth, n);
        foreach (var t in starts) t.Dispose();
        return new LmComparison(dtype.ToString(), c.LmLayers, c.LmDim, c.LmHeads, c.LmContext, c.LmDepth, n, std, eca,
            std.Zip(eca).Max(p => Math.Abs(p.First - p.Second)), Math.Round(ts, 2), Math.Round(te, 2), text.Length, c.LmSteps);
    }
}
