using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Blocks.Optim;
using Workbench.Blocks.Rl;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.Remax;

/// <summary>What one memory probe measures: a method, a batch of sequences and a model size.</summary>
public sealed record MemoryProbeRequest(string Method, int Batch, int Tokens, TinyLmConfig Model, long Seed = 1, int PromptTokens = 16);

/// <summary>
/// Peak memory of one training update per method (remax.md §5, experiment 1): ReMax holds actor + frozen reference (the
/// reward is a program here, so no reward model); PPO adds a critic of the actor's size with its gradients and Adam moments.
/// Measured through NVML after a warm-up update, in a fresh process per configuration when launched from the CLI (the
/// caching allocator never gives memory back); the analytic bytes are printed beside it.
/// </summary>
public static class MemoryProbe
{
    /// <summary>Runs the probe in this process.</summary>
    public static MemoryRow Run(MemoryProbeRequest req, Device device)
    {
        bool ppo = req.Method.Equals(nameof(RlMethod.Ppo), StringComparison.OrdinalIgnoreCase);
        var cfg = req.Model.Validate();
        if (req.PromptTokens + req.Tokens > cfg.MaxSeq) throw new ConfigException($"MemoryProbe: {req.PromptTokens}+{req.Tokens} tokens exceed MaxSeq {cfg.MaxSeq}.");
        var sw = Stopwatch.StartNew();
        using var actor = new TinyLm(cfg, req.Seed); actor.to(device);
        using var reference = new TinyLm(cfg, req.Seed + 1); reference.to(device);
        foreach (var p in reference.parameters()) p.requires_grad = false;
        using var flat = FlatParameters.Create(actor.named_parameters().Select(p => (p.name, p.parameter)));
        using var opt = new FlatAdamW(flat, 1e-5);
        using var criticTrunk = ppo ? new TinyLm(cfg, req.Seed + 2) : null;
        criticTrunk?.to(device);
        using var critic = criticTrunk is null ? null : new ValueModel(criticTrunk);
        using var cflat = critic is null ? null : FlatParameters.Create(critic.named_parameters().Select(p => (p.name, p.parameter)));
        using var copt = cflat is null ? null : new FlatAdamW(cflat, 1e-5);
        var gen = Seeding.TorchGenerator(req.Seed, "memory-probe");
        var rng = Seeding.Rng(req.Seed, "memory-probe-prompts");
        var prompts = Enumerable.Range(0, req.Batch).Select(_ => Enumerable.Range(0, req.PromptTokens).Select(_ => (long)rng.Next(4, cfg.Vocab)).ToArray()).ToList();
        using var rollout = new Rollout(PromptBatch.Create(prompts, 0, device),
            torch.randint(4, cfg.Vocab, [req.Batch, req.Tokens], generator: gen).to(device),
            torch.ones([req.Batch, req.Tokens], ScalarType.Bool).to(device), Enumerable.Repeat((long)req.Tokens, req.Batch).ToArray(), 0, 0);
        void Update()
        {
            using var scope = torch.NewDisposeScope();
            Tensor old, rf, v = null!;
            using (torch.no_grad())
            {
                old = Sequences.CompletionLogProbs(actor, rollout);
                rf = Sequences.CompletionLogProbs(reference, rollout);
                if (critic is not null) v = critic.Values(rollout);
            }
            var logp = Sequences.CompletionLogProbs(actor, rollout);
            var loss = ppo ? Losses.Clipped(logp, old, null, (rf - old), rollout.Mask, 0.2, 0).Loss : Losses.Reinforce(logp, rf - old, rollout.Mask);
            flat.ZeroGrad(); loss.backward(); opt.Step();
            if (critic is not null)
            {
                var vl = Losses.ClippedValue(critic.Values(rollout), v, v + 1, rollout.Mask, 0.2);
                cflat!.ZeroGrad(); vl.backward(); copt!.Step();
            }
            if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
        }
        Update();   // warm-up: allocator and kernels
        long? measured; string source;
        using (var peak = new GpuMemory.PeakSampler())
        {
            if (device.type == DeviceType.CUDA) { Update(); Thread.Sleep(20); }
            measured = device.type == DeviceType.CUDA ? peak.Peak : null;
            source = device.type == DeviceType.CUDA ? peak.Source : "analytic only (CPU)";
        }
        long n = flat.Data.numel(), nc = cflat?.Data.numel() ?? 0, bytes = flat.Data.element_size();
        return new MemoryRow(ppo ? "PPO" : "ReMax", req.Batch, req.Tokens, n + nc, (2 * n + nc) * bytes, (n + nc) * bytes, 2 * (n + nc) * bytes,
            ActivationEstimate(cfg, req.Batch, req.PromptTokens + req.Tokens, req.Tokens) * (ppo ? 2 : 1), measured, source, Math.Round(sw.Elapsed.TotalSeconds, 2));
    }

    /// <summary>
    /// A rough count of activation bytes kept for one backward pass (fp32): per layer and token the block's inputs to its
    /// norms, projections and gated MLP (≈ 12·d + 3·hidden floats), plus the logits and their log-softmax for the completion.
    /// An estimate to read beside the measurement, not a substitute for it.
    /// </summary>
    public static long ActivationEstimate(TinyLmConfig c, int batch, int seq, int completion) =>
        4L * batch * ((long)seq * c.Layers * (12L * c.Dim + 3L * c.Hidden) + 2L * completion * c.Vocab);
}
