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
/// Measured through NVML after a warm-up update, in a fresh process per configuration when launched from the CLI
/// (<see cref="ChildProbe"/>; the caching allocator never gives memory back); the analytic bytes are printed beside it.
/// </summary>
/// <remarks>
/// PPO's update is DeepSpeed-Chat's, as <see cref="RemaxTrainer"/> trains it: the actor's forward/backward/step, then the
/// critic's (review option (a)). The actor's graph is freed before the critic's is built, so the two activation sets are never
/// alive together: the analytic estimate takes the larger of the two (the actor's, which adds the logits), not their sum, and
/// the expected saving of ReMax is the critic's weights, gradients and Adam moments over PPO's total. At 7B (the paper) those
/// states dominate memory; at this toy size activations do, so the expected saving is far below 46% and the claim says so.
/// </remarks>
public static class MemoryProbe
{
    /// <summary>The probe kind the CLI dispatches (<c>papers probe remax-memory JSON</c>; <c>probe-memory JSON</c> is an alias).</summary>
    public const string Kind = "remax-memory";

    /// <summary>Runs the probe in a fresh process through <see cref="ChildProbe.Launcher"/> on CUDA when the CLI registered one,
    /// else in this process (CPU, tests, notebooks).</summary>
    public static MemoryRow RunFreshOrHere(MemoryProbeRequest req, Device device) =>
        device.type == DeviceType.CUDA && ChildProbe.Launcher is not null
            ? ChildProbe.Launch<MemoryProbeRequest, MemoryRow>(Kind, req)
            : Run(req, device);

    /// <summary>Runs the probe in this process.</summary>
    public static MemoryRow Run(MemoryProbeRequest req, Device device)
    {
        bool ppo = req.Method.Equals(nameof(RlMethod.Ppo), StringComparison.OrdinalIgnoreCase);
        var cfg = req.Model.Validate();
        if (req.PromptTokens + req.Tokens > cfg.MaxSeq) throw new ConfigException($"MemoryProbe: {req.PromptTokens}+{req.Tokens} tokens exceed MaxSeq {cfg.MaxSeq}.");
        var sw = Stopwatch.StartNew();
        long? baseline = device.type == DeviceType.CUDA ? GpuMemory.DeviceUsedBytes() : null;   // before any model exists
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
        // The whole device's use includes every other process (the parent `reproduce remax` with its context and allocator
        // reserve): count only what this probe added after its start.
        if (measured is long m && source == "NVML device" && baseline is long b0) { measured = Math.Max(0, m - b0); source = "NVML device − baseline"; }
        long n = flat.Data.numel(), nc = cflat?.Data.numel() ?? 0;
        return Analytic(req, n, nc, flat.Data.element_size()) with { MeasuredBytes = measured, Source = source, BaselineBytes = baseline, Seconds = Math.Round(sw.Elapsed.TotalSeconds, 2) };
    }

    /// <summary>The analytic row of a probe (nothing measured): actor <paramref name="actor"/> and critic <paramref name="critic"/>
    /// parameters; weights = actor + reference + critic, grads and Adam moments for actor + critic, activations of one
    /// backward (PPO's two backwards run one after the other, so the larger of the two, see the remarks).</summary>
    public static MemoryRow Analytic(MemoryProbeRequest req, long actor, long critic, long elementBytes = 4)
    {
        bool ppo = req.Method.Equals(nameof(RlMethod.Ppo), StringComparison.OrdinalIgnoreCase);
        if (!ppo) critic = 0;
        return new MemoryRow(ppo ? "PPO" : "ReMax", req.Batch, req.Tokens, actor + critic, (2 * actor + critic) * elementBytes, (actor + critic) * elementBytes,
            2 * (actor + critic) * elementBytes, ActivationEstimate(req.Model, req.Batch, req.PromptTokens + req.Tokens, req.Tokens), null, "analytic only", 0);
    }

    /// <summary>The row recorded when a probe fails (its process died, its output did not parse, NVML failed): the analytic
    /// split with <c>MeasuredBytes = null</c> and <c>Source = "probe failed: …"</c>, so a failed probe never loses the run.</summary>
    public static MemoryRow Fallback(MemoryProbeRequest req, Exception e)
    {
        long n = req.Model.ParameterCount();
        return Analytic(req, n, n + req.Model.Dim + 1) with { Source = ChildProbe.FailureNote(e) };
    }

    /// <summary>Runs <paramref name="probe"/>, or returns <see cref="Fallback"/> when it throws.</summary>
    public static MemoryRow RunOrFallback(MemoryProbeRequest req, Func<MemoryProbeRequest, MemoryRow> probe)
    {
        try { return probe(req); }
        catch (Exception e) { return Fallback(req, e); }
    }

    /// <summary>
    /// A rough count of activation bytes kept for one backward pass (fp32): per layer and token the block's inputs to its
    /// norms, projections and gated MLP (≈ 12·d + 3·hidden floats), plus the logits and their log-softmax for the completion.
    /// An estimate to read beside the measurement, not a substitute for it.
    /// </summary>
    public static long ActivationEstimate(TinyLmConfig c, int batch, int seq, int completion) =>
        4L * batch * ((long)seq * c.Layers * (12L * c.Dim + 3L * c.Hidden) + 2L * completion * c.Vocab);
}
