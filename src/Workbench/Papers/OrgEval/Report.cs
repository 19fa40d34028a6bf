using System.Globalization;
using Plotly.NET;
using Plotly.NET.CSharp;
using Workbench.Claims;
using Workbench.Display;
using CChart = Plotly.NET.CSharp.Chart;

namespace Workbench.Papers.OrgEval;

/// <summary>ORGEval's views (spec §3) and the report page.</summary>
public static class OrgEvalReport
{
    static string F(double v, string f = "F1") => v.ToString(f, CultureInfo.InvariantCulture);

    static readonly string[] Palette =
    [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
        "#393b79", "#ad494a", "#8ca252", "#e7ba52", "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1", "#636363",
    ];

    /// <summary>Node positions: variables in a column at x = 0, constraints at x = 1, each spread over [0, 1].</summary>
    static (double X, double Y)[] Layout(ModelGraph g) =>
        Enumerable.Range(0, g.NumNodes).Select(v => v < g.NumVars
            ? (0.0, g.NumVars == 1 ? 0.5 : 1 - v / (double)(g.NumVars - 1))
            : (1.0, g.NumRows == 1 ? 0.5 : 1 - (v - g.NumVars) / (double)(g.NumRows - 1))).ToArray();

    /// <summary>The bipartite graph (variables left, constraints right) with nodes coloured by group: one legend entry per group.</summary>
    public static GenericChart DrawGraph(ModelGraph g, int[] group, string[] groupNames, string title)
    {
        var pos = Layout(g);
        var traces = new List<GenericChart>();
        for (int v = 0; v < g.NumVars; v++)
            foreach (var e in g.Adjacency[v])
                traces.Add(CChart.Line<double, double, string>(x: [pos[v].X, pos[e.To].X], y: [pos[v].Y, pos[e.To].Y], ShowLegend: false,
                    LineColor: Color.fromHex("#cccccc"), LineWidth: 1, Name: e.Weight));
        for (int c = 0; c < groupNames.Length; c++)
        {
            var nodes = Enumerable.Range(0, g.NumNodes).Where(v => group[v] == c).ToArray();
            if (nodes.Length == 0) continue;
            traces.Add(CChart.Point<double, double, string>(x: nodes.Select(v => pos[v].X), y: nodes.Select(v => pos[v].Y), Name: groupNames[c],
                MultiText: new Plotly.NET.CSharp.Optional<IEnumerable<string>>(nodes.Select(v => g.Names[v]).ToArray(), true),
                MarkerColor: Color.fromHex(c < 0 ? "#999999" : Palette[c % Palette.Length])));
        }
        var chart = Plotly.NET.Chart.withTitle(title, null).Invoke(CChart.Combine(traces));
        return chart.WithXAxisStyle<double, double, string>(TitleText: "variables (left) · constraints (right)").WithSize(700, Math.Max(350, 28 * Math.Max(g.NumVars, g.NumRows)));
    }

    static (int[] Group, string[] Names) ColourGroups(string[] colors)
    {
        var size = colors.GroupBy(c => c).ToDictionary(x => x.Key, x => x.Count());
        var order = colors.Distinct().OrderByDescending(c => size[c]).ThenBy(c => c, StringComparer.Ordinal).ToList();
        var idx = order.Select((c, i) => (c, i)).ToDictionary(t => t.c, t => t.i);
        return (colors.Select(c => idx[c]).ToArray(), order.Select(c => $"{c[..6]} ×{size[c]}").ToArray());
    }

    /// <summary>The graph coloured by its WL colours after <paramref name="round"/> rounds (legend: colour id × class size).</summary>
    public static GenericChart WlRound(ModelGraph g, WlRecord wl, int round, string label = "")
    {
        var r = Math.Min(round, wl.Rounds.Count - 1);
        var (group, names) = ColourGroups(wl.Rounds[r].ToArray());
        return DrawGraph(g, group, names, $"{label} WL round {r}: {wl.Classes[r]} colour classes");
    }

    /// <summary>The SD view: uniquely coloured nodes grey, each ambiguous component its own colour; the failing one named.</summary>
    public static GenericChart SdView(ModelGraph g, SdRecord sd, string label = "")
    {
        var group = Enumerable.Repeat(0, g.NumNodes).ToArray();
        for (int k = 0; k < sd.Components.Count; k++) foreach (var v in sd.Components[k]) group[v] = k + 1;
        var names = new[] { "unique colour (removed)" }.Concat(sd.Components.Select((c, k) => $"component {k} ({c.Length})" + (sd.FailingComponent == k ? " ✗ repeats a colour" : ""))).ToArray();
        return DrawGraph(g, group, names, $"{label} {sd.Kind}: {sd.Reason}");
    }

    public static GenericChart ClassCounts(WlRecord reference, WlRecord candidate, string title = "Colour classes per WL round") =>
        Charts.Lines([new Series("reference", Enumerable.Range(0, reference.Classes.Count).Select(i => (double)i).ToArray(), reference.Classes.Select(c => (double)c).ToArray()),
            new Series("candidate", Enumerable.Range(0, candidate.Classes.Count).Select(i => (double)i).ToArray(), candidate.Classes.Select(c => (double)c).ToArray())],
            title, "round", "classes");

    /// <summary>Paired bars: the size of every stable colour class in both graphs.</summary>
    public static GenericChart HistogramComparison(WlRecord reference, WlRecord candidate)
    {
        var ha = reference.Histogram(); var hb = candidate.Histogram();
        var keys = ha.Keys.Union(hb.Keys).OrderByDescending(k => ha.GetValueOrDefault(k) + hb.GetValueOrDefault(k)).ThenBy(k => k, StringComparer.Ordinal).Take(40).ToArray();
        var (eq, first) = Wl.Compare(reference, candidate);
        return Charts.GroupedBars(keys.Select(k => k[..6]).ToArray(),
            [("reference", keys.Select(k => (double)ha.GetValueOrDefault(k)).ToArray()), ("candidate", keys.Select(k => (double)hb.GetValueOrDefault(k)).ToArray())],
            eq ? "Stable colour histograms: equal" : $"Stable colour histograms: differ (first at round {first})", "class size");
    }

    public static GenericChart ConfusionHeatmap(Confusion c) =>
        Charts.Heatmap(c.Counts.Select(r => r.Select(x => (double)x).ToArray()).ToArray(), $"{c.Name} ({c.Total} instances)", "answer", "truth", c.Cols, c.Rows);

    /// <summary>Pairs × configurations: ORGEval's verdicts beside a solver's (2 equivalent, 1 uncertified / undecided, 0 not).</summary>
    public static GenericChart ConsistencyHeatmap(IReadOnlyList<PairRecord> pairs, string solver, int maxPairs = 60)
    {
        // The pairs where the solver is inconsistent first, so the view shows the interesting rows.
        var shown = pairs.OrderBy(p => p.Solver[solver].Distinct().Count() == 1).ThenBy(p => p.Id, StringComparer.Ordinal).Take(maxPairs).ToList();
        int k = shown.Count == 0 ? 0 : shown[0].Org.Length;
        double V(char c) => c switch { 'E' => 2, 'U' => 1, _ => 0 };
        var z = shown.Select(p => p.Org.Select(V).Concat(p.Solver[solver].Select(V)).ToArray()).ToArray();
        var x = Enumerable.Range(1, k).Select(i => $"ORGEval k{i}").Concat(Enumerable.Range(1, k).Select(i => $"{solver} k{i}")).ToArray();
        return Charts.Heatmap(z, $"Verdict per data configuration (2 equivalent, 1 uncertified/undecided, 0 not): ORGEval vs {solver}", "configuration", "pair",
            x, shown.Select(p => $"{p.Id} {p.Edit}").ToArray());
    }

    /// <summary>Runtime against nnz (log–log): ORGEval per pair, each solver per solve; time-outs sit at the limit.</summary>
    public static GenericChart RuntimeChart(IReadOnlyList<RuntimeRow> rows, double limit)
    {
        var series = rows.GroupBy(r => (r.Family, r.Evaluator)).Select(g =>
        {
            var pts = g.OrderBy(r => r.Nnz).ToList();
            return new Series($"{g.Key.Evaluator} · {g.Key.Family}", pts.Select(r => Math.Log10(r.Nnz)).ToArray(), pts.Select(r => Math.Log10(Math.Max(1e-4, r.Seconds))).ToArray());
        });
        return Charts.Lines(series, $"Runtime vs size (solver time limit {F(limit, "F0")} s = log10 {F(Math.Log10(limit), "F2")})", "log10 nonzeros", "log10 seconds");
    }

    public static GenericChart CensusBars(IReadOnlyList<CensusRow> census) =>
        Charts.GroupedBars(census.Select(c => c.Family).ToArray(),
            [("WL-determinable", census.Select(c => (double)c.WlDeterminable).ToArray()), ("SD", census.Select(c => (double)c.Sd).ToArray()),
             ("neither (uncertified)", census.Select(c => (double)c.Uncertified).ToArray())], "Census of reference instances per family", "instances");

    public static Table ConfusionTable(Confusion c) => new(["truth \\ answer", .. c.Cols], c.Rows.Select((r, i) => new[] { r }.Concat(c.Counts[i].Select(x => x.ToString())).ToArray()).ToList());

    public static Table RuntimeTable(IReadOnlyList<RuntimeRow> rows) => new(["family", "variables", "rows", "nnz", "evaluator", "seconds", "status"],
        rows.OrderBy(r => r.Family).ThenBy(r => r.Vars).ThenBy(r => r.Evaluator).Select(r => new[] { r.Family, r.Vars.ToString(), r.Rows.ToString(), r.Nnz.ToString(), r.Evaluator, F(r.Seconds, "F3"), r.Status }).ToList());

    public static Table CensusTable(IReadOnlyList<CensusRow> census) => new(["family", "instances", "not WL-determinable", "SD", "WL-determinable", "neither"],
        census.Select(c => new[] { c.Family, c.Instances.ToString(), c.NotWlDeterminable.ToString(), c.Sd.ToString(), c.WlDeterminable.ToString(), c.Uncertified.ToString() }).ToList());

    public static Table ConsistencyTable(IReadOnlyList<ConsistencyRow> rows) => new(["evaluator", "pairs", "consistent", "%", "note"],
        rows.Select(r => new[] { r.Evaluator, r.Pairs.ToString(), r.Consistent.ToString(), F(r.Percent, "F1"), r.Note }).ToList());

    public static HtmlReport Build(OrgEvalResults r)
    {
        var rep = new HtmlReport(OrgEvalExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Machine}; {F(r.WallSeconds, "F0")} s (pairs {F(r.PairStudySeconds, "F0")} s, runtime sweep {F(r.RuntimeSweepSeconds, "F0")} s). " +
                 "CPU-bound: external tools run in parallel on the cores. Tools: " + string.Join(", ", r.Tools.Select(t => $"{t.Tool} {t.Version}")) + ".");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Heading("How ORGEval decides: three small pairs");
        foreach (var ex in Examples.All())
        {
            var e = ex.Evaluation;
            rep.Heading($"{ex.Name}: {e.Verdict} — {e.Reason}", 3);
            if (e.ReferenceGraph is { } g && e.ReferenceWl is { } w)
            {
                rep.Chart(WlRound(g, w, w.RoundCount, "reference"));
                if (e.CandidateWl is { } wc) rep.Chart(ClassCounts(w, wc));
                if (e.ReferenceSd is { } sd && !sd.WlDeterminable) rep.Chart(SdView(g, sd, "reference"));
            }
        }
        rep.Heading("Consistency across data configurations");
        rep.Table(ConsistencyTable(r.Consistency));
        foreach (var s in r.Config.Solvers) rep.Chart(ConsistencyHeatmap(r.Pairs, s, 50));
        rep.Heading("Correctness");
        foreach (var c in r.Confusions) { rep.Heading(c.Name, 3); rep.Table(ConfusionTable(c)); }
        rep.Chart(ConfusionHeatmap(r.Confusions[0]));
        rep.Heading("Solver statuses in the pair study");
        rep.Table(new Table(["solver", "status", "solves"], r.Statuses.Select(s => new[] { s.Solver, s.Status, s.Count.ToString() }).ToList()));
        rep.Heading("Runtime");
        rep.Chart(RuntimeChart(r.Sweep, r.Config.RuntimeTimeLimit));
        rep.Table(RuntimeTable(r.Sweep));
        rep.Heading("Census");
        rep.Chart(CensusBars(r.Census));
        rep.Table(CensusTable(r.Census));
        return rep;
    }
}

/// <summary>Small worked pairs for the views: a knapsack and its permuted copy (WL-determinable), identical-bin bin packing
/// (SD), the 2n-cycle against two n-cycles (uncertified).</summary>
public static class Examples
{
    public sealed record Example(string Name, LpModel Reference, LpModel Candidate, Evaluation Evaluation);

    public static Example Make(string name, LpModel reference, LpModel candidate) => new(name, reference, candidate, OrgEvaluator.Evaluate(reference, candidate));

    public static Example Knapsack(long seed = 1)
    {
        var m = Generator.Find("knapsack").Build(5, Runtime.Seeding.Rng(seed, "example/knapsack"));
        return Make("knapsack vs permuted copy", m, Edits.PermuteAndRename(m, Runtime.Seeding.Rng(seed, "example/knapsack/perm")));
    }

    public static Example BinPacking(long seed = 1, bool equalWeights = false)
    {
        var m = Generator.BinPacking(3, Runtime.Seeding.Rng(seed, "example/binpacking"), equalWeights);
        return Make(equalWeights ? "bin packing, equal weights, vs permuted copy" : "bin packing vs permuted copy", m, Edits.PermuteAndRename(m, Runtime.Seeding.Rng(seed, "example/binpacking/perm")));
    }

    public static Example Cycle(int n = 3, long seed = 1) =>
        Make($"{2 * n}-cycle vs two {n}-cycles", Generator.Cycles(n, Runtime.Seeding.Rng(seed, "example/cycle"), false), Generator.Cycles(n, Runtime.Seeding.Rng(seed, "example/cycle"), true));

    public static IReadOnlyList<Example> All(long seed = 1) => [Knapsack(seed), BinPacking(seed), Cycle(3, seed)];
}
