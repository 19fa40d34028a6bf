using Workbench.Runtime;

namespace Workbench.Papers;

/// <summary>Options every reproduction accepts from the command line.</summary>
public sealed record ReproduceOptions(Preset Preset, string OutDir, long? Seed = null, int? Epochs = null);

/// <summary>A paper that <c>papers reproduce</c> can run.</summary>
/// <param name="Merge">Combines results folders of separate runs (e.g. one seed each) into one folder; returns the report's path.</param>
public sealed record PaperEntry(string Slug, string Title, Func<ReproduceOptions, RuntimeInfo, TextWriter, string> Run,
    Func<IReadOnlyList<string>, string, string>? Merge = null);

/// <summary>Every reproducible paper. A new paper adds one line here.</summary>
public static class Registry
{
    public static IReadOnlyList<PaperEntry> All { get; } =
    [
        new(Lbc.LbcExperiment.Slug, Lbc.LbcExperiment.Title, (o, rt, log) =>
        {
            var cfg = Lbc.LbcConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seeds = [s] };
            if (o.Epochs is int e) cfg = cfg with { Suites = cfg.Suites.Select(x => x with { Epochs = e, TfEpoch = null }).ToArray() };
            Lbc.LbcExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }, (inputs, outDir) =>
        {
            var merged = Lbc.LbcExperiment.Merge(inputs.Select(Lbc.LbcResults.Load).ToList());
            Lbc.LbcExperiment.WriteAll(merged, outDir);
            return Path.Combine(outDir, "report.html");
        }),
        new(Eca.EcaExperiment.Slug, Eca.EcaExperiment.Title, (o, rt, log) =>
        {
            var cfg = Eca.EcaConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            Eca.EcaExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }),
        new(Cppo.CppoExperiment.Slug, Cppo.CppoExperiment.Title, (o, rt, log) =>
        {
            var cfg = Cppo.CppoConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seeds = [s] };
            Cppo.CppoExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }, (inputs, outDir) =>
        {
            Cppo.CppoExperiment.WriteAll(Cppo.CppoExperiment.Merge(inputs.Select(Cppo.CppoResults.Load).ToList()), outDir);
            return Path.Combine(outDir, "report.html");
        }),
        new(Remax.RemaxExperiment.Slug, Remax.RemaxExperiment.Title, (o, rt, log) =>
        {
            var cfg = Remax.RemaxConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            Remax.RemaxExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }),
        new(OrgEval.OrgEvalExperiment.Slug, OrgEval.OrgEvalExperiment.Title, (o, rt, log) =>
        {
            // CPU-bound (external solvers and bliss); the device choice does not matter.
            var cfg = OrgEval.OrgEvalConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            OrgEval.OrgEvalExperiment.Run(cfg, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }, (inputs, outDir) =>
        {
            if (inputs.Count != 1) throw new ConfigException("orgeval runs in one process; merge takes exactly one results folder.");
            var r = OrgEval.OrgEvalResults.Load(Path.Combine(inputs[0], "results.json"));
            r = OrgEval.OrgEvalExperiment.Rederive(r);
            OrgEval.OrgEvalExperiment.WriteAll(r, outDir);
            return Path.Combine(outDir, "report.html");
        }),
        new(Vtw.VtwExperiment.Slug, Vtw.VtwExperiment.Title, (o, rt, log) =>
        {
            var cfg = Vtw.VtwConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            Vtw.VtwExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }),
        new(Parvts.ParvtsExperiment.Slug, Parvts.ParvtsExperiment.Title, (o, rt, log) =>
        {
            var cfg = Parvts.ParvtsConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            Parvts.ParvtsExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }),
        new(CutDiffusion.CutExperiment.Slug, CutDiffusion.CutExperiment.Title, (o, rt, log) =>
        {
            var cfg = CutDiffusion.CutConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            CutDiffusion.CutExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }),
        new(AccDiffusion.AccExperiment.Slug, AccDiffusion.AccExperiment.Title, (o, rt, log) =>
        {
            var cfg = AccDiffusion.AccConfig.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            AccDiffusion.AccExperiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }),
        new(AccDiffusionV2.V2Experiment.Slug, AccDiffusionV2.V2Experiment.Title, (o, rt, log) =>
        {
            var cfg = AccDiffusionV2.V2Config.For(o.Preset);
            if (o.Seed is long s) cfg = cfg with { Seed = s };
            AccDiffusionV2.V2Experiment.Run(cfg, rt, o.OutDir, log);
            return Path.Combine(o.OutDir, "report.html");
        }),
    ];

    public static PaperEntry Find(string slug) =>
        All.FirstOrDefault(p => p.Slug.Equals(slug, StringComparison.OrdinalIgnoreCase))
        ?? throw new ConfigException($"Unknown paper '{slug}'. Known: {string.Join(", ", All.Select(p => p.Slug))}.");
}
