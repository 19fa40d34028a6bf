using System.Diagnostics;
using TorchSharp;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Papers.Eca;

/// <summary>The measurements of the ECA experiment, each a small step returning records.</summary>
public static class EcaSteps
{
    static Tensor Ints(long[] shape, long seed, Device device) =>
        torch.randint(-3, 4, shape, generator: Seeding.TorchGenerator(seed, string.Join("x", shape))).to_type(ScalarType.Float64).to(device);

    /// <summary>Both schemes on small-integer float64 inputs (exact arithmetic): the max error must be 0.</summary>
    public static IReadOnlyList<ExactRow> Exactness(IEnumerable<ProblemSize> sizes, int depth, Device device, long seed)
    {
        var rows = new List<ExactRow>();
        foreach (var s in sizes)
        {
            using var scope = torch.NewDisposeScope();
            var q = Ints([s.L, s.D], seed, device); var k = Ints([s.L, s.D], seed + 1, device);
            var p = Ints([s.L, s.L], seed + 2, device).tril();
            using (torch.no_grad())
            {
                rows.Add(new ExactRow("A: tril(Q Kᵀ)", s.L, s.D, depth, (EcaOps.TrilQK(q, k, depth) - q.matmul(k.t()).tril()).abs().max().item<double>(), "integers in [-3, 3], float64"));
                rows.Add(new ExactRow("B: P V", s.L, s.D, depth, (EcaOps.LowerPV(p, q, depth) - p.matmul(q)).abs().max().item<double>(), "integers in [-3, 3], float64"));
            }
        }
        return rows;
    }

    /// <summary>Closed-form counts for both schemes at every size and depth 1..maxDepth (where a level applies).</summary>
    public static IReadOnlyList<RatioRow> Ratios(IEnumerable<ProblemSize> sizes, int maxDepth)
    {
        var rows = new List<RatioRow>();
        foreach (var s in sizes)
            for (int depth = 1; depth <= maxDepth; depth++)
            {
                if (depth > 1 && !OpCounts.Recurses(s.L / (1 << (2 * (depth - 1))), s.D / (1 << (2 * (depth - 1))), 1)) break;
                var (am, aa) = OpCounts.EcaA(s.L, s.D, depth); var (nam, naa) = OpCounts.NaiveA(s.L, s.D);
                rows.Add(new RatioRow("A", s.L, s.D, depth, am, aa, nam, naa));
                var (bm, ba) = OpCounts.EcaB(s.L, s.D, depth); var (nbm, nba) = OpCounts.NaiveB(s.L, s.D);
                rows.Add(new RatioRow("B", s.L, s.D, depth, bm, ba, nbm, nba));
            }
        return rows;
    }

    /// <summary>Best ratio over depths 1..maxDepth (Step A) at (L, d).</summary>
    public static double BestRatioA(long l, long d, int maxDepth) =>
        Enumerable.Range(1, maxDepth).Select(k => OpCounts.RatioA(l, d, k)).Min();

    /// <summary>Where ECA starts to pay off, for square problems and for head dims 64 and 128 (L = 16 … 65536).</summary>
    public static IReadOnlyList<Crossover> Crossovers(int maxDepth)
    {
        var fams = new (string Name, Func<long, long> D)[] { ("d = L", l => l), ("d = 128", _ => 128), ("d = 64", _ => 64) };
        var ls = Enumerable.Range(4, 13).Select(i => 1L << i).ToArray();      // 16 … 65536
        var list = new List<Crossover>();
        foreach (var (name, dOf) in fams)
        {
            var ratios = ls.Select(l => BestRatioA(l, dOf(l), maxDepth)).ToArray();
            int idx = Enumerable.Range(0, ls.Length).FirstOrDefault(i => ratios.Skip(i).All(r => r < 1), -1);
            list.Add(idx < 0 ? new Crossover(name, null, double.NaN, ratios[^1])
                : new Crossover(name, (int)ls[idx], ratios[idx], idx > 0 ? ratios[idx - 1] : double.NaN));
        }
        return list;
    }

    /// <summary>float32 error of Step A at each depth next to a plain float32 matmul, both against a float64 reference.</summary>
    public static IReadOnlyList<ErrorRow> Float32Error(int n, int maxDepth, Device device, long seed)
    {
        using var scope = torch.NewDisposeScope();
        var gen = Seeding.TorchGenerator(seed, "fp32-error");
        var q64 = torch.randn([n, n], dtype: ScalarType.Float64, generator: gen).to(device);
        var k64 = torch.randn([n, n], dtype: ScalarType.Float64, generator: gen).to(device);
        var reference = q64.matmul(k64.t()).tril();
        double scale = reference.abs().max().item<double>();
        var q = q64.to_type(ScalarType.Float32); var k = k64.to_type(ScalarType.Float32);
        double plain = (q.matmul(k.t()).tril().to_type(ScalarType.Float64) - reference).abs().max().item<double>() / scale;
        var rows = new List<ErrorRow>();
        for (int depth = 0; depth <= maxDepth && (depth == 0 || OpCounts.Recurses(n >> (2 * (depth - 1)), n >> (2 * (depth - 1)), 1)); depth++)
        {
            var e = (EcaOps.TrilQK(q, k, depth).to_type(ScalarType.Float64) - reference).abs().max().item<double>() / scale;
            rows.Add(new ErrorRow(depth, e, plain));
        }
        return rows;
    }

    /// <summary>Max |ECA − float64 reference| of each output block (4×4 grid, Step A, one level) in float32: the blocks built
    /// from longer combinations (m8, m9 combine 7 blocks) carry more rounding.</summary>
    public static double[][] BlockErrors(int n, Device device, long seed)
    {
        using var scope = torch.NewDisposeScope();
        var gen = Seeding.TorchGenerator(seed, "block-error");
        var q64 = torch.randn([n, n], dtype: ScalarType.Float64, generator: gen).to(device);
        var k64 = torch.randn([n, n], dtype: ScalarType.Float64, generator: gen).to(device);
        var err = (EcaOps.TrilQK(q64.to_type(ScalarType.Float32), k64.to_type(ScalarType.Float32), 1).to_type(ScalarType.Float64)
                   - q64.matmul(k64.t()).tril()).abs();
        long b = n / 4;
        return Enumerable.Range(0, 4).Select(r => Enumerable.Range(0, 4).Select(c =>
            c > r ? 0.0 : err.narrow(0, r * b, b).narrow(1, c * b, b).max().item<double>()).ToArray()).ToArray();
    }

    /// <summary>Multiplications of each way to get tril(Q Kᵀ) at (L, d), relative to the full matmul (spec §7: the baseline
    /// changes the story).</summary>
    public static IReadOnlyList<(string Method, double Ratio)> BaselineMults(long l, long d) =>
    [
        ("full matmul, then tril", 1.0),
        ("4×4 blocked masked (40 block GEMMs)", 40 / 64.0),
        ("ECA as run (34 dense block GEMMs)", 34 / 64.0),
        ("ideal masked naive", OpCounts.NaiveA(l, d).Mults / (double)(l * l * d)),
        ("ideal ECA, depth 1", OpCounts.EcaA(l, d, 1).Mults / (double)(l * l * d)),
        ("ideal ECA, depth 3", OpCounts.EcaA(l, d, 3).Mults / (double)(l * l * d)),
    ];

    /// <summary>Forward and backward of causal attention through ECA against autograd of standard masked attention.</summary>
    public static AttentionCheck CheckAttention(int batch, int heads, ProblemSize s, int depth, Device device, long seed)
    {
        using var scope = torch.NewDisposeScope();
        var gen = Seeding.TorchGenerator(seed, "attention");
        Tensor R() => torch.randn([batch, heads, s.L, s.D], dtype: ScalarType.Float64, generator: gen).to(device);
        var q = R().requires_grad_(); var k = R().requires_grad_(); var v = R().requires_grad_(); var dO = R();
        var o = EcaAttention.Reference(q, k, v);
        o.backward([dO]);
        var count = new OpCount();
        var (eo, p) = EcaAttention.Forward(q.detach(), k.detach(), v.detach(), depth, count);
        var (dq, dk, dv) = EcaAttention.Backward(q.detach(), k.detach(), v.detach(), eo, p, dO, depth, count);
        double M(Tensor a, Tensor b) => (a - b).abs().max().item<double>();
        // The six products of one head: QKᵀ and dO Vᵀ are A-shaped; P V, dS K, Pᵀ dO and dSᵀ Q are B-shaped.
        double naive = 2 * Sum(OpCounts.NaiveA(s.L, s.D)) + 4 * Sum(OpCounts.NaiveB(s.L, s.D));
        return new AttentionCheck(batch, heads, s.L, s.D, depth, M(eo, o.detach()), M(dq, q.grad!), M(dk, k.grad!), M(dv, v.grad!), count.Total, naive);
    }

    static double Sum((double M, double A) x) => x.M + x.A;

    /// <summary>
    /// Wall time of tril(Q Kᵀ), fp32 (TF32 off on CUDA): a full matmul then tril (what PyTorch does), a 4×4-blocked masked
    /// product (10 lower block GEMMs of b×d·d×b = 40 (b,e,b) units), and ECA at depth 1 and 2 (34 (b,e,b) GEMMs at depth 1;
    /// our code runs the triangular pieces as dense GEMMs, like the official one). GFLOP = executed GEMM work.
    /// </summary>
    public static IReadOnlyList<TimingRow> Timing(IEnumerable<int> sizes, int repeats, RuntimeInfo rt, long seed)
    {
        var device = rt.TorchDevice;
        var rows = new List<TimingRow>();
        bool cuda = rt.IsCuda;
        using var tf32 = Tf32.Off();
        foreach (var l in sizes)
        {
            using var scope = torch.NewDisposeScope();
            var gen = Seeding.TorchGenerator(seed, $"timing{l}");
            var q = torch.randn([l, l], generator: gen).to(device); var k = torch.randn([l, l], generator: gen).to(device);
            double b = l / 4.0, unit = 2 * b * b * (l / 4.0) / 1e9;            // one (b, e, b) GEMM, in GFLOP
            var methods = new (string Name, Func<Tensor> Run, double GFlop)[]
            {
                ("full matmul + tril", () => q.matmul(k.t()).tril(), 64 * unit),
                ("4×4 blocked masked (10 block GEMMs)", () => BlockedMasked(q, k), 40 * unit),
                ("ECA depth 1 (34 block GEMMs)", () => EcaOps.TrilQK(q, k, 1), 34 * unit),
                ("ECA depth 2", () => EcaOps.TrilQK(q, k, 2), (24 + 2 * 34 / 64.0 + 2 * 34 / 16.0) * unit),
                ("ECA depth 1 packed (coefficient GEMMs + one batched GEMM)", () => EcaPacked.TrilQK(q, k), 34 * unit),
            };
            foreach (var (name, run, gflop) in methods)
            {
                // Each call in its own dispose scope: intermediates (the full product before tril) are freed at once, so no
                // method pays for fresh allocations that another reuses from the caching allocator.
                void Once() { using var _ = torch.NewDisposeScope(); using (torch.no_grad()) run(); }
                Once();                                                          // warm-up
                if (cuda) torch.cuda.synchronize(device);
                var times = new List<double>();
                for (int r = 0; r < repeats; r++)
                {
                    var sw = Stopwatch.StartNew();
                    Once();
                    if (cuda) torch.cuda.synchronize(device);
                    times.Add(sw.Elapsed.TotalMilliseconds);
                }
                times.Sort();
                rows.Add(new TimingRow(l, name, Math.Round(times[times.Count / 2], 3), Math.Round(gflop, 3), rt.DeviceName));
            }
        }
        return rows;
    }

    /// <summary>tril(Q Kᵀ) from the 10 lower blocks of a 4×4 grid, diagonal blocks as dense GEMMs then masked.</summary>
    public static Tensor BlockedMasked(Tensor q, Tensor k)
    {
        using var scope = torch.NewDisposeScope();
        long l = q.shape[^2], b = l / 4;
        var s = torch.zeros([l, l], q.dtype, q.device);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c <= r; c++)
            {
                var blk = q.narrow(0, r * b, b).matmul(k.narrow(0, c * b, b).t());
                s.narrow(0, r * b, b).narrow(1, c * b, b).copy_(r == c ? blk.tril() : blk);
            }
        return s.MoveToOuterDisposeScope();
    }
}

/// <summary>ECA's headline experiment: exactness, counted ratios and crossovers, float32 error, attention, timing.</summary>
public static class EcaExperiment
{
    public const string Slug = "eca";
    public const string Title = "ECA — Exact Causal Attention with 10% Fewer Operations (arXiv 2510.05175, withdrawn)";

    public static EcaResults Run(EcaConfig cfg, RuntimeInfo rt, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var device = rt.TorchDevice;
        Seeding.SeedAll(cfg.Seed);
        // Every fp32 measurement here (rounding error, block errors, GEMM timing, the fp32 LM comparison) is about fp32: the
        // CUDA runtime's TF32 default would turn them into TF32 measurements.
        using var tf32 = Tf32.Off();
        var results = Progress.Run("eca", 7, tick =>
        {
            var exact = EcaSteps.Exactness(cfg.ExactSizes, cfg.ExactDepth, device, cfg.Seed); tick.Tick("exactness");
            var ratios = EcaSteps.Ratios(cfg.CountSizes, cfg.MaxDepth); tick.Tick("counts");
            var cross = EcaSteps.Crossovers(cfg.MaxDepth); tick.Tick("crossovers");
            var err = EcaSteps.Float32Error(cfg.ErrorSize, cfg.MaxDepth, device, cfg.Seed);
            var blockErr = EcaSteps.BlockErrors(cfg.ErrorSize, device, cfg.Seed); tick.Tick("float32 error");
            var att = EcaSteps.CheckAttention(cfg.AttentionBatch, cfg.AttentionHeads, cfg.AttentionSize, Math.Min(2, cfg.MaxDepth), device, cfg.Seed); tick.Tick("attention");
            var timing = EcaSteps.Timing(cfg.TimingSizes, cfg.TimingRepeats, rt, cfg.Seed); tick.Tick("timing");
            // The LM comparison is the last and optional step: a missing KJV text (a GPU machine without the bundled data) or a
            // failure there must not throw away the measurements above.
            LmComparison? lm = null; string? lmSkipped = null;
            try
            {
                if (Deadline.Passed) throw new InvalidOperationException($"the time budget ({Deadline.Variable}) ran out before it");
                var text = Data.KjvText.Load();
                lm = LmStep.Compare(text[..Math.Min(text.Length, cfg.LmTextChars)], cfg, device, cfg.Seed);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                lmSkipped = ex.Message;
                log.WriteLine($"[eca] LM comparison skipped: {ex.Message}");
            }
            tick.Tick("LM comparison");
            return (exact, ratios, cross, err, blockErr, att, timing, lm, lmSkipped);
        });
        var (e, r, c, f, be, a, t, l, skippedLm) = results;
        var res = new EcaResults("ECA", cfg.Preset, cfg, rt, e, r, c, f, be, a, t, l, [], 0, started.ToString("O")) { LmSkipped = skippedLm };
        res = res with { Claims = EcaClaims.Evaluate(res), WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) };
        AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), res, indented: false);
        AtomicFile.WriteAllText(Path.Combine(outDir, "claims.md"), EcaClaims.Markdown(res));
        EcaReport.Build(res).Save(Path.Combine(outDir, "report.html"));
        log.WriteLine($"[eca] exact: {e.All(x => x.MaxAbsError == 0)}; attention max |Δ| {Math.Max(Math.Max(a.MaxO, a.MaxDQ), Math.Max(a.MaxDK, a.MaxDV)):E1}; {sw.Elapsed.TotalSeconds:F1}s");
        return res;
    }
}
