using System.Diagnostics;
using TorchSharp;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Data;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.CutDiffusion;

/// <summary>One fresh-process memory measurement: <paramref name="Method"/> ("CutDiffusion" or "DemoFusion") at scale
/// <paramref name="Scale"/> with UNet batches of <paramref name="ViewBatch"/> views, on the cached TinyUNet of
/// (<paramref name="Model"/>, <paramref name="Train"/>, <paramref name="Seed"/>), sampling the first bench prompt of
/// <paramref name="PromptSeed"/> with <paramref name="Sampler"/> (its view batch replaced) and noise seed <paramref name="Seed"/>.</summary>
public sealed record DiffusionMemoryRequest(string Method, int Scale, int ViewBatch, UNetConfig Model, DiffusionTrainConfig Train, long Seed,
    SamplerSettings Sampler, long PromptSeed, double P = 0.5)
{
    public static readonly string[] Methods = ["CutDiffusion", "DemoFusion"];

    public DiffusionMemoryRequest Validate()
    {
        const string n = nameof(DiffusionMemoryRequest);
        Check.That(Methods.Contains(Method), n, nameof(Method), $"'{Method}' is not one of {string.Join(", ", Methods)}.");
        Check.That(Scale is >= 1 and <= 8, n, nameof(Scale), "scales must be integers in 1..8.");
        Check.Positive(n, nameof(ViewBatch), ViewBatch); Check.Positive(n, "Sampler.Steps", Sampler.Steps);
        Check.InRange(n, nameof(P), P, 0, 1);
        Model.Validate(); Train.Validate();
        return this;
    }
}

/// <summary>
/// What one probe measured, in bytes: <paramref name="PeakBytes"/> while sampling (NVML, polled every ~2 ms),
/// <paramref name="BaselineBytes"/> just before it (CUDA context, weights, library handles), and
/// <paramref name="AboveBaselineBytes"/> = peak − baseline, the memory the sampler itself added. <paramref name="Source"/> is the
/// NVML reading ("NVML process" / "NVML device"), or why nothing was measured ("probe failed: …", "not run: …").
/// <paramref name="SampleSeconds"/> is the sampling time in the child, <paramref name="ProbeSeconds"/> the whole probe as the
/// parent waited for it (process start, libtorch, loading the UNet).
/// </summary>
public sealed record DiffusionMemoryRow(string Method, int Scale, int ViewBatch, long? PeakBytes, long? BaselineBytes, long? AboveBaselineBytes,
    string Source, double SampleSeconds = 0, double ProbeSeconds = 0)
{
    [System.Text.Json.Serialization.JsonIgnore] public bool Measured => AboveBaselineBytes is not null;
}

/// <summary>
/// Peak memory of one high-resolution sampling run (cutdiffusion.md §5: "peak memory at view_batch_size ∈ {1, 16}"), measured
/// in a fresh process per (method, view batch) because TorchSharp 0.107's caching allocator never gives memory back: in one
/// process the second method's reading is the high-water mark of both.
/// </summary>
/// <remarks>
/// The child loads the UNet the parent trained from the checkpoint cache (it never trains), runs one batch-1 guided UNet call
/// at base size so the cuDNN/cuBLAS handles and kernels exist, synchronises, reads NVML (the baseline), then samples once with
/// the peak sampler of <see cref="Samplers.Timed{T}"/> running. The warm-up's freed blocks stay in the allocator's reserve and
/// count in the baseline, so every method's number is low by the same few MiB. Peak − baseline also removes other processes
/// (the waiting parent) when NVML can only read the whole device (inside a container whose PIDs the driver does not list).
/// </remarks>
public static class DiffusionMemoryProbe
{
    /// <summary>The probe kind the CLI dispatches (<c>papers probe diffusion-memory JSON</c>).</summary>
    public const string Kind = "diffusion-memory";

    /// <summary>A generous estimate of one probe on the H100 (process start and libtorch ≈ 5 s, loading, one sampling run);
    /// the experiment starts a probe only when this much is left before the deadline, beyond its reserve.</summary>
    public const double EstimatedSeconds = 15;

    /// <summary>Runs the probe in this process (the child's side). On CPU it samples but measures nothing (Source "none (CPU)").</summary>
    public static DiffusionMemoryRow Run(DiffusionMemoryRequest req, Device device)
    {
        req.Validate();
        bool cuda = device.type == DeviceType.CUDA;
        var (unet, _) = DiffusionTraining.LoadCached(req.Model, req.Train, device, req.Seed);
        using var model = unet;
        using var fp32 = Tf32.Off();   // the numerics of the parent's bench
        var den = new Denoiser(unet, new NoiseSchedule());
        var prompt = Bench.Prompts(req.PromptSeed, 1)[0];
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
        {
            var ctx = den.Context(prompt);
            den.Context(ShapeScenes.EmptyPrompt);
            using var g = Seeding.TorchGenerator(req.Seed, "memory-probe-warmup");
            var x = torch.randn([1, 3, den.Base, den.Base], generator: g).to(device);
            den.Eps(x, den.Schedule.T - 1, ctx, req.Sampler.Guidance, viewBatch: 1);
        }
        den.ResetCount();
        if (cuda) torch.cuda.synchronize(device);
        string source = cuda ? GpuMemory.PreferredSource : "none (CPU)";
        long? baseline = GpuMemory.Read(source);
        var st = req.Sampler with { ViewBatch = req.ViewBatch };
        HighResOutput o = req.Method == "CutDiffusion"
            ? CutSteps.Run(den, prompt, req.Scale, req.P, st, req.Seed)
            : DemoFusion.Run(den, prompt, req.Scale, st, req.Seed);
        if (!cuda) return new DiffusionMemoryRow(req.Method, req.Scale, req.ViewBatch, null, null, null, source, Math.Round(o.Seconds, 3));
        // A reading of another kind than the baseline's (the driver began listing this process in between) cannot be subtracted.
        long? above = o.PeakBytes is long pk && baseline is long b && o.PeakSource == source ? Math.Max(0, pk - b) : null;
        var src = o.PeakSource == source ? source : $"{o.PeakSource} (baseline read as {source}: not comparable)";
        return new DiffusionMemoryRow(req.Method, req.Scale, req.ViewBatch, o.PeakBytes, baseline, above, src, Math.Round(o.Seconds, 3));
    }

    /// <summary>The row recorded when a probe fails (the child died, timed out, printed no result): nothing measured, the
    /// reason in <c>Source</c>, so a failed probe never loses the run.</summary>
    public static DiffusionMemoryRow Fallback(DiffusionMemoryRequest req, Exception e) =>
        new(req.Method, req.Scale, req.ViewBatch, null, null, null, ChildProbe.FailureNote(e));

    /// <summary>The row of a probe not started (the time budget), with the reason.</summary>
    public static DiffusionMemoryRow Skipped(DiffusionMemoryRequest req, string why) =>
        new(req.Method, req.Scale, req.ViewBatch, null, null, null, "not run: " + why);

    /// <summary>Runs <paramref name="probe"/> (timed as the parent sees it), or returns <see cref="Fallback"/> when it throws.</summary>
    public static DiffusionMemoryRow RunOrFallback(DiffusionMemoryRequest req, Func<DiffusionMemoryRequest, DiffusionMemoryRow> probe)
    {
        var sw = Stopwatch.StartNew();
        try { return probe(req) with { ProbeSeconds = Math.Round(sw.Elapsed.TotalSeconds, 2) }; }
        catch (Exception e) { return Fallback(req, e) with { ProbeSeconds = Math.Round(sw.Elapsed.TotalSeconds, 2) }; }
    }

    /// <summary>
    /// The probes of the memory claim: CutDiffusion and DemoFusion at scale <paramref name="scale"/> for each view batch, each
    /// started in a fresh process through <paramref name="launch"/> only when the deadline leaves <see cref="EstimatedSeconds"/>
    /// beyond <paramref name="reserveSeconds"/> (else a "not run" row, and the skip is added to <paramref name="cuts"/>). Never
    /// throws: a failing launch is a <see cref="Fallback"/> row.
    /// </summary>
    public static List<DiffusionMemoryRow> Sweep(CutConfig cfg, int scale, Func<DiffusionMemoryRequest, DiffusionMemoryRow> launch,
        List<string>? cuts = null, TextWriter? log = null, double reserveSeconds = 0)
    {
        var rows = new List<DiffusionMemoryRow>();
        int skipped = 0;
        foreach (var vb in cfg.ViewBatches ?? [cfg.Sampler.ViewBatch])
            foreach (var method in DiffusionMemoryRequest.Methods)
            {
                var req = new DiffusionMemoryRequest(method, scale, vb, cfg.Model, cfg.Train, cfg.Seed, cfg.Sampler, cfg.Seed, cfg.P);
                if (!Deadline.Leaves(EstimatedSeconds + reserveSeconds))
                {
                    double left = Math.Max(0, Deadline.SecondsLeft ?? 0);
                    rows.Add(Skipped(req, $"time budget ({left:F0} s left, ~{EstimatedSeconds:F0} s needed beyond the {reserveSeconds:F0} s reserve)"));
                    skipped++;
                    log?.WriteLine($"[cutdiffusion] memory probe {method} vb={vb}: not started ({left:F0} s left)");
                    continue;
                }
                var row = RunOrFallback(req, launch);
                rows.Add(row);
                log?.WriteLine($"[cutdiffusion] memory probe {method} {scale}× vb={vb}: " +
                               (row.Measured ? $"peak {BenchViews.Mb(row.PeakBytes)}, {BenchViews.Mb(row.AboveBaselineBytes)} above the baseline ({row.Source}), {row.ProbeSeconds:F1} s"
                                   : row.Source));
            }
        if (skipped > 0) cuts?.Add($"memory probes: {skipped} of {rows.Count} not started (time budget)");
        return rows;
    }
}
