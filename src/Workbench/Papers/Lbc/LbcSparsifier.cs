using TorchSharp;
using TorchSharp.Modules;
using Workbench.Blocks.Sparsity;
using static TorchSharp.torch;

namespace Workbench.Papers.Lbc;

/// <summary>
/// LBC's sparsifier for one layer: learnable scores A (G×C) over the C(M,N) combinations of each group, the binary
/// straight-through mask of <see cref="LbcSteps.ForwardMask"/>, and per-iteration removal of the k lowest scores.
/// Pruned weights get a zero gradient (no dense gradient, unlike SR-STE).
/// </summary>
public sealed class LbcSparsifier : NmSparsifier
{
    readonly Tensor b;
    readonly long[] shape;

    public LbcSparsifier(Tensor weight, int n, int m) : base(n, m)
    {
        Table = LbcSteps.Combinations(n, m);
        shape = weight.shape;
        b = Table.BTensor(weight.device).DetachFromDisposeScope();
        Scores = new Parameter(LbcSteps.InitScores(NmGroups.GroupCount(shape, m), n, m, weight.device)).DetachFromDisposeScope() as Parameter
            ?? throw new InvalidOperationException();
    }

    public CombinationTable Table { get; }
    /// <summary>A: one row per weight group, one column per combination.</summary>
    public Parameter Scores { get; }
    /// <summary>Combinations removed per group in this epoch (set once per epoch from the schedule).</summary>
    public int K { get; set; }
    public bool Frozen { get; private set; }

    public override IEnumerable<(string Name, Parameter Param)> ExtraParameters => [("scores", Scores)];
    public override bool DenseWeightGradient => false;

    public override void BeforeForward() => LbcSteps.RemoveLowest(Scores, K);

    public override Tensor EffectiveWeight(Tensor weight)
    {
        using var scope = torch.NewDisposeScope();
        var mask = LbcSteps.ForwardMask(Scores, b);                         // (G, M)
        var wg = NmGroups.ToGroups(weight, M) * mask;                       // (G, M)
        return NmGroups.FromGroups(wg, shape).MoveToOuterDisposeScope();
    }

    /// <summary>The scores as the next forward pass will see them: a copy with the current removal applied (an optimizer
    /// step with momentum can move removed scores off zero until the next removal). The parameter is not changed.</summary>
    public Tensor LiveScores()
    {
        var a = Scores.detach().clone();
        LbcSteps.RemoveLowest(a, K);
        return a;
    }

    /// <summary>The N:M mask of the model as evaluated (removal applied to a copy of the scores).</summary>
    public override Tensor Mask(Tensor weight)
    {
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var live = LiveScores();
        var raw = (live * live.ne(0).to_type(live.dtype)).matmul(b);
        return NmGroups.FromGroups(raw.ne(0).to_type(weight.dtype), shape).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Applies the current removal for an evaluation and puts the scores back as they were when disposed.</summary>
    public IDisposable EvaluationView()
    {
        var saved = Scores.detach().clone().DetachFromDisposeScope();
        LbcSteps.RemoveLowest(Scores, K);
        return new Restore(Scores, saved);
    }

    sealed class Restore(Parameter scores, Tensor saved) : IDisposable
    {
        public void Dispose()
        {
            using (torch.no_grad()) scores.copy_(saved);
            saved.Dispose();
        }
    }

    /// <summary>Step 6: scores stop learning (the trainer sets their learning rate to 0).</summary>
    public void Freeze()
    {
        Frozen = true;
        Scores.requires_grad = false;
    }
}
