using System.Globalization;
using TorchSharp;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Blocks.Lm;
using Workbench.Claims;
using Workbench.Papers;
using Workbench.Papers.CutDiffusion;
using Workbench.Papers.Remax;
using Workbench.Runtime;
using Xunit;

namespace Workbench.Tests;

/// <summary>Fresh-process probes (<see cref="ChildProbe"/>): the handler registry, the request and result JSON, the CutDiffusion
/// memory claim decided from probe rows, and that failing or skipped probes become rows instead of exceptions. Tests that set
/// <c>PAPERS_DEADLINE</c> or <see cref="ChildProbe.Launcher"/> restore them in <c>finally</c>.</summary>
public class DiffusionMemoryProbeTests
{
    static readonly UNetConfig Tiny = new(16, [8, 16], 1, [1], 16, 1, Heads: 2);
    static readonly DiffusionTrainConfig Train = new(7, 4, 1e-3, 16, Ema: 0);
    const long MiB = 1L << 20;

    static DiffusionMemoryRow Row(string method, int vb, long? aboveMiB, string source = "NVML process") =>
        new(method, 2, vb, aboveMiB is long a ? (a + 600) * MiB : null, aboveMiB is null ? null : 600 * MiB, aboveMiB * MiB,
            aboveMiB is null ? "probe failed: exit 134" : source);

    static Claim Memory(params DiffusionMemoryRow[] rows) => CutClaims.MemoryClaim(rows, [], "ours");

    [Fact]
    public void Memory_claim_is_decided_by_fresh_process_rows_at_equal_view_batch()
    {
        var rep = Memory(Row("CutDiffusion", 1, 10), Row("DemoFusion", 1, 12), Row("CutDiffusion", 16, 40), Row("DemoFusion", 16, 40));
        Assert.Equal(Verdict.Reproduced, rep.Verdict);   // ≤ holds with equality
        Assert.Contains("vb=1: 10 MiB / 12 MiB", rep.OurValue);
        Assert.Contains("vb=16: 40 MiB / 40 MiB", rep.OurValue);
        Assert.Contains("fresh-process peaks above the process baseline", rep.Comment);

        var partly = Memory(Row("CutDiffusion", 1, 10), Row("DemoFusion", 1, 12), Row("CutDiffusion", 16, 50), Row("DemoFusion", 16, 40));
        Assert.Equal(Verdict.Partly, partly.Verdict);
        Assert.Contains("at 1 of 2 view batch", partly.Comment);

        var not = Memory(Row("CutDiffusion", 1, 13), Row("DemoFusion", 1, 12), Row("CutDiffusion", 16, 50), Row("DemoFusion", 16, 40));
        Assert.Equal(Verdict.NotReproduced, not.Verdict);

        // Only view batches where both methods were measured count; the missing one is named.
        var one = Memory(Row("CutDiffusion", 1, 10), Row("DemoFusion", 1, 12), Row("CutDiffusion", 16, 50), Row("DemoFusion", 16, null));
        Assert.Equal(Verdict.Reproduced, one.Verdict);
        Assert.Contains("not compared at vb=16", one.OurValue);
        Assert.Contains("DemoFusion vb=16: probe failed: exit 134", one.Comment);
        // The peak itself (which includes the context and weights) is not what is compared: only peak − baseline.
        var peaks = Memory(Row("CutDiffusion", 1, 10) with { PeakBytes = 9000 * MiB }, Row("DemoFusion", 1, 12));
        Assert.Equal(Verdict.Reproduced, peaks.Verdict);
    }

    [Fact]
    public void Memory_claim_stays_pending_without_a_measured_pair_and_says_why()
    {
        var none = Memory();
        Assert.Equal(Verdict.Pending, none.Verdict);
        Assert.Contains("needs one fresh process per (method, view batch)", none.Comment);

        var onlyCut = Memory(Row("CutDiffusion", 1, 10), Row("DemoFusion", 1, null));
        Assert.Equal(Verdict.Pending, onlyCut.Verdict);
        Assert.Contains("no view batch with both methods measured", onlyCut.OurValue);
        Assert.Contains("probe failed: exit 134", onlyCut.Comment);

        // Different view batches are never compared with each other.
        var crossed = Memory(Row("CutDiffusion", 1, 10), Row("DemoFusion", 16, 12));
        Assert.Equal(Verdict.Pending, crossed.Verdict);

        // In-process high-water marks alone never decide it.
        var hwm = CutClaims.MemoryClaim([], [new ViewBatchRow("CutDiffusion", 2, 1, 0.1, 900 * MiB, "NVML process", 0),
            new ViewBatchRow("DemoFusion", 2, 1, 0.1, 950 * MiB, "NVML process", 0)], "ours");
        Assert.Equal(Verdict.Pending, hwm.Verdict);
        Assert.Contains("high-water marks only", hwm.OurValue);
    }

    [Fact]
    public void Evaluate_reads_the_memory_claim_from_the_results_probes()
    {
        var tr = new TrainResult("TinyUNet", [], 7, 0, true, "", 1000);
        var res = new CutResults("test", T.Rt, "2025-01-01T00:00:00Z", 1, CutConfig.Test, tr, tr, tr, 0.5, 0.5, [[1, 2]], [], [], [], [], [], [], [], []);
        Claim Mem(CutResults r) => CutClaims.Evaluate(r).Single(c => c.What.StartsWith("Peak memory", StringComparison.Ordinal));
        Assert.Equal(Verdict.Pending, Mem(res).Verdict);
        var probed = res with { MemoryProbes = [Row("CutDiffusion", 1, 10), Row("DemoFusion", 1, 12), Row("CutDiffusion", 4, 30), Row("DemoFusion", 4, 20)] };
        Assert.Equal(Verdict.Partly, Mem(probed).Verdict);
        var md = CutClaims.Markdown(probed with { Claims = CutClaims.Evaluate(probed) });
        Assert.Contains("## Peak memory (one fresh process per method and view batch)", md);
        Assert.Contains("| DemoFusion | 2× | 4 | 20 MiB | 620 MiB | 600 MiB | NVML process |", md);
        Assert.Contains("Not measured", CutClaims.Markdown(res));
    }

    [Fact]
    public void Probe_request_and_row_round_trip_through_one_line_json()
    {
        var req = new DiffusionMemoryRequest("DemoFusion", 4, 16, UNetConfig.Gpu, DiffusionTrainConfig.Gpu, 3, new SamplerSettings(Steps: 50, ViewBatch: 16, Eta: 0.25), 5, 0.35);
        var json = ChildProbe.Serialize(req);
        Assert.DoesNotContain('\n', json);
        var back = ChildProbe.Parse<DiffusionMemoryRequest>(DiffusionMemoryProbe.Kind, json);
        Assert.Equal(req with { Model = back.Model }, back);   // records compare arrays by reference: the model is checked below
        Assert.Equal(req.Model.Channels, back.Model.Channels);
        Assert.Equal(req.Model.AttnLevels, back.Model.AttnLevels);
        Assert.Equal(json, ChildProbe.Serialize(back));
        // The child finds the same cached checkpoint as the parent.
        Assert.Equal(DiffusionTraining.CheckpointPath(req.Model, req.Train, req.Seed), DiffusionTraining.CheckpointPath(back.Model, back.Train, back.Seed));

        var row = new DiffusionMemoryRow("CutDiffusion", 2, 1, 700 * MiB, 600 * MiB, 100 * MiB, "NVML device", 1.25);
        var line = ChildProbe.ResultLine(ChildProbe.Serialize(row));
        var stdout = "[papers] device cuda\nwarning: something\n" + line + "\r\ntrailing output\n";
        Assert.Equal(row, ChildProbe.Parse<DiffusionMemoryRow>(DiffusionMemoryProbe.Kind, ChildProbe.FindResult(stdout)!));
        Assert.Null(ChildProbe.FindResult("no result here\n"));
        var failed = DiffusionMemoryProbe.Fallback(req, new Exception("x"));
        Assert.Equal(failed, ChildProbe.Parse<DiffusionMemoryRow>("k", ChildProbe.Serialize(failed)));
    }

    [Fact]
    public void Handlers_dispatch_by_kind_and_an_unknown_kind_is_a_clear_error()
    {
        var h = new ProbeHandlers()
            .Add<DiffusionMemoryRequest, string>("a", (q, _) => "A:" + q.Method)
            .Add<DiffusionMemoryRequest, string>("b", (q, _) => "B:" + q.ViewBatch);
        var json = ChildProbe.Serialize(new DiffusionMemoryRequest("CutDiffusion", 2, 7, Tiny, Train, 1, new SamplerSettings(), 1));
        Assert.Equal("\"A:CutDiffusion\"", h.Dispatch("a", json, torch.CPU));
        Assert.Equal("\"B:7\"", h.Dispatch("b", json, torch.CPU));
        var e = Assert.Throws<ConfigException>(() => h.Dispatch("remax", json, torch.CPU));
        Assert.Contains("unknown kind 'remax'", e.Message);
        Assert.Contains("Known kinds: a, b", e.Message);
        Assert.Throws<ArgumentException>(() => h.Add<string, string>("a", (q, _) => q));
        var bad = Assert.Throws<ConfigException>(() => h.Dispatch("a", "{not json", torch.CPU));
        Assert.Contains("probe a", bad.Message);

        // The CLI's registry: both papers' kinds; ReMax's handler is MemoryProbe.Run behind JSON.
        Assert.Equal(new[] { "diffusion-memory", "remax-memory" }, Probes.Handlers.Kinds.Order(StringComparer.Ordinal));
        _ = T.Rt;
        var mc = new TinyLmConfig(40, 32, 2, 2, 64);
        var req = new MemoryProbeRequest("Ppo", 2, 8, mc);
        var viaJson = ChildProbe.Parse<MemoryRow>(MemoryProbe.Kind, Probes.Handlers.Dispatch(MemoryProbe.Kind, ChildProbe.Serialize(req), torch.CPU));
        var direct = MemoryProbe.Run(req, torch.CPU);
        Assert.Equal(direct with { Seconds = 0 }, viaJson with { Seconds = 0 });
        Assert.Throws<ConfigException>(() => Probes.Handlers.Dispatch("remax", "{}", torch.CPU));
    }

    [Fact]
    public void The_diffusion_probe_loads_the_cached_unet_and_never_trains()
    {
        _ = T.Rt;
        var seed = Random.Shared.NextInt64(1_000_000, 2_000_000);   // a checkpoint no other test wrote
        var req = new DiffusionMemoryRequest("DemoFusion", 2, 2, Tiny, Train, seed, new SamplerSettings(Steps: 2, ViewBatch: 4), 1);
        var json = ChildProbe.Serialize(req);
        var missing = Assert.Throws<FileNotFoundException>(() => Probes.Handlers.Dispatch(DiffusionMemoryProbe.Kind, json, torch.CPU));
        Assert.Contains("a probe never trains", missing.Message);
        var path = DiffusionTraining.CheckpointPath(Tiny, Train, seed);
        Assert.False(File.Exists(path));   // and it did not train one

        // A checkpoint cut by a time budget is reused only by the same budgeted run (the child inherits the parent's
        // deadline and run id).
        var old = Environment.GetEnvironmentVariable(Deadline.Variable);
        var oldId = Environment.GetEnvironmentVariable(Deadline.RunIdVariable);
        try
        {
            Environment.SetEnvironmentVariable(Deadline.RunIdVariable, "probe-test-run");
            using (var m = new TinyUNet(Tiny))
                CheckpointCache.Default().Put(path, tmp => Safetensors.SaveModule(tmp, m, TrainedCheckpoint.Metadata("ShapeScenes TinyUNet", 3, Train.Steps)));
            Environment.SetEnvironmentVariable(Deadline.Variable, null);
            var cut = Assert.Throws<InvalidOperationException>(() => Probes.Handlers.Dispatch(DiffusionMemoryProbe.Kind, json, torch.CPU));
            Assert.Contains("cut by a time budget", cut.Message);
            Environment.SetEnvironmentVariable(Deadline.Variable, (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 600).ToString(CultureInfo.InvariantCulture));
            foreach (var method in DiffusionMemoryRequest.Methods)
            {
                var row = ChildProbe.Parse<DiffusionMemoryRow>(DiffusionMemoryProbe.Kind,
                    Probes.Handlers.Dispatch(DiffusionMemoryProbe.Kind, ChildProbe.Serialize(req with { Method = method }), torch.CPU));
                Assert.Equal((method, 2, 2), (row.Method, row.Scale, row.ViewBatch));
                Assert.False(row.Measured);                 // CPU: sampled, nothing measured
                Assert.Equal("none (CPU)", row.Source);
                Assert.True(row.SampleSeconds > 0);
            }
        }
        finally { Environment.SetEnvironmentVariable(Deadline.Variable, old); Environment.SetEnvironmentVariable(Deadline.RunIdVariable, oldId); }
        Assert.Throws<ConfigException>(() => DiffusionMemoryProbe.Run(req with { Method = "MultiDiffusion" }, torch.CPU));
    }

    [Fact]
    public void A_failing_launcher_yields_fallback_rows_and_never_throws()
    {
        var cfg = CutConfig.Test;   // view batches 1 and 4
        var cuts = new List<string>();
        int calls = 0;
        var rows = DiffusionMemoryProbe.Sweep(cfg, 2, _ => { calls++; throw new InvalidOperationException("The diffusion-memory probe failed (exit 134): CUDA error"); }, cuts);
        Assert.Equal(4, calls);
        Assert.Equal(new[] { "CutDiffusion/1", "DemoFusion/1", "CutDiffusion/4", "DemoFusion/4" }, rows.Select(r => $"{r.Method}/{r.ViewBatch}"));
        Assert.All(rows, r => { Assert.False(r.Measured); Assert.StartsWith("probe failed: The diffusion-memory probe failed (exit 134)", r.Source); });
        Assert.Empty(cuts);
        Assert.Equal(Verdict.Pending, CutClaims.MemoryClaim(rows, [], "ours").Verdict);

        // A launcher whose output does not parse, and no launcher at all: also rows.
        var garbage = DiffusionMemoryProbe.Sweep(cfg, 2, q => ChildProbe.Launch<DiffusionMemoryRequest, DiffusionMemoryRow>(DiffusionMemoryProbe.Kind, q, (_, _) => "[1, 2"));
        Assert.All(garbage, r => Assert.StartsWith("probe failed: probe diffusion-memory: the JSON is not a DiffusionMemoryRow", r.Source));
        var saved = ChildProbe.Launcher;
        try
        {
            ChildProbe.Launcher = null;
            var none = DiffusionMemoryProbe.Sweep(cfg, 2, q => ChildProbe.Launch<DiffusionMemoryRequest, DiffusionMemoryRow>(DiffusionMemoryProbe.Kind, q));
            Assert.All(none, r => Assert.Contains("No probe launcher is registered", r.Source));
        }
        finally { ChildProbe.Launcher = saved; }

        // A launcher that works: what it returns is kept (with the parent's wall time) and decides the claim.
        var ok = DiffusionMemoryProbe.Sweep(cfg, 2, q => Row(q.Method, q.ViewBatch, q.Method == "CutDiffusion" ? 5 : 8) with { Scale = q.Scale });
        Assert.All(ok, r => Assert.True(r.Measured));
        Assert.Equal(Verdict.Reproduced, CutClaims.MemoryClaim(ok, [], "ours").Verdict);
    }

    [Fact]
    public void Probes_are_not_started_when_the_deadline_leaves_too_little_time()
    {
        var old = Environment.GetEnvironmentVariable(Deadline.Variable);
        try
        {
            Environment.SetEnvironmentVariable(Deadline.Variable, (DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 20).ToString(CultureInfo.InvariantCulture));
            var cuts = new List<string>();
            int calls = 0;
            // 20 s left but 8 s reserved: 12 s < the 15 s a probe is estimated to take.
            var rows = DiffusionMemoryProbe.Sweep(CutConfig.Test, 2, q => { calls++; return Row(q.Method, q.ViewBatch, 1); }, cuts, reserveSeconds: 8);
            Assert.Equal(0, calls);
            Assert.Equal(4, rows.Count);
            Assert.All(rows, r => Assert.StartsWith("not run: time budget", r.Source));
            Assert.Equal(new[] { "memory probes: 4 of 4 not started (time budget)" }, cuts);
            // Without the reserve 20 s are enough for the first probe.
            var first = DiffusionMemoryProbe.Sweep(CutConfig.Test, 2, q => { calls++; return Row(q.Method, q.ViewBatch, 1); });
            Assert.True(first[0].Measured);
            // The wait for a child never exceeds the time budget (but is at least a few seconds).
            Assert.InRange(ChildProbe.WaitLimit.TotalSeconds, ChildProbe.MinSeconds, 20);
        }
        finally { Environment.SetEnvironmentVariable(Deadline.Variable, old); }
        if (old is null) Assert.Equal(ChildProbe.MaxSeconds, ChildProbe.WaitLimit.TotalSeconds);
    }

    [Fact]
    public void The_self_launcher_runs_each_probe_in_a_fresh_cli_process()
    {
        _ = T.Rt;
        var cli = Path.Combine(AppContext.BaseDirectory, "papers.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing: the test project should copy the CLI beside the tests.");
        Assert.True(Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet",
            $"the test host is {Environment.ProcessPath}, not dotnet: the launcher would start it instead of papers.dll");
        var launch = ChildProbe.SelfLauncher(cli, device: "cpu");

        var req = new MemoryProbeRequest("Ppo", 2, 8, new TinyLmConfig(40, 32, 2, 2, 64));
        var child = ChildProbe.Launch<MemoryProbeRequest, MemoryRow>(MemoryProbe.Kind, req, launch);
        Assert.Equal(MemoryProbe.Run(req, torch.CPU) with { Seconds = 0 }, child with { Seconds = 0 });

        // The child inherits PAPERS_CACHE (set by the tests) and finds the checkpoint the parent wrote.
        var seed = Random.Shared.NextInt64(2_000_000, 3_000_000);
        using (var m = new TinyUNet(Tiny))
            CheckpointCache.Default().Put(DiffusionTraining.CheckpointPath(Tiny, Train, seed),
                tmp => Safetensors.SaveModule(tmp, m, TrainedCheckpoint.Metadata("ShapeScenes TinyUNet", Train.Steps, Train.Steps)));
        var dreq = new DiffusionMemoryRequest("CutDiffusion", 2, 1, Tiny, Train, seed, new SamplerSettings(Steps: 2), 1);
        var row = ChildProbe.Launch<DiffusionMemoryRequest, DiffusionMemoryRow>(DiffusionMemoryProbe.Kind, dreq, launch);
        Assert.Equal(("CutDiffusion", 1, "none (CPU)"), (row.Method, row.ViewBatch, row.Source));

        // A failing child: its stderr is the message.
        var e = Assert.Throws<InvalidOperationException>(() => launch("no-such-kind", "{}"));
        Assert.Contains("unknown kind 'no-such-kind'", e.Message);
        var missing = Assert.Throws<InvalidOperationException>(() => launch(DiffusionMemoryProbe.Kind, ChildProbe.Serialize(dreq with { Seed = seed + 1 })));
        Assert.Contains("a probe never trains", missing.Message);
    }

    [Fact]
    public void Remax_probes_on_cpu_run_here_even_with_a_launcher_registered()
    {
        _ = T.Rt;
        var saved = ChildProbe.Launcher;
        try
        {
            ChildProbe.Launcher = (_, _) => throw new InvalidOperationException("must not be called on CPU");
            var req = new MemoryProbeRequest("ReMax", 2, 8, new TinyLmConfig(40, 32, 2, 2, 64));
            var row = MemoryProbe.RunOrFallback(req, q => MemoryProbe.RunFreshOrHere(q, torch.CPU));
            Assert.Equal("analytic only (CPU)", row.Source);
        }
        finally { ChildProbe.Launcher = saved; }
    }
}
