using System.IO.Compression;
using TorchSharp;
using Workbench.Claims;
using Workbench.Data;
using Workbench.Display;
using Workbench.Papers.Lbc;
using Workbench.Runtime;
using Xunit;

namespace Workbench.Tests;

public class IdxTests
{
    static (int[] dims, byte[] bytes) Images(int n) =>
        ([n, 28, 28], Enumerable.Range(0, n * 784).Select(i => (byte)(i * 7 % 251)).ToArray());

    [Theory]
    [InlineData("imgs.gz")] [InlineData("imgs")]
    public void Reads_what_it_wrote_gzip_or_plain(string name)
    {
        var path = Path.Combine(T.TempDir(), name);
        var (dims, bytes) = Images(5);
        Idx.Write(path, dims, bytes);
        var d = Idx.Read(path, Idx.ImagesMagic);
        Assert.Equal(dims, d.Dims);
        Assert.Equal(bytes, d.Bytes);
        Assert.Equal(3, Idx.Read(path, limit: 3).Count);
    }

    [Fact]
    public void Missing_file_is_a_FileNotFound_naming_the_path()
    {
        var p = Path.Combine(T.TempDir(), "nope.gz");
        var e = Assert.Throws<FileNotFoundException>(() => Idx.Read(p));
        Assert.Contains(p, e.Message);
    }

    [Fact]
    public void Wrong_magic_is_rejected()
    {
        var p = Path.Combine(T.TempDir(), "bad");
        File.WriteAllBytes(p, [0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9]);
        var e = Assert.Throws<IdxFormatException>(() => Idx.Read(p));
        Assert.Contains("magic", e.Message);
    }

    [Fact]
    public void Labels_file_passed_as_images_is_rejected()
    {
        var p = Path.Combine(T.TempDir(), "labels.gz");
        Idx.Write(p, [3], [1, 2, 3]);
        var e = Assert.Throws<IdxFormatException>(() => Idx.Read(p, Idx.ImagesMagic));
        Assert.Contains("swapped", e.Message);
    }

    [Fact]
    public void Truncated_file_says_how_much_is_missing()
    {
        var dir = T.TempDir();
        var full = Path.Combine(dir, "full");
        var (dims, bytes) = Images(4);
        Idx.Write(full, dims, bytes);
        var cut = Path.Combine(dir, "cut.gz");
        var raw = File.ReadAllBytes(full);
        using (var fs = File.Create(cut)) using (var gz = new GZipStream(fs, CompressionLevel.Fastest)) gz.Write(raw, 0, raw.Length - 100);
        var e = Assert.Throws<IdxFormatException>(() => Idx.Read(cut));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void Corrupt_gzip_is_reported_as_a_format_error()
    {
        var p = Path.Combine(T.TempDir(), "corrupt.gz");
        File.WriteAllBytes(p, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5]);
        Assert.ThrowsAny<IOException>(() => Idx.Read(p));
    }

    [Fact]
    public void FashionMnist_loads_from_PAPERS_DATA_and_normalises()
    {
        _ = T.Rt;
        var root = T.TempDir();
        var dir = Directory.CreateDirectory(Path.Combine(root, "fashion-mnist")).FullName;
        var (dims, bytes) = Images(6);
        foreach (var split in new[] { "train", "t10k" })
        {
            Idx.Write(Path.Combine(dir, $"{split}-images-idx3-ubyte.gz"), dims, bytes);
            Idx.Write(Path.Combine(dir, $"{split}-labels-idx1-ubyte.gz"), [6], [0, 1, 2, 3, 9, 5]);
        }
        using var ds = FashionMnist.Load(train: true, dir: dir);
        Assert.Equal(new long[] { 6, 1, 28, 28 }, ds.Images.shape);
        Assert.Equal(new long[] { 0, 1, 2, 3, 9, 5 }, ds.Labels.data<long>().ToArray());
        var px = ds.Images[0, 0, 0, 1].item<float>();
        Assert.Equal((7 / 255f - FashionMnist.Mean) / FashionMnist.Std, px, 4);
    }

    [Fact]
    public void FashionMnist_missing_folder_says_how_to_install_it()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(true, dir: Path.Combine(T.TempDir(), "none")));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Message);
        Assert.Contains("PAPERS_DATA", e.Message);
    }
}

public class ServiceTests
{
    [Fact]
    public void Atomic_write_replaces_the_file_and_a_failed_write_keeps_the_old_one()
    {
        var dir = T.TempDir();
        var p = Path.Combine(dir, "r.json");
        AtomicFile.WriteJson(p, new { a = 1 });
        Assert.Contains("\"a\": 1", File.ReadAllText(p));
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(p, s => { s.WriteByte(1); throw new InvalidOperationException("boom"); }));
        Assert.Contains("\"a\": 1", File.ReadAllText(p));
        Assert.Single(Directory.GetFiles(dir));                               // no temp file left behind
    }

    [Fact]
    public void Checkpoint_cache_creates_once_then_reuses()
    {
        var cache = new CheckpointCache(T.TempDir());
        int made = 0;
        var (p1, hit1) = cache.GetOrCreate("lbc", "dense", new { seed = 1 }, path => { made++; File.WriteAllText(path, "x"); });
        var (p2, hit2) = cache.GetOrCreate("lbc", "dense", new { seed = 1 }, path => { made++; File.WriteAllText(path, "y"); });
        var (p3, _) = cache.GetOrCreate("lbc", "dense", new { seed = 2 }, path => { made++; File.WriteAllText(path, "z"); });
        Assert.False(hit1); Assert.True(hit2); Assert.Equal(p1, p2); Assert.NotEqual(p1, p3);
        Assert.Equal(2, made);
        Assert.Equal("x", File.ReadAllText(p2));
        Assert.Throws<IOException>(() => cache.GetOrCreate("lbc", "broken", 1, _ => throw new IOException("interrupted")));
        Assert.False(File.Exists(cache.PathFor("lbc", "broken", 1)));        // an interrupted create leaves no entry
    }

    [Fact]
    public void Seeds_are_reproducible_and_streams_independent()
    {
        _ = T.Rt;
        Assert.Equal(Seeding.Rng(7, "shuffle").Next(), Seeding.Rng(7, "shuffle").Next());
        Assert.NotEqual(Seeding.DeriveSeed(7, "shuffle"), Seeding.DeriveSeed(7, "init"));
        Assert.NotEqual(Seeding.DeriveSeed(7, "shuffle"), Seeding.DeriveSeed(8, "shuffle"));
        Seeding.SeedAll(42);
        var a = torch.randn(5).data<float>().ToArray();
        Seeding.SeedAll(42);
        Assert.Equal(a, torch.randn(5).data<float>().ToArray());
    }

    [Fact]
    public void Config_errors_name_the_field_and_the_fix()
    {
        var e = Assert.Throws<ConfigException>(() => (LbcConfig.Test with { BatchSize = 0 }).Validate());
        Assert.Contains("BatchSize", e.Message);
        var s = LbcConfig.Test.Suites[0] with { Epochs = 4, TfEpoch = 9 };
        e = Assert.Throws<ConfigException>(() => (LbcConfig.Test with { Suites = [s] }).Validate());
        Assert.Contains("Tf", e.Message);
        e = Assert.Throws<ConfigException>(() => NmPattern.Parse("4:2"));
        Assert.Contains("1 <= N < M", e.Message);
        e = Assert.Throws<ConfigException>(() => Presets.Parse("huge"));
        Assert.Contains("test or gpu", e.Message);
        Assert.Throws<ArgumentException>(() => TorchRuntime.ParseChoice("tpu"));
        Assert.Same(LbcConfig.Test, LbcConfig.For(Preset.Test));
        LbcConfig.Gpu.Validate();
    }

    [Fact]
    public void Plain_progress_prints_about_every_tenth()
    {
        var w = new StringWriter();
        var p = new Progress.Plain("loop", 50, w);
        for (int i = 0; i < 50; i++) p.Tick("x");
        var lines = w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.InRange(lines.Length, 10, 12);
        Assert.StartsWith("[loop] 50/50", lines[^1]);
    }

    [Fact]
    public void Report_renders_charts_tables_and_claims_offline()
    {
        var dir = T.TempDir();
        var rep = new HtmlReport("t <1>")
            .Para("a `code` **bold** <x>")
            .Chart(Charts.Heatmap([[1.0, 2.0], [3.0, 4.0]], "h"))
            .Chart(Charts.Histogram([1, 2, 2, 3], "hist"))
            .Chart(Charts.Lines([new Series("s", [0, 1], [1, 0])], "l"))
            .Chart(Charts.ImageGrid([[[0, 1], [1, 0]], [[1, 1], [0, 0]]], 2, "g"))
            .Table(ClaimsTable.ToTable([new Claim("c", "s", "1", "o", "2", Verdict.Partly)]));
        var path = rep.Save(Path.Combine(dir, "r.html"));
        var html = File.ReadAllText(path);
        Assert.Contains("<code>code</code>", html);
        Assert.Contains("&lt;x&gt;", html);
        Assert.Contains("verdict-partly", html);
        Assert.Contains("\"type\":\"heatmap\"", html);
        Assert.DoesNotContain("cdn.plot.ly", html);
        Assert.True(new FileInfo(Path.Combine(dir, "plotly.min.js")).Length > 1_000_000);
    }
}

public class RuntimeTests
{
    [Fact]
    public void Auto_falls_back_to_cpu_here_and_reports_what_it_loaded()
    {
        var rt = T.Rt;
        if (rt.IsCuda) return;                                                // on a CUDA machine this test has nothing to check
        Assert.Equal("cpu", rt.Device);
        Assert.Contains("libtorch-cpu", rt.LibtorchOrigin);
        Assert.Contains("cpu", rt.ToString());
        var e = Assert.Throws<InvalidOperationException>(() => TorchRuntime.Init(DeviceChoice.Cuda));
        Assert.Contains("--device cuda", e.Message);
    }

    [Fact]
    public void A_bad_PAPERS_TORCH_LIB_is_reported_not_used()
    {
        var old = Environment.GetEnvironmentVariable(TorchRuntime.TorchLibVariable);
        try
        {
            Environment.SetEnvironmentVariable(TorchRuntime.TorchLibVariable, "/no/such/torch/lib");
            var notes = new List<string>();
            Assert.Null(TorchRuntime.FindPyTorchLib(notes));
            Assert.Contains(notes, n => n.Contains("/no/such/torch/lib"));
        }
        finally { Environment.SetEnvironmentVariable(TorchRuntime.TorchLibVariable, old); }
    }
}

public class CliTests
{
    [Fact]
    public void Reproduce_writes_the_report_and_bad_input_exits_non_zero_with_a_message()
    {
        _ = T.Rt;
        var dir = T.TempDir();
        var err = new StringWriter();
        var oldErr = Console.Error; var oldOut = Console.Out;
        try
        {
            Console.SetError(err); Console.SetOut(TextWriter.Null);
            Assert.Equal(0, Workbench.Cli.Program.Main(["reproduce", "lbc", "--preset", "test", "--out", dir, "--seed", "3"]));
            Assert.True(File.Exists(Path.Combine(dir, "report.html")));
            Assert.Contains("\"seeds\":[3]", File.ReadAllText(Path.Combine(dir, "results.json")));
            Assert.Equal(1, Workbench.Cli.Program.Main(["reproduce", "nopaper"]));
            Assert.Contains("Unknown paper 'nopaper'", err.ToString());
            Assert.Equal(1, Workbench.Cli.Program.Main(["reproduce", "lbc", "--presett", "gpu"]));
            Assert.Contains("Unknown option --presett", err.ToString());
            Assert.Equal(1, Workbench.Cli.Program.Main(["reproduce", "lbc", "--preset", "huge"]));
            Assert.Equal(1, Workbench.Cli.Program.Main(["merge", "lbc", Path.Combine(dir, "missing"), "--out", dir]));
            Assert.Contains("No LBC results file", err.ToString());
            var merged = Path.Combine(dir, "merged");
            Assert.Equal(0, Workbench.Cli.Program.Main(["merge", "lbc", dir, "--out", merged]));
            Assert.True(File.Exists(Path.Combine(merged, "claims.md")));
        }
        finally { Console.SetError(oldErr); Console.SetOut(oldOut); }
    }
}

public class TrainBudgetTests
{
    [Fact]
    public void Without_a_budget_every_step_runs_until_the_deadline_passes_then_the_loop_stops_after_that_step()
    {
        var old = Environment.GetEnvironmentVariable(Workbench.Runtime.Deadline.Variable);
        try
        {
            Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, null);
            var b = new Workbench.Runtime.TrainBudget(100, null);
            for (int done = 1; done <= 7; done++) Assert.False(b.Step(done));
            // SIGTERM sets the deadline to now: the next step ends the loop, whatever the minimum.
            Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, (DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1).ToString());
            Assert.True(b.Step(8));
            Assert.Equal(8, b.Target);
            Assert.Contains("stopped at step 8 of 100 (deadline passed)", b.Cut(8));
            Assert.Contains("8 of 100 steps", b.Cut(8));
        }
        finally { Environment.SetEnvironmentVariable(Workbench.Runtime.Deadline.Variable, old); }
    }
}
