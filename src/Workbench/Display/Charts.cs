using Microsoft.FSharp.Core;
using Plotly.NET;
using Plotly.NET.CSharp;
using CChart = Plotly.NET.CSharp.Chart;

namespace Workbench.Display;

/// <summary>One named series for a line chart.</summary>
public sealed record Series(string Name, double[] X, double[] Y);

/// <summary>
/// Chart helpers on Plotly.NET: heatmap, histogram, line / multi-line, bar, image grid. Each returns a
/// <see cref="GenericChart"/>; <see cref="Html"/> and <see cref="HtmlReport"/> turn charts into pages that render
/// offline (plotly.js is written beside the page or inlined, never fetched from a CDN).
/// </summary>
public static class Charts
{
    public static GenericChart Heatmap(double[][] z, string title, string? xTitle = null, string? yTitle = null,
        string[]? xLabels = null, string[]? yLabels = null, bool reverseY = true)
    {
        if (z.Length == 0) throw new ArgumentException("Heatmap needs at least one row.", nameof(z));
        GenericChart c;
        if (xLabels is not null || yLabels is not null)
        {
            var xs = xLabels ?? Enumerable.Range(0, z[0].Length).Select(i => i.ToString()).ToArray();
            var ys = yLabels ?? Enumerable.Range(0, z.Length).Select(i => i.ToString()).ToArray();
            c = CChart.Heatmap<double, string, string, string>(zData: z, X: xs, Y: ys, ColorScale: StyleParam.Colorscale.Viridis, ReverseYAxis: reverseY);
        }
        else
        {
            c = CChart.Heatmap<double, int, int, string>(zData: z, ColorScale: StyleParam.Colorscale.Viridis, ReverseYAxis: reverseY);
        }
        return Finish(c, title, xTitle, yTitle);
    }

    public static GenericChart Histogram(IEnumerable<double> values, string title, string? xTitle = null, int bins = 40, string? name = null)
    {
        var c = CChart.Histogram<double, double, string>(X: values.ToArray(), NBinsX: bins, Name: name ?? title);
        return Finish(c, title, xTitle, "count");
    }

    public static GenericChart Lines(IEnumerable<Series> series, string title, string? xTitle = null, string? yTitle = null, bool markers = true)
    {
        var traces = series.Select(s => CChart.Line<double, double, string>(x: s.X, y: s.Y, Name: s.Name, ShowMarkers: markers)).ToArray();
        if (traces.Length == 0) throw new ArgumentException("Lines needs at least one series.", nameof(series));
        return Finish(CChart.Combine(traces), title, xTitle, yTitle);
    }

    public static GenericChart Line(double[] x, double[] y, string title, string? xTitle = null, string? yTitle = null) =>
        Lines([new Series(title, x, y)], title, xTitle, yTitle);

    /// <summary>Points (x, y), e.g. a predicted against a measured quantity.</summary>
    public static GenericChart Scatter(double[] x, double[] y, string title, string? xTitle = null, string? yTitle = null)
    {
        var c = CChart.Point<double, double, string>(x: x, y: y, Name: title);
        return Finish(c, title, xTitle, yTitle);
    }

    public static GenericChart Bar(string[] labels, double[] values, string title, string? xTitle = null, string? yTitle = null)
    {
        var c = CChart.Column<double, string, string>(values: values, Keys: labels, Name: title);
        return Finish(c, title, xTitle, yTitle);
    }

    /// <summary>Grouped bars: one trace per group name, bars at the shared category labels.</summary>
    public static GenericChart GroupedBars(string[] categories, IEnumerable<(string Name, double[] Values)> groups, string title, string? yTitle = null)
    {
        var traces = groups.Select(g => CChart.Column<double, string, string>(values: g.Values, Keys: categories, Name: g.Name)).ToArray();
        return Finish(CChart.Combine(traces), title, null, yTitle);
    }

    /// <summary>Stacked bars: one trace per part (e.g. time per phase), stacked at each category.</summary>
    public static GenericChart StackedBars(string[] categories, IEnumerable<(string Name, double[] Values)> parts, string title, string? yTitle = null)
    {
        var traces = parts.Select(g => CChart.StackedColumn<double, string, string>(values: g.Values, Keys: categories, Name: g.Name)).ToArray();
        if (traces.Length == 0) throw new ArgumentException("StackedBars needs at least one part.", nameof(parts));
        return Finish(CChart.Combine(traces), title, null, yTitle);
    }

    /// <summary>Overlaid histograms on shared bins, with optional vertical marker lines (e.g. a pruning threshold).</summary>
    public static GenericChart Histograms(IEnumerable<(string Name, double[] Values)> sets, string title, string? xTitle = null, int bins = 30,
        IEnumerable<(string Name, double X)>? markers = null)
    {
        var list = sets.Where(s => s.Values.Length > 0).ToList();
        if (list.Count == 0) throw new ArgumentException("Histograms needs at least one non-empty set.", nameof(sets));
        double lo = list.Min(s => s.Values.Min()), hi = list.Max(s => s.Values.Max());
        if (hi <= lo) hi = lo + 1;
        double w = (hi - lo) / bins;
        var centers = Enumerable.Range(0, bins).Select(i => lo + (i + 0.5) * w).ToArray();
        double top = 0;
        var traces = new List<GenericChart>();
        foreach (var (name, values) in list)
        {
            var counts = new double[bins];
            foreach (var v in values) counts[Math.Clamp((int)((v - lo) / w), 0, bins - 1)]++;
            top = Math.Max(top, counts.Max());
            traces.Add(CChart.Column<double, double, string>(values: counts, Keys: centers, Name: name, Opacity: 0.6));
        }
        foreach (var (name, x) in markers ?? [])
            if (double.IsFinite(x)) traces.Add(CChart.Line<double, double, string>(x: [x, x], y: [0, top], Name: name));
        var layout = new Layout();
        layout.SetProperty("barmode", "overlay");
        layout.SetProperty("bargap", 0);
        var c = Plotly.NET.Chart.withLayout(layout).Invoke(CChart.Combine(traces));
        return Finish(c, title, xTitle, "count");
    }

    /// <summary>A grid of grey images (each H×W, row 0 at the top).</summary>
    public static GenericChart ImageGrid(IReadOnlyList<double[][]> images, int cols, string title, int tile = 110)
    {
        if (images.Count == 0) throw new ArgumentException("ImageGrid needs at least one image.", nameof(images));
        cols = Math.Max(1, Math.Min(cols, images.Count));
        int rows = (images.Count + cols - 1) / cols;
        var tiles = images.Select(im => CChart.Heatmap<double, int, int, string>(zData: im, ColorScale: StyleParam.Colorscale.Greys,
            ShowScale: false, ReverseYAxis: true)).ToArray();
        var grid = CChart.Grid(tiles, rows, cols).WithSize(cols * tile + 80, rows * tile + 80);
        return Plotly.NET.Chart.withTitle(title, null).Invoke(grid);
    }

    static GenericChart Finish(GenericChart c, string title, string? xTitle, string? yTitle)
    {
        c = Plotly.NET.Chart.withTitle(title, null).Invoke(c);
        if (xTitle is not null) c = c.WithXAxisStyle<double, double, string>(TitleText: xTitle);
        if (yTitle is not null) c = c.WithYAxisStyle<double, double, string>(TitleText: yTitle);
        return c;
    }

    /// <summary>The chart as a bare div + script (needs plotly.js already on the page).</summary>
    public static string Div(GenericChart c) => GenericChart.toChartHTML(c);

    /// <summary>The plotly.js bundled inside Plotly.NET (works offline).</summary>
    public static string PlotlyJs()
    {
        var asm = typeof(GenericChart).Assembly;
        var name = asm.GetManifestResourceNames().FirstOrDefault(n => n.EndsWith(".min.js", StringComparison.Ordinal) && n.Contains("plotly", StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidOperationException("Plotly.NET's embedded plotly.js was not found.");
        using var s = asm.GetManifestResourceStream(name)!;
        using var r = new StreamReader(s);
        return r.ReadToEnd();
    }
}
