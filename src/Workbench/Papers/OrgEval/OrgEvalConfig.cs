using Workbench.Runtime;

namespace Workbench.Papers.OrgEval;

/// <summary>
/// ORGEval experiment configuration (spec §5). CPU-bound: no tensor work; the cost is external processes (bliss, highs, cbc,
/// glpsol), run in parallel on the cores. <see cref="Test"/>: 3 families, N ≤ 12, 30 pairs, K = 3 data configurations, HiGHS as the
/// baseline, a two-point runtime sweep — seconds on 2 cores. <see cref="Gpu"/>: the full sweep (every family incl. the WL-hard
/// ones, 60 pairs each, N ≤ 12, K = 5, HiGHS, CBC and GLPK as baselines with 10 s per solve, runtime 50 → 5,000 variables on set cover and facility location with
/// a 20 s limit per solve). The name is the workbench's convention for the big preset: the GPU machine has no Debian packages, so
/// it runs on the Debian CPU machine (2 cores here, about 10 minutes).
/// </summary>
/// <param name="Families">family names (<see cref="Generator.Families"/>)</param>
/// <param name="MinN">smallest size parameter N of a pair (each pair draws N in [MinN, MaxN])</param>
/// <param name="MaxN">largest N</param>
/// <param name="PairsPerFamily">labelled pairs per family; edits cycle through the family's applicable list</param>
/// <param name="DataConfigs">K: random data configurations per pair (the model stays, the data changes)</param>
/// <param name="Solvers">solvers for the solver-based verdicts of every pair and configuration</param>
/// <param name="SolverTimeLimit">seconds per solve in the pair study</param>
/// <param name="AbsTolerance">solver verdict: |Δobj| ≤ AbsTolerance + RelTolerance·|ref| counts as equal (spec §2 step 7:
/// the repo uses 1e-6 absolute for OptiBench)</param>
/// <param name="RelTolerance">relative part of the tolerance</param>
/// <param name="RuntimeFamilies">families of the runtime sweep</param>
/// <param name="RuntimeSizes">target numbers of variables of the runtime sweep</param>
/// <param name="RuntimeSolvers">solvers timed in the runtime sweep</param>
/// <param name="RuntimeTimeLimit">seconds per solve in the runtime sweep (a time-out is marked, not hidden)</param>
/// <param name="RuntimeParallelism">concurrent runtime measurements (1: timings not disturbed by each other)</param>
/// <param name="Parallelism">concurrent pair evaluations (0: one per core)</param>
/// <param name="BlissTimeLimit">seconds per bliss call</param>
/// <param name="Seed">every RNG is derived from it (Seeding.Rng with a purpose per pair and configuration)</param>
/// <param name="Preset">test | gpu | custom</param>
public sealed record OrgEvalConfig(
    string[] Families,
    int MinN,
    int MaxN,
    int PairsPerFamily,
    int DataConfigs,
    string[] Solvers,
    double SolverTimeLimit,
    string[] RuntimeFamilies,
    int[] RuntimeSizes,
    string[] RuntimeSolvers,
    double RuntimeTimeLimit,
    double AbsTolerance = 1e-6,
    double RelTolerance = 1e-6,
    int RuntimeParallelism = 1,
    int Parallelism = 0,
    double BlissTimeLimit = 30,
    long Seed = 1,
    string Preset = "custom")
{
    public static OrgEvalConfig Test { get; } = new(
        Families: ["knapsack", "blending", "cycle"], MinN: 4, MaxN: 12, PairsPerFamily: 10, DataConfigs: 3,
        Solvers: ["highs"], SolverTimeLimit: 10,
        RuntimeFamilies: ["setcover"], RuntimeSizes: [50, 200], RuntimeSolvers: ["highs", "cbc", "glpsol"], RuntimeTimeLimit: 5,
        Preset: "test");

    public static OrgEvalConfig Gpu { get; } = Test with
    {
        Families = Generator.Families.Select(f => f.Name).ToArray(),
        MinN = 4, MaxN = 12, PairsPerFamily = 60, DataConfigs = 5,
        Solvers = ["highs", "cbc", "glpsol"], SolverTimeLimit = 10,
        RuntimeFamilies = ["setcover", "facility"], RuntimeSizes = [50, 300, 1500, 5000], RuntimeSolvers = ["highs", "cbc", "glpsol"],
        RuntimeTimeLimit = 20,
        Preset = "gpu",
    };

    public static OrgEvalConfig For(Preset p) => p == Runtime.Preset.Gpu ? Gpu : Test;

    public int Workers => Parallelism > 0 ? Parallelism : Environment.ProcessorCount;

    public OrgEvalConfig Validate()
    {
        const string n = nameof(OrgEvalConfig);
        var known = Generator.Families.Select(f => f.Name).ToHashSet();
        Check.That(Families.Length > 0 && Families.All(known.Contains), n, nameof(Families), $"use names from: {string.Join(", ", known)}.");
        Check.That(RuntimeFamilies.All(known.Contains), n, nameof(RuntimeFamilies), $"use names from: {string.Join(", ", known)}.");
        Check.InRange(n, nameof(MinN), MinN, 3, 10_000);
        Check.That(MaxN >= MinN, n, nameof(MaxN), $"{MaxN} is below MinN = {MinN}.");
        Check.Positive(n, nameof(PairsPerFamily), PairsPerFamily);
        Check.InRange(n, nameof(DataConfigs), DataConfigs, 1, 100);
        Check.That(Solvers.Concat(RuntimeSolvers).All(OrgEval.Solvers.All.Contains), n, nameof(Solvers), $"use solvers from: {string.Join(", ", OrgEval.Solvers.All)}.");
        Check.Positive(n, nameof(SolverTimeLimit), SolverTimeLimit);
        Check.Positive(n, nameof(RuntimeTimeLimit), RuntimeTimeLimit);
        Check.That(RuntimeSizes.All(s => s >= 10), n, nameof(RuntimeSizes), "sizes are numbers of variables, at least 10.");
        Check.NonNegative(n, nameof(AbsTolerance), AbsTolerance);
        Check.NonNegative(n, nameof(RelTolerance), RelTolerance);
        Check.InRange(n, nameof(RuntimeParallelism), RuntimeParallelism, 1, 256);
        Check.InRange(n, nameof(Parallelism), Parallelism, 0, 256);
        Check.Positive(n, nameof(BlissTimeLimit), BlissTimeLimit);
        return this;
    }
}
