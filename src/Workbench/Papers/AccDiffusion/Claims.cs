using System.Globalization;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Claims;

namespace Workbench.Papers.AccDiffusion;

public static class AccClaims
{
    static string F(double v, string f = "F2") => v.ToString(f, CultureInfo.InvariantCulture);

    public static IReadOnlyList<Claim> Evaluate(AccResults r)
    {
        bool gpu = r.Preset == "gpu";
        string ours = $"{r.Preset} preset on {r.Runtime.DeviceName}: {r.Unet.Parameters / 1e6:F2}M-param TinyUNet at {r.Config.Model.Resolution}², N = {r.Config.Sampler.Steps}, " +
                      $"{r.Prompts.Length}{(r.PromptsRequested > r.Prompts.Length ? $" of {r.PromptsRequested}" : "")} prompt(s), scales {string.Join("/", r.Config.Scales)}" +
                      Blocks.Diffusion.BudgetCuts.Suffix(r.Cuts);
        const string pending = "Test preset (tiny model, 150 training steps, CPU): the pipeline runs, the number is not a measurement; the H100 run is pending";
        ArmMetrics? M(string arm, int s) => r.Metrics.FirstOrDefault(m => m.Arm == arm && m.Scale == s);
        var claims = new List<Claim>();
        var ces = r.Config.Scales.Select(s => (s, di: M("Direct", s), md: M("MultiDiffusion", s), de: M("DemoFusion", s), ac: M("AccDiffusion", s)))
            .Where(x => x.di is not null && x.md is not null && x.de is not null && x.ac is not null).ToList();
        if (ces.Count > 0)
        {
            bool order = ces.All(x => Math.Min(x.di!.Ce, x.md!.Ce) > x.de!.Ce && x.de.Ce > x.ac!.Ce);
            bool widen = ces.Count < 2 || (ces[^1].de!.Ce - ces[^1].ac!.Ce) >= (ces[0].de!.Ce - ces[0].ac!.Ce);
            claims.Add(new Claim("Patch-content-aware prompts remove repeated objects", "SDXL 1024² → 2048²–4096²; qualitative figures (FID cannot see repetition)",
                "repeated small objects vanish vs DemoFusion", ours,
                string.Join("; ", ces.Select(x => $"{x.s}×: CE Direct {F(x.di!.Ce)}, MD {F(x.md!.Ce)}, Demo {F(x.de!.Ce)}, Acc {F(x.ac!.Ce)} (repetition {F(x.de.RepetitionRate)} → {F(x.ac.RepetitionRate)})")),
                !gpu ? Verdict.Pending : order && widen ? Verdict.Reproduced : ces.All(x => x.ac!.Ce < x.de!.Ce) ? Verdict.Partly : Verdict.NotReproduced,
                gpu ? "spec §5 criterion: CE(Direct), CE(MD) ≫ CE(Demo) > CE(Acc) at 2×, gap widening at 4×" : pending));
            claims.Add(new Claim("Same cost as DemoFusion", "paper: 3 vs 3 min (2048²), 25 vs 26 min (4096²)", "time(Acc) ≈ time(Demo)", ours,
                string.Join("; ", ces.Select(x => $"{x.s}×: {x.ac!.Samples} vs {x.de!.Samples} evaluations, {F(x.ac.Seconds, "F3")} vs {F(x.de.Seconds, "F3")} s")),
                ces.Any(x => x.ac!.Samples != x.de!.Samples) ? Verdict.NotReproduced : !gpu ? Verdict.Pending
                    : ces.All(x => x.ac!.Seconds <= 1.15 * x.de!.Seconds) ? Verdict.Reproduced : Verdict.Partly,
                gpu ? "evaluation counts equal by construction (the formula); time adds the attention store and mask computation" : "evaluation counts equal (device-independent); " + pending));
            claims.Add(new Claim("Quality at native-scale crops no worse than DemoFusion", "FID_c 38.55 → 38.36 (2048²), 47.45 → 46.46 (3072²), 59.94 → 58.51 (4096²); third-party transcription",
                "FID_c(Acc) ≤ FID_c(Demo)", ours, string.Join("; ", ces.Select(x => $"{x.s}×: FID_c Demo {F(x.de!.FidC, "F3")}, Acc {F(x.ac!.FidC, "F3")}")),
                !gpu ? Verdict.Pending : ces.All(x => x.ac!.FidC <= x.de!.FidC * 1.05) ? Verdict.Reproduced : Verdict.NotReproduced,
                gpu ? "our FID uses a 128-d feature of a classifier trained here; within 5% counts as no worse" : pending));
        }
        var s0 = r.Config.Scales[^1];
        var acc = M("AccDiffusion", s0); var md = M("md-prompts only", s0); var sh = M("shuffle only", s0); var empty = M("empty patch prompts", s0);
        if (acc is not null && md is not null && sh is not null)
            claims.Add(new Claim("Both modules are needed", "ablation figures", "md-prompts alone and shuffle alone each leave artefacts", ours,
                $"{s0}×: CE Acc {F(acc.Ce)}, md-prompts only {F(md.Ce)}, shuffle only {F(sh.Ce)}",
                !gpu ? Verdict.Pending : acc.Ce <= Math.Min(md.Ce, sh.Ce) ? Verdict.Reproduced : Verdict.NotReproduced, gpu ? "" : pending));
        if (acc is not null && empty is not null)
            claims.Add(new Claim("Dropping the prompt entirely loses detail", "paper's motivation (empty prompts)", "no prompt → detail lost", ours,
                $"{s0}×: FID_c Acc {F(acc.FidC, "F3")}, empty patch prompts {F(empty.FidC, "F3")}",
                !gpu ? Verdict.Pending : empty.FidC > acc.FidC ? Verdict.Reproduced : Verdict.NotReproduced,
                gpu ? "texture accuracy is not implemented: FID_c stands in for it" : pending));
        var sweep = r.Metrics.Where(m => m.Arm.StartsWith("Acc c=") && m.Scale == s0).ToList();
        if (acc is not null && sweep.Count > 0)
            claims.Add(new Claim("c = 0.1 still repeats, c = 0.9 loses detail", "ablation on c", "c = 0.3 is the sweet spot", ours,
                string.Join(", ", sweep.Select(m => $"{m.Arm}: CE {F(m.Ce)}, FID_c {F(m.FidC, "F3")}")) + $"; c = {r.Config.C}: CE {F(acc.Ce)}, FID_c {F(acc.FidC, "F3")}",
                Verdict.Pending, gpu ? "judged by eye from the grids: the criterion mixes two metrics" : pending));
        var bad = r.Formulas.Where(f => f.Measured != f.Formula).ToList();
        claims.Add(new Claim("Evaluation counts follow N·[1 + Σ((2m−1)² + m²)] (Demo/Acc), N·(2s−1)² (MD)", "spec §2 formulas", "exact", ours,
            string.Join("; ", r.Formulas.Select(f => $"{f.Method} {f.Scale}×: {f.Measured}")), bad.Count == 0 ? Verdict.Reproduced : Verdict.NotReproduced,
            "exact counter; device-independent"));
        return claims;
    }

    public static string Markdown(AccResults r)
    {
        var pre = $"""
            Paper: Lin, Lin, Zhao, Ji, *AccDiffusion: An Accurate Method for Higher-Resolution Image Generation*, arXiv 2407.10738 (ECCV 2024).
            Method re-derived from the spec (`shared/papers/accdiffusion.md`); no code copied.

            - Preset: `{r.Preset}`; device: {r.Runtime.Device} ({r.Runtime.DeviceName}); wall time {r.WallSeconds:F0} s; started {r.StartedUtc}
            - Model: TinyUNet {r.Unet.Parameters:N0} parameters at {r.Config.Model.Resolution}² ({r.Unet.Describe()});
              pixel detector held-out pixel accuracy {100 * r.DetectorPixelAccuracy:F1}%, scenes counted exactly {100 * r.DetectorCountExact:F0}%
            - Sampling: DDIM η = {r.Config.Sampler.Eta}, N = {r.Config.Sampler.Steps}, guidance {r.Config.Sampler.Guidance}, c = {r.Config.C}, view batch {r.Config.Sampler.ViewBatch}; TF32 off; {r.Prompts.Length} of {Math.Max(r.PromptsRequested, r.Prompts.Length)} prompts
            """ + Blocks.Diffusion.BudgetCuts.Bullet(r.Cuts);
        var footer = "## Methods\n\n" + BenchViews.MetricsTable(r.Metrics).ToMarkdown() + "\n## Evaluation counts\n\n" + BenchViews.FormulaTable(r.Formulas).ToMarkdown();
        return ClaimsTable.ToMarkdown("AccDiffusion", r.Claims, pre, footer);
    }
}
