using TorchSharp;
using Workbench.Blocks.Lm;
using Workbench.Data;
using Workbench.Runtime;

namespace Workbench.Blocks.Rl;

/// <summary>The shared start of every RL run on ArithWord: the task, the SFT warm start (cached) and the problem sets.</summary>
public sealed record RlSetup(ArithTask Task, TinyLmConfig Model, SftResult Sft, EvalResult SftEval, ArithProblem[] Train, ArithProblem[] Eval, long Parameters);

/// <summary>Greedy accuracy on the held-out set after <paramref name="Step"/> steps and <paramref name="TrainSeconds"/> of training.</summary>
public sealed record EvalPoint(int Step, double TrainSeconds, double Accuracy, double WellFormed);

/// <summary>What every RL paper on the tiny LM starts from (CPPO, ReMax, and the RL papers to come).</summary>
public static class WarmStart
{
    /// <summary>Builds (or loads) the warm-started policy and the problem sets for one seed. <paramref name="sftSeconds"/>:
    /// the warm start's time budget (null: <see cref="Sft.DefaultBudgetShare"/> of the time left under a deadline, else none).</summary>
    public static (RlSetup Setup, TinyLm Sft) Prepare(TinyLmConfig model, SftConfig sft, int trainQuestions, int rlMinOps, int rlMaxOps,
        int evalQuestions, int evalOps, int maxNewTokens, torch.Device device, long seed, double? sftSeconds = null)
    {
        var task = ArithTask.Create();
        var mc = (model with { Vocab = task.Tokenizer.VocabSize }).Validate();
        Seeding.SeedAll(seed);
        var lm = new TinyLm(mc, seed);
        lm.to(device);
        var s = Sft.TrainOrLoad(lm, task, sft, seed, budgetSeconds: sftSeconds);
        var train = ArithWord.Generate(seed, "rl-train", trainQuestions, rlMinOps, rlMaxOps);
        var eval = ArithWord.Generate(seed, $"eval-{evalOps}ops", evalQuestions, evalOps, evalOps);
        var e = task.Evaluate(lm, eval, maxNewTokens);
        long n = lm.parameters().Sum(p => p.numel());
        return (new RlSetup(task, mc, s, e, train, eval, n), lm);
    }

    /// <summary>A fresh trainable copy of a model (policy, critic trunk or frozen probe) with the source's weights, dtype and device.</summary>
    public static TinyLm Copy(TinyLm source)
    {
        var m = new TinyLm(source.Config, 0);
        m.to(source.ParameterDtype).to(source.ParameterDevice);
        using (torch.no_grad())
            foreach (var ((_, dst), (_, src)) in m.named_parameters().Zip(source.named_parameters())) dst.copy_(src);
        return m;
    }
}
