using System.Diagnostics;
using Workbench.Runtime;

namespace Workbench.Papers.OrgEval;

/// <summary>One labelled pair: family, size, edit. Its K instances differ only in their random data.</summary>
public sealed record PairSpec(string Id, Family Family, int N, EditKind Edit);

/// <summary>One (reference, candidate) instance pair and everything measured on it.</summary>
public sealed record InstanceResult(LpModel Reference, LpModel Candidate, string Note, Evaluation Org, OrgVerdict OrgCode, ExactRecord Exact,
    SdRecord ReferenceSd, IReadOnlyList<(SolveRecord Ref, SolveRecord Cand, string Verdict)> Solves);

/// <summary>The steps of the ORGEval study, each returning records.</summary>
public static class OrgEvalSteps
{
    /// <summary>The pairs of the study: edits cycle through each family's applicable list, N is drawn per pair.</summary>
    public static IReadOnlyList<PairSpec> Pairs(OrgEvalConfig cfg)
    {
        var list = new List<PairSpec>();
        foreach (var name in cfg.Families)
        {
            var f = Generator.Find(name);
            var edits = Edits.For(f);
            var order = Seeding.Rng(cfg.Seed, $"{name}/edit-order").Next(edits.Count);
            for (int p = 0; p < cfg.PairsPerFamily; p++)
            {
                int n = Seeding.Rng(cfg.Seed, $"{name}/{p}/n").Next(cfg.MinN, cfg.MaxN + 1);
                list.Add(new PairSpec($"{name}/{p}", f, n, edits[(p + order) % edits.Count]));
            }
        }
        return list;
    }

    /// <summary>Instance k of a pair: the reference from data configuration k, the candidate by the pair's edit (same choices in every k).</summary>
    public static (LpModel Reference, LpModel Candidate, string Note) Instance(PairSpec s, int k, long seed)
    {
        var reference = s.Family.Build(s.N, Seeding.Rng(seed, $"{s.Id}/data{k}"));
        var (cand, note) = Edits.Apply(reference, s.Edit, Seeding.Rng(seed, $"{s.Id}/edit"),
            () => Generator.Cycles(s.N, Seeding.Rng(seed, $"{s.Id}/data{k}"), split: true));
        return (reference, cand, note);
    }

    /// <summary>ORGEval (both sign modes), bliss on the normalised graphs, and every configured solver on both instances.</summary>
    public static InstanceResult EvaluateInstance(LpModel reference, LpModel candidate, string note, OrgEvalConfig cfg, string workDir)
    {
        var org = OrgEvaluator.Evaluate(reference, candidate);
        var code = OrgEvaluator.Evaluate(reference, candidate, codeCompatible: true).Verdict;
        var gr = org.ReferenceGraph ?? ModelGraph.Build(org.Reference.Model);
        var gc = org.CandidateGraph ?? ModelGraph.Build(org.Candidate.Model);
        var exact = Exact.Isomorphic(gr, gc, workDir, cfg.BlissTimeLimit);
        var sd = org.ReferenceSd ?? Certify.Check(gr, (org.ReferenceWl ?? Wl.Refine(gr)).Stable);
        var solves = cfg.Solvers.Select(s =>
        {
            var a = Solvers.Solve(reference, s, cfg.SolverTimeLimit, workDir);
            var b = Solvers.Solve(candidate, s, cfg.SolverTimeLimit, workDir);
            return (a, b, Solvers.Verdict(a, b, cfg.AbsTolerance, cfg.RelTolerance));
        }).ToList();
        return new InstanceResult(reference, candidate, note, org, code, exact, sd, solves);
    }

    static char Letter(OrgVerdict v) => v switch { OrgVerdict.Equivalent => 'E', OrgVerdict.NotEquivalent => 'N', _ => 'U' };

    /// <summary>Every pair × configuration, in parallel over <see cref="OrgEvalConfig.Workers"/>; one record per pair.</summary>
    public static PairStudyResult PairStudy(OrgEvalConfig cfg, string workDir, Action<string>? tick = null)
    {
        var specs = Pairs(cfg);
        int K = cfg.DataConfigs;
        var results = new InstanceResult[specs.Count, K];
        var items = Enumerable.Range(0, specs.Count * K).ToArray();
        var gate = new object();
        Parallel.ForEach(items, new ParallelOptions { MaxDegreeOfParallelism = cfg.Workers }, idx =>
        {
            var s = specs[idx / K]; int k = idx % K;
            var (r, c, note) = Instance(s, k, cfg.Seed);
            results[idx / K, k] = EvaluateInstance(r, c, note, cfg, workDir);
            if (tick is not null) lock (gate) tick(s.Id);
        });
        var pairs = new List<PairRecord>();
        for (int p = 0; p < specs.Count; p++)
        {
            var s = specs[p];
            var rs = Enumerable.Range(0, K).Select(k => results[p, k]).ToList();
            string Str(Func<InstanceResult, char> f) => new(rs.Select(f).ToArray());
            var solver = cfg.Solvers.Select((name, i) => (name, Str(x => x.Solves[i].Verdict[0] switch { 'e' => 'E', 'n' => 'N', _ => 'U' })))
                .ToDictionary(t => t.name, t => t.Item2);
            var r0 = rs[0].Reference;
            pairs.Add(new PairRecord(s.Id, s.Family.Name, s.N, s.Edit.Name, rs[0].Note, s.Edit.Equivalent, r0.NumVars, r0.NumRows, r0.Nnz,
                Str(x => Letter(x.Org.Verdict)), Str(x => Letter(x.OrgCode)),
                Str(x => x.Exact.Isomorphic switch { true => 'I', false => 'N', null => '?' }), solver,
                Str(x => x.ReferenceSd.WlDeterminable ? 'W' : x.ReferenceSd.SymmetricDecomposable ? 'S' : 'X'),
                Math.Round(rs.Average(x => x.Org.Seconds) * 1000, 3)));
        }
        var statuses = cfg.Solvers.SelectMany((name, i) => Enumerable.Range(0, specs.Count * K)
                .SelectMany(idx => new[] { results[idx / K, idx % K].Solves[i].Ref.Status, results[idx / K, idx % K].Solves[i].Cand.Status })
                .GroupBy(s => s).OrderByDescending(g => g.Count()).Select(g => new StatusCount(name, Abbrev(g.Key), g.Count())))
            .ToList();
        return new PairStudyResult(pairs, statuses);
    }

    static string Abbrev(SolveStatus s) => s switch
    {
        SolveStatus.Optimal => "opt", SolveStatus.Infeasible => "inf", SolveStatus.Unbounded => "unb",
        SolveStatus.TimeLimit => "tl", SolveStatus.Skipped => "skip", _ => "err",
    };

    /// <summary>Confusion matrices over all pair × configuration instances: ORGEval (design signs and code-compatible) and each solver,
    /// against the edit labels and against bliss; and the labels against bliss (a check on the generator).</summary>
    public static IReadOnlyList<Confusion> Confusions(IReadOnlyList<PairRecord> pairs, IEnumerable<string> solvers)
    {
        string[] truthL = ["label: equivalent", "label: not"], truthX = ["bliss: isomorphic", "bliss: not"];
        string[] orgCols = ["equivalent", "not equivalent", "uncertified"], solCols = ["equivalent", "not equivalent", "undecided"];
        var list = new List<Confusion>();
        Confusion Make(string name, string[] rows, string[] cols, Func<PairRecord, string> answers, Func<PairRecord, int, int> truth)
        {
            var m = rows.Select(_ => new int[cols.Length]).ToArray();
            foreach (var p in pairs)
            {
                var a = answers(p);
                for (int k = 0; k < a.Length; k++)
                {
                    int t = truth(p, k); if (t < 0) continue;
                    m[t][a[k] switch { 'E' => 0, 'N' => 1, _ => 2 }]++;
                }
            }
            return new Confusion(name, rows, cols, m);
        }
        int Label(PairRecord p, int k) => p.LabelEquivalent ? 0 : 1;
        int Bliss(PairRecord p, int k) => p.Exact[k] switch { 'I' => 0, 'N' => 1, _ => -1 };
        list.Add(Make("ORGEval vs labels", truthL, orgCols, p => p.Org, Label));
        list.Add(Make("ORGEval vs bliss", truthX, orgCols, p => p.Org, Bliss));
        list.Add(Make("ORGEval (code-compatible signs) vs labels", truthL, orgCols, p => p.OrgCode, Label));
        foreach (var s in solvers)
        {
            list.Add(Make($"{s} (solver-based) vs labels", truthL, solCols, p => p.Solver[s], Label));
            list.Add(Make($"{s} (solver-based) vs bliss", truthX, solCols, p => p.Solver[s], Bliss));
        }
        list.Add(Make("labels vs bliss", truthX, ["equivalent", "not equivalent", "-"], p => new string(p.Exact.Select(_ => p.LabelEquivalent ? 'E' : 'N').ToArray()), Bliss));
        return list;
    }

    /// <summary>Share of pairs whose K verdicts agree, for ORGEval and each solver.</summary>
    public static IReadOnlyList<ConsistencyRow> Consistency(IReadOnlyList<PairRecord> pairs, IEnumerable<string> solvers)
    {
        ConsistencyRow Row(string name, Func<PairRecord, string> v, string note)
        {
            int ok = pairs.Count(p => v(p).Distinct().Count() == 1);
            return new ConsistencyRow(name, pairs.Count, ok, pairs.Count == 0 ? 0 : Math.Round(100.0 * ok / pairs.Count, 2), note);
        }
        var unstable = pairs.Where(p => p.Org.Distinct().Count() > 1).ToList();
        int agree = unstable.Count(p => Enumerable.Range(0, p.Org.Length).All(k => (p.Org[k], p.Exact[k]) is ('E', 'I') or ('N', 'N') or ('U', _)));
        var rows = new List<ConsistencyRow> { Row("ORGEval", p => p.Org, "E / N / U per configuration" + (unstable.Count == 0 ? "" :
            $"; in {agree} of the {unstable.Count} inconsistent pairs ORGEval agrees with bliss in every configuration (the edit's effect depends on the data)")) };
        foreach (var s in solvers)
        {
            int withUndecided = pairs.Count(p => p.Solver[s].Contains('U'));
            rows.Add(Row(s, p => p.Solver[s], $"E / N / undecided; {withUndecided} pairs have a configuration where a solve was not optimal"));
        }
        return rows;
    }

    public static IReadOnlyList<CensusRow> Census(IReadOnlyList<PairRecord> pairs) =>
        pairs.GroupBy(p => p.Family).Select(g =>
        {
            var kinds = string.Concat(g.Select(p => p.Kinds));
            int w = kinds.Count(c => c == 'W'), s = kinds.Count(c => c == 'S'), x = kinds.Count(c => c == 'X');
            return new CensusRow(g.Key, kinds.Length, s + x, s, w, x);
        }).ToList();

    /// <summary>The size parameter N whose instance has at least <paramref name="targetVars"/> variables (smallest such N).</summary>
    public static int SizeFor(Family f, int targetVars)
    {
        int lo = 3, hi = 3;
        while (f.Build(hi, new Random(0)).NumVars < targetVars) { lo = hi; hi *= 2; }
        while (lo < hi) { int mid = (lo + hi) / 2; if (f.Build(mid, new Random(0)).NumVars >= targetVars) hi = mid; else lo = mid + 1; }
        return hi;
    }

    /// <summary>Runtime against size: ORGEval on (instance, permuted copy) and each solver on the instance, with the time limit.</summary>
    public static IReadOnlyList<RuntimeRow> RuntimeSweep(OrgEvalConfig cfg, string workDir, Action<string>? tick = null)
    {
        var jobs = new List<(string Family, int Size, string Evaluator)>();
        foreach (var f in cfg.RuntimeFamilies) foreach (var s in cfg.RuntimeSizes)
            foreach (var e in new[] { "orgeval" }.Concat(cfg.RuntimeSolvers)) jobs.Add((f, s, e));
        var rows = new RuntimeRow[jobs.Count];
        var gate = new object();
        Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = cfg.RuntimeParallelism }, i =>
        {
            var (fam, size, ev) = jobs[i];
            var f = Generator.Find(fam);
            var m = f.Build(SizeFor(f, size), Seeding.Rng(cfg.Seed, $"runtime/{fam}/{size}"));
            if (ev == "orgeval")
            {
                var cand = Edits.PermuteAndRename(m, Seeding.Rng(cfg.Seed, $"runtime/{fam}/{size}/perm"));
                var sw = Stopwatch.StartNew();
                var e = OrgEvaluator.Evaluate(m, cand);
                rows[i] = new RuntimeRow(fam, m.NumVars, m.NumRows, m.Nnz, ev, Math.Round(sw.Elapsed.TotalSeconds, 4), e.Verdict.ToString());
            }
            else
            {
                var r = Solvers.Solve(m, ev, cfg.RuntimeTimeLimit, workDir);
                rows[i] = new RuntimeRow(fam, m.NumVars, m.NumRows, m.Nnz, ev, Math.Round(r.Seconds, 4), r.Status.ToString());
            }
            if (tick is not null) lock (gate) tick($"{fam} {size} {ev}");
        });
        return rows;
    }

    /// <summary>Versions of the external tools (or "missing").</summary>
    public static IReadOnlyList<ToolVersion> ToolVersions()
    {
        string V(string bin, string pkg, string[] args, Func<string, string> pick)
        {
            try { var r = Tools.Run(bin, pkg, args, 10); return pick(r.Stdout + "\n" + r.Stderr); }
            catch (ToolMissingException) { return "missing"; }
        }
        string First(string s, string pattern) => System.Text.RegularExpressions.Regex.Match(s, pattern).Groups[1].Value is { Length: > 0 } v ? v : "unknown";
        return
        [
            new("bliss", V("bliss", "bliss", ["-version"], s => First(s, @"(\d+\.\d+(\.\d+)?)"))),
            new("highs", V("highs", "highs", ["--version"], s => First(s, @"HiGHS version (\S+)|(\d+\.\d+\.\d+)"))),
            new("cbc", V("cbc", "coinor-cbc", ["-quit"], s => First(s, @"Version:\s*(\S+)"))),
            new("glpsol", V("glpsol", "glpk-utils", ["--version"], s => First(s, @"GLPSOL.*?(\d+\.\d+)"))),
        ];
    }
}

/// <summary>ORGEval's study: labelled pairs × K data configurations (verdicts, bliss, solvers), census, runtime sweep.</summary>
public static class OrgEvalExperiment
{
    public const string Slug = "orgeval";
    public const string Title = "ORGEval — Graph-Theoretic Evaluation of LLMs in Optimization Modeling (arXiv 2510.27610)";

    public static string MachineName()
    {
        try
        {
            var model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim();
            return $"{model ?? "unknown CPU"}, {Environment.ProcessorCount} cores";
        }
        catch (IOException) { return $"{Environment.ProcessorCount} cores"; }
    }

    public static OrgEvalResults Run(OrgEvalConfig cfg, string outDir, TextWriter? log = null)
    {
        cfg.Validate();
        log ??= Console.Out;
        var started = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        var work = Path.Combine(Path.GetTempPath(), "orgeval-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        var tools = OrgEvalSteps.ToolVersions();
        foreach (var t in tools.Where(t => t.Version == "missing"))
            log.WriteLine($"[orgeval] {t.Tool} is missing: its results are marked skipped; run scripts/setup to install it");
        try
        {
            int items = OrgEvalSteps.Pairs(cfg).Count * cfg.DataConfigs;
            var study = Progress.Run("orgeval pairs", items, t => OrgEvalSteps.PairStudy(cfg, work, s => t.Tick(s)));
            var pairs = study.Pairs;
            double pairSecs = sw.Elapsed.TotalSeconds;
            int rjobs = cfg.RuntimeFamilies.Length * cfg.RuntimeSizes.Length * (1 + cfg.RuntimeSolvers.Length);
            var runtime = Progress.Run("orgeval runtime", rjobs, t => OrgEvalSteps.RuntimeSweep(cfg, work, s => t.Tick(s)));
            double runtimeSecs = sw.Elapsed.TotalSeconds - pairSecs;
            var res = new OrgEvalResults("ORGEval", cfg.Preset, cfg, new Host("cpu", MachineName()), MachineName(), Environment.ProcessorCount, tools, pairs,
                OrgEvalSteps.Confusions(pairs, cfg.Solvers), OrgEvalSteps.Consistency(pairs, cfg.Solvers), OrgEvalSteps.Census(pairs),
                runtime, study.Statuses, [], 0, Math.Round(pairSecs, 1), Math.Round(runtimeSecs, 1), started.ToString("O"));
            res = res with { WallSeconds = Math.Round(sw.Elapsed.TotalSeconds, 1) };
            res = res with { Claims = OrgEvalClaims.Evaluate(res) };
            WriteAll(res, outDir);
            var c = res.Consistency;
            log.WriteLine($"[orgeval] {pairs.Count} pairs × {cfg.DataConfigs} configurations; consistency " +
                string.Join(", ", c.Select(x => $"{x.Evaluator} {x.Percent:F1}%")) + $"; {res.WallSeconds:F1}s");
            return res;
        }
        finally { try { Directory.Delete(work, true); } catch (IOException) { } }
    }

    /// <summary>Recomputes everything derived from the pair records (confusions, consistency, census, claims): what
    /// <c>papers merge orgeval</c> does to rewrite a results folder with the current summary code.</summary>
    public static OrgEvalResults Rederive(OrgEvalResults r)
    {
        r = r with
        {
            Confusions = OrgEvalSteps.Confusions(r.Pairs, r.Config.Solvers),
            Consistency = OrgEvalSteps.Consistency(r.Pairs, r.Config.Solvers),
            Census = OrgEvalSteps.Census(r.Pairs),
        };
        return r with { Claims = OrgEvalClaims.Evaluate(r) };
    }

    public static void WriteAll(OrgEvalResults res, string outDir)
    {
        AtomicFile.WriteJson(Path.Combine(outDir, "results.json"), res, indented: false);
        AtomicFile.WriteAllText(Path.Combine(outDir, "claims.md"), OrgEvalClaims.Markdown(res));
        OrgEvalReport.Build(res).Save(Path.Combine(outDir, "report.html"));
    }
}
