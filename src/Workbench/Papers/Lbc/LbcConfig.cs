using Workbench.Runtime;

namespace Workbench.Papers.Lbc;

/// <summary>Which network a suite trains.</summary>
public enum LbcModel { Mlp, Cnn, Vit }

/// <summary>The methods compared: the dense model, ASP (dense → magnitude N:M → retrain), STE, SR-STE and LBC.</summary>
public enum SparseMethod { Dense, Asp, Ste, SrSte, Lbc }

public enum OptimizerKind { Sgd, AdamW }

/// <summary>An N:M pattern: at most N non-zeros in every M consecutive weights.</summary>
public sealed record NmPattern(int N, int M)
{
    public override string ToString() => $"{N}:{M}";
    public static NmPattern Parse(string s)
    {
        var p = s.Split(':');
        if (p.Length != 2 || !int.TryParse(p[0], out var n) || !int.TryParse(p[1], out var m) || n < 1 || n >= m)
            throw new ConfigException($"Pattern '{s}' is not N:M with 1 <= N < M (e.g. 2:4).");
        return new NmPattern(n, m);
    }
}

/// <summary>
/// One model and its training recipe. Defaults follow LBC's official ResNet script (SGD 0.1, momentum 0.9, wd 1e-4
/// also on scores, cosine with linear warm-up, t_i = 0, t_f = half the epochs, p = 3, freeze the scores at t_f) and
/// its DeiT script for the ViT (AdamW 1e-3, wd 0.05, p = 4, no freeze).
/// </summary>
public sealed record LbcSuite(
    LbcModel Model,
    NmPattern[] Patterns,
    SparseMethod[] Methods,
    int Epochs,
    OptimizerKind Optimizer = OptimizerKind.Sgd,
    double Lr = 0.1,
    double Momentum = 0.9,
    double WeightDecay = 1e-4,
    int WarmupEpochs = 0,
    int? TfEpoch = null,
    double P = 3,
    bool FreezeAtTf = true)
{
    /// <summary>t_f: the epoch at which one combination per group remains (default: half of the epochs, as 60 of 120).</summary>
    public int Tf => TfEpoch ?? Math.Max(1, Epochs / 2);

    /// <summary>The CNN recipe (ResNet script of the official code, scaled to toy epochs).</summary>
    public static LbcSuite Cnn(int epochs, params NmPattern[] patterns) => new(LbcModel.Cnn, patterns,
        [SparseMethod.Dense, SparseMethod.Asp, SparseMethod.Ste, SparseMethod.SrSte, SparseMethod.Lbc], epochs,
        WarmupEpochs: Math.Max(0, (int)Math.Round(epochs * 5.0 / 120)), P: 3, FreezeAtTf: true);

    /// <summary>The ViT recipe (DeiT script: AdamW 1e-3, wd 0.05, 5 of 300 warm-up epochs, p = 4, never freezes).</summary>
    public static LbcSuite Vit(int epochs, params NmPattern[] patterns) => new(LbcModel.Vit, patterns,
        [SparseMethod.Dense, SparseMethod.SrSte, SparseMethod.Lbc], epochs, OptimizerKind.AdamW, Lr: 1e-3, Momentum: 0,
        WeightDecay: 0.05, WarmupEpochs: Math.Max(1, (int)Math.Round(epochs * 5.0 / 300)), P: 4, FreezeAtTf: false);

    public void Validate(string where)
    {
        Check.Positive(where, nameof(Epochs), Epochs);
        Check.Positive(where, nameof(Lr), Lr);
        Check.InRange(where, nameof(Momentum), Momentum, 0, 0.999);
        Check.NonNegative(where, nameof(WeightDecay), WeightDecay);
        Check.InRange(where, nameof(WarmupEpochs), WarmupEpochs, 0, Epochs);
        Check.InRange(where, nameof(Tf), Tf, 1, Epochs);
        Check.Positive(where, nameof(P), P);
        Check.That(Patterns.Length > 0, where, nameof(Patterns), "give at least one N:M pattern, e.g. 2:4.");
        Check.That(Methods.Length > 0, where, nameof(Methods), "give at least one method.");
        foreach (var p in Patterns)
            Check.That(p.N >= 1 && p.N < p.M && p.M <= 16, where, nameof(Patterns), $"{p} is not a supported pattern: need 1 <= N < M <= 16.");
    }
}

/// <summary>
/// LBC experiment configuration. Presets: <see cref="Test"/> (an MLP on 2k images, 2 epochs, seconds on CPU: checks the
/// machinery, makes no accuracy claim) and <see cref="Gpu"/> (the CNN on full Fashion-MNIST at 2:4, 2:8 and 1:16, and the
/// tiny ViT at 2:4 for 10; about 8 minutes on an H100, measured: 13 CNN runs at 1.2–1.9 s and 3 ViT runs at 4–7 s per epoch).
/// </summary>
public sealed record LbcConfig(
    LbcSuite[] Suites,
    int BatchSize = 256,
    int? TrainLimit = null,
    int? TestLimit = null,
    long[]? Seeds = null,
    double SrSteLambda = 2e-4,          // λ_W of SR-STE (aojunzz/NM-sparsity default)
    double LabelSmoothing = 0.1,        // LBC README's ImageNet command (options.py default is 0)
    int ScoreSampleGroups = 16,         // rows of the score heatmaps
    string Preset = "custom")
{
    public long[] SeedList => Seeds ?? [1];

    public static LbcConfig Test { get; } = new(
        [new LbcSuite(LbcModel.Mlp, [new NmPattern(2, 4)],
            [SparseMethod.Dense, SparseMethod.Asp, SparseMethod.Ste, SparseMethod.SrSte, SparseMethod.Lbc],
            Epochs: 4, Lr: 0.05, TfEpoch: 2)],
        BatchSize: 64, TrainLimit: 2000, TestLimit: 1000, Seeds: [1], Preset: "test");

    public static LbcConfig Gpu { get; } = new(
        [LbcSuite.Cnn(15, new NmPattern(2, 4), new NmPattern(2, 8), new NmPattern(1, 16)),
         LbcSuite.Vit(10, new NmPattern(2, 4))],
        BatchSize: 256, Seeds: [1], Preset: "gpu");

    public static LbcConfig For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public LbcConfig Validate()
    {
        Check.That(Suites.Length > 0, nameof(LbcConfig), nameof(Suites), "give at least one suite.");
        Check.Positive(nameof(LbcConfig), nameof(BatchSize), BatchSize);
        if (TrainLimit is int tl) Check.Positive(nameof(LbcConfig), nameof(TrainLimit), tl);
        if (TestLimit is int sl) Check.Positive(nameof(LbcConfig), nameof(TestLimit), sl);
        Check.NonNegative(nameof(LbcConfig), nameof(SrSteLambda), SrSteLambda);
        Check.InRange(nameof(LbcConfig), nameof(LabelSmoothing), LabelSmoothing, 0, 1);
        Check.That(SeedList.Length > 0, nameof(LbcConfig), nameof(Seeds), "give at least one seed.");
        for (int i = 0; i < Suites.Length; i++) Suites[i].Validate($"{nameof(LbcConfig)}.Suites[{i}]");
        return this;
    }
}
