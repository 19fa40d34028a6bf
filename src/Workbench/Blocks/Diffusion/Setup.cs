using TorchSharp;
using Workbench.Runtime;

namespace Workbench.Blocks.Diffusion;

/// <summary>The trained world every extrapolation paper starts from: base model, its training record, the evaluators and
/// their held-out quality (per-pixel accuracy, fraction of scenes counted exactly).</summary>
public sealed record DiffusionWorld(Denoiser Denoiser, Evaluators Evaluators, TrainResult Unet, TrainResult Detector, TrainResult Feature,
    double DetectorPixelAccuracy, double DetectorCountExact) : IDisposable
{
    public void Dispose() { Denoiser.Model.Dispose(); Evaluators.Dispose(); }

    /// <summary>One log line: the model's size, whether it came from the cache, and the evaluators' held-out quality.</summary>
    public string Summary =>
        $"TinyUNet {Unet.Parameters:N0} parameters ({(Unet.FromCache ? "from cache" : $"trained {Unet.Seconds:F1} s")}); " +
        $"detector pixel accuracy {DetectorPixelAccuracy:P1}, exact counts {DetectorCountExact:P0}" +
        (TrainingCuts.Length > 0 ? "; cut by the time budget: " + string.Join("; ", TrainingCuts) : "");

    /// <summary>"TinyUNet: 500 of 3,000 steps (time budget, …)" for every model whose training a deadline cut.</summary>
    public string[] TrainingCuts => new[] { Unet, Detector, Feature }.Where(t => t.Cut is not null).Select(t => $"{t.What}: {t.Cut}").ToArray();
}

/// <summary>What a time budget cut in one run, as results record it and claims/READMEs mention it.</summary>
public static class BudgetCuts
{
    /// <summary>The claims' "ours" suffix: " (time budget cut: …)" or empty.</summary>
    public static string Suffix(IReadOnlyCollection<string> cuts) => cuts.Count == 0 ? "" : $" (time budget cut: {string.Join("; ", cuts)})";

    /// <summary>A markdown bullet for claims.md, or empty.</summary>
    public static string Bullet(IReadOnlyCollection<string> cuts) =>
        cuts.Count == 0 ? "" : $"\n- **Cut by the time budget** ({Runtime.Deadline.Variable}): {string.Join("; ", cuts)}. Verdicts rest on what ran.";
}

public static class DiffusionSetup
{
    /// <summary>Trains (or loads from <c>PAPERS_CACHE</c>) the TinyUNet and the evaluators. The cache key is the configs and
    /// the seed, so every paper with the same configs shares one trained model.</summary>
    public static DiffusionWorld Prepare(UNetConfig model, DiffusionTrainConfig train, EvaluatorConfig eval, torch.Device device, long seed)
    {
        var (unet, tr) = DiffusionTraining.TrainOrLoad(model, train, device, seed);
        var (ev, rd, rf, acc, exact) = Evaluators.TrainOrLoad(eval, model.Resolution, device, seed);
        return new DiffusionWorld(new Denoiser(unet, new NoiseSchedule()), ev, tr, rd, rf, acc, exact);
    }
}
