using Plotly.NET;
using Plotly.NET.CSharp;
using Workbench.Claims;
using Workbench.Display;

namespace Workbench.Papers.Vtw;

/// <summary>The VTW views (each usable from a notebook) and the HTML report.</summary>
public static class VtwReport
{
    /// <summary>Layers × key position: attention of the last prompt token (one sample, heads averaged).</summary>
    public static GenericChart KeyHeatmap(double[][] keys, int system, int visual) =>
        Charts.Heatmap(keys.Select(r => r.Select(v => Math.Sqrt(v)).ToArray()).ToArray(),
            $"√attention of the last prompt token by layer and key (sys 0..{system - 1}, visual {system}..{system + visual - 1}, then text)", "key position", "layer");

    /// <summary>Stacked attention mass over layers on bos / system / visual / question / last 3.</summary>
    public static GenericChart MassByLayer(AttentionProfile p) =>
        Charts.StackedBars(Enumerable.Range(0, p.Mass.Length).Select(i => $"layer {i}").ToArray(),
            p.Groups.Select((g, j) => (g, p.Mass.Select(r => r[j]).ToArray())), $"Attention mass of {p.Query} by layer", "mass");

    /// <summary>One panel per layer: the last token's attention on each visual patch (mean over samples).</summary>
    public static GenericChart PatchGrid(double[][][] maps) =>
        Charts.ImageGrid(maps, Math.Min(4, maps.Length), "Last-token attention to each patch, layer 0 → L−1 (brighter = more)");

    /// <summary>KL heatmap (sample × k) and the mean with the η line.</summary>
    public static GenericChart KlHeatmap(double[][] kl, int[] ks) =>
        Charts.Heatmap(kl.Select(r => r.Select(v => Math.Log10(Math.Max(v, 1e-8))).ToArray()).ToArray(), "log10 KL(q_k ‖ p) per calibration sample",
            "withdrawal layer k", "sample", xLabels: ks.Select(k => k.ToString()).ToArray());

    public static GenericChart MeanKl(double[] mean, int[] ks, double eta, int chosen) =>
        Charts.Lines([new Series("mean KL", ks.Select(k => (double)k).ToArray(), mean.Select(v => Math.Max(v, 1e-8)).ToArray()),
                new Series($"η = {eta:G3}", [ks[0], ks[^1]], [eta, eta])],
            $"Mean KL against k; chosen K = {chosen}", "withdrawal layer k", "KL").WithYAxisStyle<double, double, string>(AxisType: StyleParam.AxisType.Log);

    /// <summary>Accuracy and mean KL against the withdrawal layer (information migration).</summary>
    public static GenericChart Sweep(VtwResults r) =>
        Charts.Lines([new Series("accuracy %", r.Sweep.Select(p => (double)p.K).ToArray(), r.Sweep.Select(p => 100 * p.Accuracy).ToArray())],
            "Accuracy when the visual tokens are withdrawn before layer k", "k", "accuracy %");

    /// <summary>Accuracy against counted prefill MACs for VTW (every k), random withdrawal (every k) and FastV.</summary>
    public static GenericChart AccuracyVsMacs(VtwResults r, IEnumerable<(string Name, IReadOnlyList<VtwPoint> Points)>? extra = null)
    {
        var groups = r.Sweep.Concat(r.Baselines).GroupBy(p => p.Method.StartsWith("FastV") ? "FastV" : p.Method)
            .Select(g => (g.Key, (IReadOnlyList<VtwPoint>)g.OrderBy(p => p.Macs).ToList())).ToList();
        if (extra is not null) groups.AddRange(extra);
        double full = r.Sweep[^1].Macs;
        return Charts.Lines(groups.Select(g => new Series(g.Item1, g.Item2.Select(p => 100 * p.Macs / full).ToArray(), g.Item2.Select(p => 100 * p.Accuracy).ToArray())),
            "Accuracy against prefill MACs (% of the full model)", "MACs %", "accuracy %");
    }

    /// <summary>Accuracy per question type: full model, VTW at K, the best FastV.</summary>
    public static GenericChart ByType(VtwResults r)
    {
        int L = r.Config.Model.Lm.Layers;
        var pts = new[] { r.SweepAt(L) ?? r.Sweep[^1], r.SweepAt(Math.Min(r.ChosenK, L)), r.SweepAt(0) }.OfType<VtwPoint>().Distinct()
            .Concat(r.Baselines.Where(b => b.Method.StartsWith("FastV")).Take(1)).ToList();
        var types = pts[0].ByType.Keys.Order().ToArray();
        return Charts.GroupedBars(types, pts.Select((p, i) => (i == 0 ? "full" : $"{p.Method} k={p.K}", types.Select(t => 100 * p.ByType.GetValueOrDefault(t)).ToArray())),
            "Accuracy per question type", "accuracy %");
    }

    /// <summary>MACs per layer, full vs VTW at K (formula at the mean prompt length).</summary>
    public static GenericChart MacsPerLayer(VtwResults r)
    {
        int L = r.Config.Model.Lm.Layers;
        long n = (long)Math.Round(r.MeanPromptLength), d = r.Config.Model.Lm.Dim, m = r.Config.Model.Lm.Hidden;
        var cats = Enumerable.Range(0, L).Select(i => $"layer {i}").ToArray();
        return Charts.GroupedBars(cats, [("full", cats.Select(_ => VtwSteps.F(n, d, m)).ToArray()),
            ($"VTW K = {r.ChosenK}", Enumerable.Range(0, L).Select(i => VtwSteps.F(i < r.ChosenK ? n : n - r.Visual, d, m)).ToArray())], "Prefill MACs per layer", "MACs");
    }

    public static HtmlReport Build(VtwResults r)
    {
        var rep = new HtmlReport(VtwExperiment.Title);
        rep.Para($"Preset `{r.Preset}` on {r.Runtime.Device} ({r.Runtime.DeviceName}); {r.WallSeconds:F0} s. Before layer K every visual token leaves " +
                 "the sequence (text tokens keep their position ids); K is the first layer from the start whose first-answer-token distribution stays within η (KL) of the full model.");
        rep.Heading("Claims");
        rep.Table(ClaimsTable.ToTable(r.Claims));
        rep.Heading("Where the attention goes");
        rep.Chart(MassByLayer(r.LastTokenProfile)); rep.Chart(MassByLayer(r.QuestionProfile));
        rep.Chart(KeyHeatmap(r.KeyProfile, r.System, r.Visual)); rep.Chart(PatchGrid(r.PatchMaps));
        rep.Heading("Information migration and the K search");
        rep.Chart(Sweep(r)); rep.Chart(KlHeatmap(r.KlMatrix, r.KlKs)); rep.Chart(MeanKl(r.MeanKl, r.KlKs, r.Config.Eta, r.ChosenK));
        rep.Heading("Accuracy against cost");
        rep.Chart(AccuracyVsMacs(r)); rep.Chart(ByType(r)); rep.Chart(MacsPerLayer(r));
        rep.Table(VtwClaims.SweepTable(r)); rep.Table(VtwClaims.LatencyTable(r));
        return rep;
    }
}
