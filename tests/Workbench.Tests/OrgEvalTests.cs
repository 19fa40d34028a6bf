using Workbench.Papers.OrgEval;
using Workbench.Runtime;
using Xunit;

namespace Workbench.Tests;

/// <summary>ORGEval's invariants (shared/papers/orgeval.md §5): permutation invariance, normalisation, IO round trips, WL refinement,
/// the sufficient condition against bliss, the WL-hard families, real solvers on instances with known optima, malformed files.</summary>
public class OrgEvalTests
{
    static readonly Family[] Ordinary = Generator.Families.Where(f => !f.WlHard).ToArray();

    static LpModel Build(string family, int n, int seed) => Generator.Find(family).Build(n, Seeding.Rng(seed, family));

    static string Work() => T.TempDir();

    static void RequireTool(string binary, string package)
    {
        if (Tools.Which(binary) is null)
            Assert.Fail($"{binary} is not installed: run scripts/setup (it installs {package}); CI runs it before the tests.");
    }

    /// <summary>The graph keyed by names: variable/row features and the (row, variable, weight) edge multiset.</summary>
    static string Keyed(LpModel m)
    {
        var g = ModelGraph.Build(m);
        var nodes = Enumerable.Range(0, g.NumNodes).Select(v => g.Names[v] + "=" + g.Features[v]).Order(StringComparer.Ordinal).ToArray();
        var edges = Enumerable.Range(0, g.NumVars).SelectMany(v => g.Adjacency[v].Select(e => $"{g.Names[e.To]}-{g.Names[v]}:{e.Weight}")).Order(StringComparer.Ordinal).ToArray();
        return string.Join("\n", nodes) + "\n--\n" + string.Join("\n", edges);
    }

    [Fact]
    public void Colours_are_a_stable_md5_never_string_GetHashCode()
    {
        Assert.Equal("900150983CD24FB0D6963F7D28E17F72", Wl.Hash("abc"));     // RFC 1321 test vector
    }

    [Fact]
    public void A_random_permutation_and_renaming_gives_identical_colour_histograms_and_the_verdict_follows_the_certificate()
    {
        foreach (var f in Generator.Families)
            for (int seed = 1; seed <= 3; seed++)
            {
                var m = f.Build(6 + seed, Seeding.Rng(seed, f.Name));
                var p = Edits.PermuteAndRename(m, Seeding.Rng(seed, "perm"));
                Assert.NotEqual(m.Variables.Select(v => v.Name), p.Variables.Select(v => v.Name));
                var e = OrgEvaluator.Evaluate(m, p);
                Assert.True(Wl.Compare(e.ReferenceWl!, e.CandidateWl!).Equal, $"{f.Name} seed {seed}: histograms differ");
                bool certified = e.ReferenceSd!.Certified && e.CandidateSd!.Certified;
                Assert.Equal(certified ? OrgVerdict.Equivalent : OrgVerdict.Uncertified, e.Verdict);
                if (f.WlHard) Assert.Equal(OrgVerdict.Uncertified, e.Verdict);
            }
    }

    [Fact]
    public void Normalisation_is_idempotent_in_both_sign_modes()
    {
        foreach (var f in Generator.Families)
            foreach (var edit in Edits.For(f))
                foreach (bool code in new[] { false, true })
                {
                    var (_, cand, _) = OrgEvalSteps.Instance(new PairSpec($"{f.Name}/t", f, 7, edit), 0, 5);
                    var once = Normalizer.Run(cand, code).Model;
                    var twice = Normalizer.Run(once, code);
                    Assert.Equal(Keyed(once), Keyed(twice.Model));
                    Assert.Equal(0, twice.RowsToBounds + twice.LeZeroFlipped + twice.EqNegated);
                }
    }

    static LpModel OneVar(double lo, double up, params (RowSense S, double Coef, double Rhs)[] rows)
    {
        var b = new ModelBuilder("t");
        int x = b.Var("x", 1, lo: lo, up: up); int y = b.Var("y", 1);
        foreach (var (s, c, r) in rows) b.Row($"r{r}{s}", [(x, c)], s, r);
        b.Row("two", [(x, 1), (y, 1)], RowSense.Ge, 1);
        return b.Build();
    }

    [Fact]
    public void Single_variable_rows_become_bounds_with_the_design_choice_or_the_official_codes_sign_behaviour()
    {
        // −x ≥ −5 means x ≤ 5. The design choice flips the sense; the official code keeps it (lb = 5, the spec's sign bug).
        var neg = OneVar(0, double.PositiveInfinity, (RowSense.Ge, -1, -5));
        var d = Normalizer.Run(neg).Model.Variables[0]; var c = Normalizer.Run(neg, true).Model.Variables[0];
        Assert.Equal((0.0, 5.0), (d.Lower, d.Upper));
        Assert.Equal((5.0, double.PositiveInfinity), (c.Lower, c.Upper));
        // x ≥ −5 on a default lb 0: intersected (design) vs replaced (code: lb loosens to −5).
        var loose = OneVar(0, 10, (RowSense.Ge, 1, -5));
        Assert.Equal(0.0, Normalizer.Run(loose).Model.Variables[0].Lower);
        Assert.Equal(-5.0, Normalizer.Run(loose, true).Model.Variables[0].Lower);
        // Two rows on one variable: the tightest wins in both modes; an equality fixes it.
        var two = OneVar(0, double.PositiveInfinity, (RowSense.Le, 2, 8), (RowSense.Le, 1, 3));
        Assert.Equal(3.0, Normalizer.Run(two).Model.Variables[0].Upper);
        var eq = Normalizer.Run(OneVar(0, 10, (RowSense.Eq, 2, 4))).Model.Variables[0];
        Assert.Equal((2.0, 2.0), (eq.Lower, eq.Upper));
        Assert.Single(Normalizer.Run(two).Model.Constraints);
    }

    [Fact]
    public void Le_zero_rows_flip_and_zero_rhs_equalities_with_negative_sum_are_negated()
    {
        var b = new ModelBuilder("t");
        int x = b.Var("x", 1), y = b.Var("y", 2), z = b.Var("z", 3);
        b.Row("le0", [(x, 1), (y, -3)], RowSense.Le, 0);
        b.Row("eqneg", [(x, -2), (z, 1)], RowSense.Eq, 0);
        b.Row("eqzero", [(x, 1), (z, -1)], RowSense.Eq, 0);
        b.Row("le4", [(x, 1), (y, 1)], RowSense.Le, 4);
        var n = Normalizer.Run(b.Build());
        var rows = n.Model.Constraints.ToDictionary(c => c.Name);
        Assert.Equal(RowSense.Ge, rows["le0"].Sense);
        Assert.Equal([-1.0, 3.0], rows["le0"].Terms.Select(t => t.Coef));
        Assert.Equal([2.0, -1.0], rows["eqneg"].Terms.Select(t => t.Coef));
        Assert.Equal([1.0, -1.0], rows["eqzero"].Terms.Select(t => t.Coef));
        Assert.Equal(RowSense.Le, rows["le4"].Sense);                      // only rhs-0 rows are rewritten (as the code does)
        Assert.Equal((1, 1, 1), (n.LeZeroFlipped, n.EqNegated, n.ZeroSumEqualities));
    }

    [Fact]
    public void Lp_and_mps_write_read_round_trips_give_the_same_graph()
    {
        foreach (var f in Generator.Families)
            foreach (var edit in new[] { "permute", "bound-to-row-negated", "swap-sense" })
            {
                var (_, m, _) = OrgEvalSteps.Instance(new PairSpec($"{f.Name}/rt", f, 6, Edits.Find(edit)), 0, 3);
                var fromMps = Mps.Parse(Mps.Write(m), "t.mps");
                var fromLp = LpFormat.Parse(LpFormat.Write(m), "t.lp");
                Assert.Equal(Keyed(m), Keyed(fromMps));
                Assert.Equal(Keyed(m), Keyed(fromLp));
                Assert.Equal(Keyed(Normalizer.Run(m).Model), Keyed(Normalizer.Run(fromLp).Model));
            }
    }

    [Fact]
    public void The_lp_reader_takes_multi_line_expressions_maximize_free_and_binaries()
    {
        var m = LpFormat.Parse("""
            \ hand-written
            Maximize
             obj: 3 x + 2 y
               - z
            Subject To
             c1: x + y
                 + z <= 4
             c2: x - y >= -2
             -x + 2 y = 1
            Bounds
             -inf <= z <= 5
             y free
             x <= 3
            Binaries
             b
            Generals
             x
            End
            """, "hand.lp");
        Assert.Equal(ObjSense.Maximize, m.Sense);
        Assert.Equal(["x", "y", "z", "b"], m.Variables.Select(v => v.Name));
        Assert.Equal((VarType.Integer, 0.0, 3.0), (m.Variables[0].Type, m.Variables[0].Lower, m.Variables[0].Upper));
        Assert.True(double.IsNegativeInfinity(m.Variables[1].Lower) && double.IsPositiveInfinity(m.Variables[1].Upper));
        Assert.Equal((double.NegativeInfinity, 5.0), (m.Variables[2].Lower, m.Variables[2].Upper));
        Assert.Equal(VarType.Binary, m.Variables[3].Type);
        Assert.Equal(3, m.NumRows);
        Assert.Equal((RowSense.Ge, -2.0), (m.Constraints[1].Sense, m.Constraints[1].Rhs));
        Assert.Equal([-1.0, 2.0], m.Constraints[2].Terms.Select(t => t.Coef));
    }

    [Theory]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x obj 1 c1 2\n x c9 1\nRHS\n rhs c1 4\nENDATA\n", 7, "unknown row")]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x obj 1 c1 two\nRHS\nENDATA\n", 6, "not a number")]
    [InlineData("NAME t\nROWS\n N obj\n Q c1\nCOLUMNS\nENDATA\n", 4, "row type")]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x obj 1 c1 2\nRANGES\n r c1 4\nENDATA\n", 7, "RANGES")]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x obj 1 c1 2\nBOUNDS\n UP bnd y 4\nENDATA\n", 8, "unknown column")]
    public void Malformed_mps_files_give_errors_naming_the_line(string text, int line, string problem)
    {
        var ex = Assert.Throws<ModelFormatException>(() => Mps.Parse(text, "bad.mps"));
        Assert.Equal(line, ex.Line);
        Assert.StartsWith($"bad.mps:{line}:", ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Theory]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + y\nBounds\n x <= 4\nEnd\n", 4, "no sense")]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + y >= 1\n c2: x 3 y <= 2\nEnd\n", 5, "missing + or -")]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + y >= 1\nBounds\n x <= <= 4\nEnd\n", 6, "bound")]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + 2 >= 1\nEnd\n", 4, "constant")]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + y >= 1\n", 4, "missing End")]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x # y >= 1\nEnd\n", 4, "")]
    public void Malformed_lp_files_give_errors_naming_the_line(string text, int line, string problem)
    {
        var ex = Assert.ThrowsAny<FormatException>(() => LpFormat.Parse(text, "bad.lp"));
        var mfe = Assert.IsType<ModelFormatException>(ex);
        Assert.Equal(line, mfe.Line);
        Assert.StartsWith($"bad.lp:{line}:", ex.Message);
        Assert.Contains(problem, ex.Message);
    }

    [Fact]
    public void Refinement_is_monotone_terminates_within_V_rounds_and_does_not_depend_on_node_order()
    {
        foreach (var f in Generator.Families)
        {
            var g = ModelGraph.Build(Normalizer.Run(f.Build(8, Seeding.Rng(2, f.Name))).Model);
            var wl = Wl.Refine(g);
            for (int t = 1; t < wl.Classes.Count; t++) Assert.True(wl.Classes[t] >= wl.Classes[t - 1], $"{f.Name}: classes fell at round {t}");
            Assert.True(wl.RoundCount <= g.NumNodes);
            Assert.True(wl.Classes.Count < 2 || wl.Classes[^1] == wl.Classes[^2] || wl.RoundCount == g.NumNodes, $"{f.Name}: stopped before stable");
            // Renumber the nodes (variables first, then rows, each shuffled): node k of the copy is node order[k] of g.
            var rng = Seeding.Rng(3, f.Name);
            var order = Enumerable.Range(0, g.NumVars).OrderBy(_ => rng.Next()).Concat(Enumerable.Range(g.NumVars, g.NumRows).OrderBy(_ => rng.Next())).ToArray();
            var wp = Wl.Refine(g.Permute(order));
            Assert.Equal(wl.Classes, wp.Classes);
            for (int k = 0; k < order.Length; k++) Assert.Equal(wl.Stable[order[k]], wp.Stable[k]);
        }
    }

    [Fact]
    public void A_single_visible_coefficient_change_in_a_WL_determinable_instance_changes_the_colours()
    {
        var m = Build("knapsack", 8, 4);
        var e0 = OrgEvaluator.Evaluate(m, m);
        Assert.True(e0.ReferenceSd!.WlDeterminable);
        for (int k = 0; k < m.Constraints[0].Terms.Length; k++)
            foreach (var factor in new[] { 1.5, 1 + 1e-5 })
            {
                var terms = m.Constraints[0].Terms.ToArray();
                terms[k] = terms[k] with { Coef = terms[k].Coef * factor };
                var changed = m with { Constraints = [m.Constraints[0] with { Terms = terms }] };
                var e = OrgEvaluator.Evaluate(m, Edits.PermuteAndRename(changed, new Random(k)));
                Assert.Equal(OrgVerdict.NotEquivalent, e.Verdict);
                Assert.NotNull(e.FirstDivergentRound);
            }
        // Below the float32 / 6-decimal rendering the change is invisible (spec §7): same colours.
        var tiny = m.Constraints[0].Terms.ToArray(); tiny[0] = tiny[0] with { Coef = tiny[0].Coef + 1e-8 };
        Assert.Equal(OrgVerdict.Equivalent, OrgEvaluator.Evaluate(m, m with { Constraints = [m.Constraints[0] with { Terms = tiny }] }).Verdict);
    }

    [Fact]
    public void Swapping_min_and_max_is_visible_because_the_graph_uses_the_minimisation_costs()
    {
        var m = Build("production", 6, 1);
        Assert.Equal(OrgVerdict.NotEquivalent, OrgEvaluator.Evaluate(m, m with { Sense = ObjSense.Minimize }).Verdict);
        Assert.Equal(OrgVerdict.Equivalent, OrgEvaluator.Evaluate(m, m.ToMinimization()).Verdict);
    }

    [Fact]
    public void Cycle_pair_has_equal_colours_fails_SD_is_uncertified_and_bliss_says_non_isomorphic()
    {
        RequireTool("bliss", "bliss");
        for (int n = 3; n <= 6; n++)
        {
            var ex = Examples.Cycle(n);
            var e = ex.Evaluation;
            Assert.True(Wl.Compare(e.ReferenceWl!, e.CandidateWl!).Equal);
            Assert.False(e.ReferenceSd!.Certified);
            Assert.False(e.CandidateSd!.Certified);
            Assert.StartsWith("distinctness", e.ReferenceSd.Reason);
            Assert.Equal(OrgVerdict.Uncertified, e.Verdict);
            Assert.False(Exact.Isomorphic(e.ReferenceGraph!, e.CandidateGraph!, Work()).Isomorphic);
            // and a permuted copy of the same cycle: still uncertified, but bliss says isomorphic
            var copy = Edits.PermuteAndRename(ex.Reference, new Random(n));
            var ec = OrgEvaluator.Evaluate(ex.Reference, copy);
            Assert.Equal(OrgVerdict.Uncertified, ec.Verdict);
            Assert.True(Exact.Isomorphic(ec.ReferenceGraph!, ec.CandidateGraph!, Work()).Isomorphic);
        }
    }

    [Fact]
    public void Bin_packing_passes_SD_only_with_distinct_item_weights_and_bliss_agrees()
    {
        RequireTool("bliss", "bliss");
        for (int n = 3; n <= 7; n++)
        {
            var m = Generator.BinPacking(n, Seeding.Rng(n, "bp"), equalWeights: false);
            var e = OrgEvaluator.Evaluate(m, Edits.PermuteAndRename(m, new Random(n)));
            var sd = e.ReferenceSd!;
            Assert.False(sd.WlDeterminable);
            Assert.True(sd.SymmetricDecomposable, sd.Reason);
            Assert.Equal(n / 2 + 1, sd.Components.Count);                     // one component per bin
            Assert.Equal(OrgVerdict.Equivalent, e.Verdict);
            Assert.True(Exact.Isomorphic(e.ReferenceGraph!, e.CandidateGraph!, Work()).Isomorphic);

            var eq = Generator.BinPacking(n, Seeding.Rng(n, "bp"), equalWeights: true);
            var ee = OrgEvaluator.Evaluate(eq, Edits.PermuteAndRename(eq, new Random(n)));
            Assert.False(ee.ReferenceSd!.Certified);
            Assert.StartsWith("distinctness", ee.ReferenceSd.Reason);
            Assert.Equal(OrgVerdict.Uncertified, ee.Verdict);
        }
    }

    [Fact]
    public void Different_numbers_of_variables_or_rows_short_circuit_and_the_verdict_is_symmetric()
    {
        var m = Build("diet", 6, 1);
        var (dup, _) = Edits.Apply(m, Edits.Find("duplicate-row"), new Random(1));
        var e = OrgEvaluator.Evaluate(m, dup);
        Assert.Equal(OrgVerdict.NotEquivalent, e.Verdict);
        Assert.Null(e.ReferenceGraph);
        Assert.StartsWith("size mismatch", e.Reason);
        foreach (var f in Generator.Families)
            foreach (var edit in Edits.For(f))
            {
                var (r, c, _) = OrgEvalSteps.Instance(new PairSpec($"{f.Name}/sym", f, 6, edit), 0, 9);
                Assert.Equal(OrgEvaluator.Evaluate(r, c).Verdict, OrgEvaluator.Evaluate(c, r).Verdict);
            }
    }

    [Fact]
    public void Edit_labels_agree_with_bliss_and_ORGEval_never_contradicts_bliss()
    {
        RequireTool("bliss", "bliss");
        var work = Work();
        foreach (var f in Generator.Families)
            foreach (var edit in Edits.For(f))
            {
                var (r, c, note) = OrgEvalSteps.Instance(new PairSpec($"{f.Name}/lab", f, 6, edit), 0, 11);
                var e = OrgEvaluator.Evaluate(r, c);
                var iso = Exact.Isomorphic(e.ReferenceGraph ?? ModelGraph.Build(e.Reference.Model), e.CandidateGraph ?? ModelGraph.Build(e.Candidate.Model), work).Isomorphic;
                Assert.NotNull(iso);
                Assert.True(edit.Equivalent == iso, $"{f.Name} {note}: label {edit.Equivalent}, bliss {iso}");
                if (e.Verdict == OrgVerdict.Equivalent) Assert.True(iso, $"{f.Name} {note}: equivalent but not isomorphic");
                if (e.Verdict == OrgVerdict.NotEquivalent) Assert.False(iso, $"{f.Name} {note}: not equivalent but isomorphic");
            }
    }

    /// <summary>min −5x − 4y s.t. 2x + 3y ≤ 12, x + 2y ≤ 6, 0 ≤ x, y ≤ 10: LP optimum −30 at (6, 0); integer optimum also −30.</summary>
    static LpModel Tiny(VarType type, ObjSense sense = ObjSense.Minimize)
    {
        double s = sense == ObjSense.Minimize ? 1 : -1;
        var b = new ModelBuilder("tiny", sense);
        int x = b.Var("x", -5 * s, type, 0, 10), y = b.Var("y", -4 * s, type, 0, 10);
        b.Row("c1", [(x, 2), (y, 3)], RowSense.Le, 12);
        b.Row("c2", [(x, 1), (y, 2)], RowSense.Le, 6);
        return b.Build();
    }

    [Theory]
    [InlineData("highs")] [InlineData("cbc")] [InlineData("glpsol")]
    public void Each_solver_finds_the_known_optimum_and_reports_infeasibility(string solver)
    {
        RequireTool(solver, Solvers.Package(solver));
        var work = Work();
        foreach (var type in new[] { VarType.Continuous, VarType.Integer })
        {
            var r = Solvers.Solve(Tiny(type), solver, 10, work);
            Assert.Equal(SolveStatus.Optimal, r.Status);
            Assert.Equal(-30, r.Objective!.Value, 6);
            var mx = Solvers.Solve(Tiny(type, ObjSense.Maximize), solver, 10, work);  // written as a minimisation, value given back in max sense
            Assert.Equal(30, mx.Objective!.Value, 6);
        }
        // x + 2y ≥ 40 with x, y ≤ 10 is infeasible.
        var inf = Tiny(VarType.Integer) with { Constraints = [new Constraint("c3", RowSense.Ge, 40, [new Term(0, 1), new Term(1, 2)]), new Constraint("c4", RowSense.Le, 100, [new Term(0, 1), new Term(1, 1)])] };
        Assert.Equal(SolveStatus.Infeasible, Solvers.Solve(inf, solver, 10, work).Status);
        // An integer variable with an infinite upper bound stays general integer (explicit PL bound), not binary.
        var b = new ModelBuilder("gen", ObjSense.Maximize);
        int z = b.Var("z", 1, VarType.Integer, 0, double.PositiveInfinity);
        b.Row("c", [(z, 2), (b.Var("w", 0), 1)], RowSense.Le, 7);
        Assert.Equal(3, Solvers.Solve(b.Build(), solver, 10, work).Objective!.Value, 6);
    }

    [Fact]
    public void A_missing_solver_or_bliss_is_a_skip_record_that_says_what_to_install()
    {
        var path = Environment.GetEnvironmentVariable("PATH");
        try
        {
            Environment.SetEnvironmentVariable("PATH", "/nonexistent");
            var r = Solvers.Solve(Tiny(VarType.Continuous), "cbc", 5, Work());
            Assert.Equal(SolveStatus.Skipped, r.Status);
            Assert.Contains("coinor-cbc", r.Detail);
            Assert.Contains("scripts/setup", r.Detail);
            var g = ModelGraph.Build(Tiny(VarType.Continuous));
            var x = Exact.Isomorphic(g, g, Work());
            Assert.Null(x.Isomorphic);
            Assert.Contains("bliss", x.Skipped);
        }
        finally { Environment.SetEnvironmentVariable("PATH", path); }
    }

    [Fact]
    public void Presets_validate_and_bad_configs_name_the_field()
    {
        OrgEvalConfig.Test.Validate();
        OrgEvalConfig.Gpu.Validate();
        var ex = Assert.Throws<ConfigException>(() => (OrgEvalConfig.Test with { Families = ["nope"] }).Validate());
        Assert.Contains("Families", ex.Message);
        Assert.Throws<ConfigException>(() => (OrgEvalConfig.Test with { Solvers = ["gurobi"] }).Validate());
        Assert.Throws<ConfigException>(() => (OrgEvalConfig.Test with { MaxN = 2 }).Validate());
    }

    [Fact]
    public void A_small_run_writes_results_claims_and_report_and_ORGEval_is_sound_against_bliss()
    {
        RequireTool("bliss", "bliss"); RequireTool("highs", "highs");
        var cfg = OrgEvalConfig.Test with { Families = ["knapsack", "cycle"], PairsPerFamily = 4, DataConfigs = 2, RuntimeSizes = [30], RuntimeSolvers = ["highs"] };
        var dir = Work();
        var res = OrgEvalExperiment.Run(cfg, dir, TextWriter.Null);
        foreach (var f in new[] { "results.json", "claims.md", "report.html" }) Assert.True(File.Exists(Path.Combine(dir, f)), f);
        Assert.Equal(8, res.Pairs.Count);
        Assert.All(res.Pairs, p => Assert.Equal(2, p.Org.Length));
        var vsBliss = res.Confusions.First(c => c.Name == "ORGEval vs bliss");
        Assert.Equal(0, vsBliss.Counts[1][0]);
        Assert.Equal(0, vsBliss.Counts[0][1]);
        Assert.Equal(16, vsBliss.Total);
        Assert.NotEmpty(res.Claims);
        var back = OrgEvalResults.Load(Path.Combine(dir, "results.json"));
        Assert.Equal(res.Pairs.Select(p => p.Org), back.Pairs.Select(p => p.Org));
    }
}
