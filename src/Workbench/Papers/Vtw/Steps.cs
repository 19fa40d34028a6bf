using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Multimodal;
using Workbench.Data;
using static TorchSharp.torch;

namespace Workbench.Papers.Vtw;

/// <summary>Thrown by <see cref="VtwSteps.SearchK"/> when no layer k ≥ start has mean KL ≤ η (the official code crashes
/// indexing an empty tensor there, vtw.md §7).</summary>
public sealed class NoLayerQualifiesException(string message) : Exception(message);

/// <summary>Attention mass of the last prompt token (or of all question tokens) on the prompt's parts, per layer; rows sum to 1.</summary>
public sealed record AttentionProfile(string Query, string[] Groups, double[][] Mass);

/// <summary>
/// VTW's steps (arXiv 2405.05803; vtw.md §2) as small functions over <see cref="MultimodalLm"/>: the withdrawal operator W_k
/// and its masked reference, random withdrawal and FastV (baselines), the KL criterion and K search, MAC accounting.
/// </summary>
public static class VtwSteps
{
    /// <summary>Columns kept by W_k: system [0,S) and text [S+Nv, n) (the visual block removed), [B, n−Nv].</summary>
    public static Tensor KeptColumns(PromptLayout l, long n, long b, Device dev)
    {
        var idx = torch.cat([torch.arange(l.System, device: dev), torch.arange(l.TextStart, n, device: dev)]);
        return idx.unsqueeze(0).expand(b, -1).contiguous();
    }

    /// <summary>W_k (step 3): just before layer k the visual tokens leave the sequence; layers ≥ k run on S+T tokens that keep
    /// their RoPE position ids (keep mode, a gap) or are renumbered (contiguous = the "shift" mode). k = L is the full model.</summary>
    public static TokenPlan Withdraw(PromptLayout l, int k, bool contiguous = false) => new()
    {
        Keep = (i, st, _) => i == k ? KeptColumns(l, st.Length, st.X.shape[0], st.X.device) : null,
        ContiguousPositions = contiguous,
    };

    /// <summary>The reference W_k must equal on text outputs: every token stays, but in layers ≥ k text queries may not
    /// attend to visual keys.</summary>
    public static TokenPlan MaskTextToVisual(PromptLayout l, int k) => new()
    {
        Mask = (i, st) =>
        {
            if (i < k) return null;
            long n = st.Length;
            var dev = st.X.device;
            var ar = torch.arange(n, device: dev);
            var causal = ar.unsqueeze(0).le(ar.unsqueeze(1));                                   // (n, n) key ≤ query
            var textQ = ar.ge(l.TextStart).unsqueeze(1);
            var visK = ar.ge(l.System).logical_and(ar.lt(l.TextStart)).unsqueeze(0);
            return causal.logical_and(textQ.logical_and(visK).logical_not()).view(1, 1, n, n);
        },
    };

    /// <summary>Random withdrawal (the code's mode=random): at layer k drop Nv columns drawn uniformly from those before the
    /// shortest row's last prompt token (so every row keeps its answer position), the same columns for the whole batch.</summary>
    public static TokenPlan RandomWithdraw(PromptLayout l, int k, Random rng, int minTextLength) => new()
    {
        Keep = (i, st, _) =>
        {
            if (i != k) return null;
            int limit = l.TextStart + minTextLength - 1;
            var drop = Enumerable.Range(0, limit).OrderBy(_ => rng.Next()).Take(l.Visual).ToHashSet();
            var keep = Enumerable.Range(0, (int)st.Length).Where(c => !drop.Contains(c)).Select(c => (long)c).ToArray();
            return torch.tensor(keep, device: st.X.device).unsqueeze(0).expand(st.X.shape[0], -1).contiguous();
        },
    };

    /// <summary>FastV: at <paramref name="layer"/> keep the fraction <paramref name="keep"/> of visual tokens with the highest
    /// attention from each row's last prompt token at layer − 1 (heads averaged); the others are dropped for good.</summary>
    public static TokenPlan FastV(PromptLayout l, Tensor lastOrig, int layer = 2, double keep = 0.5) => new()
    {
        NeedWeights = i => i == layer - 1,
        Keep = (i, st, w) =>
        {
            if (i != layer || w is null) return null;
            long b = st.X.shape[0], n = st.Length;
            int kept = (int)Math.Round(keep * l.Visual);
            var col = MultimodalLm.ColumnOf(st, lastOrig).to_type(ScalarType.Int64);
            var row = w.mean([1L]).gather(1, col.view(-1, 1, 1).expand(-1, 1, n)).squeeze(1);  // (B, n) last token → keys
            var vis = row.narrow(1, l.System, l.Visual);
            var top = vis.topk(kept, 1).indexes.sort(1).Values + l.System;                      // (B, kept) in original order
            var sys = torch.arange(l.System, device: st.X.device).unsqueeze(0).expand(b, -1);
            var text = torch.arange(l.TextStart, n, device: st.X.device).unsqueeze(0).expand(b, -1);
            return torch.cat([sys, top, text], 1);
        },
    };

    /// <summary>KL(q‖p) = Σ_v q(v)(log q(v) − log p(v)) from log-probabilities (the code's KLDivLoss(log p, q)).</summary>
    public static double Kl(double[] logQ, double[] logP)
    {
        double s = 0;
        for (int v = 0; v < logQ.Length; v++) s += Math.Exp(logQ[v]) * (logQ[v] - logP[v]);
        return s;
    }

    /// <summary>Step 4's matrix: KL(q_k‖p) for every sample and every k in <paramref name="ks"/>, p the full model's
    /// first-answer-token distribution and q_k the one under W_k (S and Nv from the model's layout, not hard-coded).</summary>
    public static double[][] KlMatrix(MultimodalLm model, IReadOnlyList<SceneSample> samples, IReadOnlyList<int> ks, int batch)
    {
        var p = MultimodalTraining.FirstTokenLogProbs(model, samples, batch);
        var cols = ks.Select(k => MultimodalTraining.FirstTokenLogProbs(model, samples, batch, (_, _) => Withdraw(model.Layout, k))).ToArray();
        return samples.Select((_, i) => cols.Select(q => Kl(q[i], p[i])).ToArray()).ToArray();
    }

    /// <summary>K = min{k ≥ start : mean KL_k ≤ η}, or null when no k qualifies. <paramref name="meanKl"/>[j] belongs to ks[j].</summary>
    public static int? TryChooseK(IReadOnlyList<int> ks, IReadOnlyList<double> meanKl, int start, double eta)
    {
        for (int j = 0; j < ks.Count; j++)
            if (ks[j] >= start && meanKl[j] <= eta) return ks[j];
        return null;
    }

    /// <summary><see cref="TryChooseK"/>, with a clear error instead of "none".</summary>
    public static int SearchK(IReadOnlyList<int> ks, IReadOnlyList<double> meanKl, int start, double eta) =>
        TryChooseK(ks, meanKl, start, eta) ?? throw new NoLayerQualifiesException(
            $"VTW K search: no layer k ≥ {start} has mean KL ≤ η = {eta:G3} (smallest mean KL {meanKl.Where((_, j) => ks[j] >= start).DefaultIfEmpty(double.NaN).Min():G3}); " +
            "raise η, calibrate on more samples, or allow k = L (no withdrawal).");

    /// <summary>Column means of a sample × k matrix.</summary>
    public static double[] Mean(double[][] m) => Enumerable.Range(0, m[0].Length).Select(j => m.Average(r => r[j])).ToArray();

    /// <summary>Exact MACs of one layer with T query tokens and S keys: 4Td² (q,k,v,o) + 2TSd (QKᵀ and AV) + 3Tdm (SwiGLU).</summary>
    public static double LayerMacs(long t, long s, long d, long m) => 4.0 * t * d * d + 2.0 * t * s * d + 3.0 * t * d * m;

    /// <summary>MACs counted from the token and key counts each layer actually ran with (<see cref="MmRun.TokensPerLayer"/>).</summary>
    public static double CountedMacs(MmRun run, long d, long m) =>
        run.TokensPerLayer.Zip(run.KeysPerLayer).Sum(p => LayerMacs(p.First, p.Second, d, m));

    /// <summary>The paper-style prefill cost K·F(n) + (L−K)·F(n−Nv) with F(n) = 4nd² + 2n²d + c·ndm: c = 3 for our SwiGLU
    /// (exact MACs), c = 2 for FastV's formula as the paper quotes it.</summary>
    public static double FormulaMacs(long n, long nv, long d, long m, int layers, int k, double c = 3) =>
        k * F(n, d, m, c) + (layers - k) * F(n - nv, d, m, c);

    public static double F(long n, long d, long m, double c = 3) => 4.0 * n * d * d + 2.0 * n * n * d + c * n * d * m;

    /// <summary>Step 1: attention mass per layer on {bos, rest of system, visual, question, last 3 prompt tokens}, heads
    /// averaged, for the last prompt token (<paramref name="allQuestion"/> false) or averaged over every text query.</summary>
    public static AttentionProfile Profile(IReadOnlyList<Tensor> attention, PromptLayout l, int[] textLengths, bool allQuestion)
    {
        var groups = new[] { "bos", "system", "visual", "question", "last 3" };
        var mass = new double[attention.Count][];
        for (int layer = 0; layer < attention.Count; layer++)
        {
            using var a = attention[layer].mean([1L]).to_type(ScalarType.Float64).cpu();            // (B, n, n)
            long n = a.shape[1];
            var w = a.data<double>().ToArray();
            var acc = new double[5]; int rows = 0;
            for (int b = 0; b < textLengths.Length; b++)
            {
                int last = l.TextStart + textLengths[b] - 1;
                var queries = allQuestion ? Enumerable.Range(l.TextStart, textLengths[b]) : [last];
                foreach (var q in queries)
                {
                    for (int k = 0; k <= q; k++)
                    {
                        int g = k == 0 ? 0 : k < l.System ? 1 : k < l.TextStart ? 2 : k > last - 3 ? 4 : 3;
                        acc[g] += w[(b * n + q) * n + k];
                    }
                    rows++;
                }
            }
            mass[layer] = acc.Select(x => x / rows).ToArray();
        }
        return new AttentionProfile(allQuestion ? "all question tokens" : "last prompt token", groups, mass);
    }

    /// <summary>Attention of the last prompt token to each visual patch, per layer, heads and samples averaged: [L][P][P].</summary>
    public static double[][][] PatchMaps(IReadOnlyList<Tensor> attention, PromptLayout l, int[] textLengths, int side)
    {
        return attention.Select(att =>
        {
            using var a = att.mean([1L]).to_type(ScalarType.Float64).cpu();
            long n = a.shape[1];
            var w = a.data<double>().ToArray();
            var map = new double[side][];
            for (int i = 0; i < side; i++) map[i] = new double[side];
            for (int b = 0; b < textLengths.Length; b++)
            {
                int last = l.TextStart + textLengths[b] - 1;
                for (int p = 0; p < l.Visual; p++) map[p / side][p % side] += w[(b * n + last) * n + l.System + p] / textLengths.Length;
            }
            return map;
        }).ToArray();
    }

    /// <summary>Layers × key position attention of the last prompt token for one sample (heads averaged).</summary>
    public static double[][] KeyProfile(IReadOnlyList<Tensor> attention, PromptLayout l, int textLength, int sample = 0)
    {
        int last = l.TextStart + textLength - 1;
        return attention.Select(att =>
        {
            using var row = att[sample].mean([0L]).select(0, last).narrow(0, 0, last + 1).to_type(ScalarType.Float64).cpu();
            return row.data<double>().ToArray();
        }).ToArray();
    }

    /// <summary>Median wall-clock seconds of <paramref name="reps"/> calls after one warm-up (CUDA-synchronised).</summary>
    public static double MedianSeconds(Action f, int reps, Device dev)
    {
        f();
        var t = new double[reps];
        for (int r = 0; r < reps; r++)
        {
            if (dev.type == DeviceType.CUDA) torch.cuda.synchronize();
            var sw = Stopwatch.StartNew();
            f();
            if (dev.type == DeviceType.CUDA) torch.cuda.synchronize();
            t[r] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(t);
        return t[reps / 2];
    }

    /// <summary>Greedy generation with the KV cache under <paramref name="plan"/> (the withdrawn layers' caches hold no visual
    /// entries; new tokens continue at position n, the layer-0 length). x [B,n,d] with equal-length rows.</summary>
    public static long[][] GenerateCached(MultimodalLm model, Tensor x, TokenPlan plan, int maxNew)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        var lastOrig = torch.full(new long[] { b }, n - 1, dtype: ScalarType.Int64, device: x.device);
        var run = model.Prefill(x, lastOrig, plan, MmCollect.Cache);
        var cache = run.Kv;
        var outp = Enumerable.Range(0, (int)b).Select(_ => new List<long>()).ToArray();
        var next = run.LastLogits.argmax(-1);
        long pos = n;
        for (int t = 0; t < maxNew; t++)
        {
            var ids = next.cpu().data<long>().ToArray();
            for (int i = 0; i < b; i++) outp[i].Add(ids[i]);
            if (t == maxNew - 1) break;
            next = model.DecodeStep(next.view(b, 1), pos++, cache).argmax(-1);
        }
        foreach (var (k, v) in cache) { k.Dispose(); v.Dispose(); }
        return outp.Select(o => o.ToArray()).ToArray();
    }

    /// <summary>The reference for <see cref="GenerateCached"/>: every step re-runs the whole prefill (prompt + generated tokens)
    /// under the same plan, without a cache.</summary>
    public static long[][] GenerateUncached(MultimodalLm model, Tensor x, TokenPlan plan, int maxNew)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0];
        var outp = Enumerable.Range(0, (int)b).Select(_ => new List<long>()).ToArray();
        var cur = x;
        for (int t = 0; t < maxNew; t++)
        {
            long n = cur.shape[1];
            var lastOrig = torch.full(new long[] { b }, n - 1, dtype: ScalarType.Int64, device: x.device);
            using var run = model.Prefill(cur, lastOrig, plan);
            var next = run.LastLogits.argmax(-1);
            var ids = next.cpu().data<long>().ToArray();
            for (int i = 0; i < b; i++) outp[i].Add(ids[i]);
            cur = torch.cat([cur, model.lm.Embed(next.view(b, 1))], 1);
        }
        return outp.Select(o => o.ToArray()).ToArray();
    }
}
