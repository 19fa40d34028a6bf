namespace Workbench.Papers.OrgEval;

/// <summary>One labelled pair over its K data configurations. Verdict strings hold one letter per configuration:
/// ORGEval E (equivalent) / N (not) / U (uncertified); exact tool I (isomorphic) / N / ? (skipped); solvers E / N / U (undecided);
/// Kinds: reference graph W (WL-determinable) / S (symmetric decomposable) / X (neither). Solver statuses are summarised over the
/// study (<see cref="StatusCount"/>), not kept per pair, so that results.json stays small.</summary>
public sealed record PairRecord(string Id, string Family, int N, string Edit, string Note, bool LabelEquivalent, int Vars, int Rows, int Nnz,
    string Org, string OrgCode, string Exact, Dictionary<string, string> Solver, string Kinds, double OrgMs);

/// <summary>The pair records and how often each solver ended in each status.</summary>
public sealed record PairStudyResult(IReadOnlyList<PairRecord> Pairs, IReadOnlyList<StatusCount> Statuses);

/// <summary>A confusion matrix: Counts[row][col], rows = truth, columns = the evaluator's answer.</summary>
public sealed record Confusion(string Name, string[] Rows, string[] Cols, int[][] Counts)
{
    public int Total => Counts.Sum(r => r.Sum());
}

/// <summary>Share of pairs whose verdict is the same in every data configuration.</summary>
public sealed record ConsistencyRow(string Evaluator, int Pairs, int Consistent, double Percent, string Note);

/// <summary>Census of the reference instances of one family (spec §2 experiment iii).</summary>
public sealed record CensusRow(string Family, int Instances, int NotWlDeterminable, int Sd, int WlDeterminable, int Uncertified);

/// <summary>One timed evaluation in the runtime sweep: ORGEval (a pair: normalise, graphs, WL, SD) or one solver solving the
/// reference once (the solver-based verdict needs two such solves).</summary>
public sealed record RuntimeRow(string Family, int Vars, int Rows, int Nnz, string Evaluator, double Seconds, string Status);

/// <summary>How often a solver ended in each status over the pair study.</summary>
public sealed record StatusCount(string Solver, string Status, int Count);

public sealed record ToolVersion(string Tool, string Version);

/// <summary>Where the study ran, in the shape every paper's results file shares (<c>runtime.device</c>, <c>runtime.deviceName</c>):
/// always the CPU — ORGEval needs no accelerator.</summary>
public sealed record Host(string Device, string DeviceName);

public sealed record OrgEvalResults(
    string Paper,
    string Preset,
    OrgEvalConfig Config,
    Host Runtime,
    string Machine,
    int Cores,
    IReadOnlyList<ToolVersion> Tools,
    IReadOnlyList<PairRecord> Pairs,
    IReadOnlyList<Confusion> Confusions,
    IReadOnlyList<ConsistencyRow> Consistency,
    IReadOnlyList<CensusRow> Census,
    IReadOnlyList<RuntimeRow> Sweep,
    IReadOnlyList<StatusCount> Statuses,
    IReadOnlyList<Claims.Claim> Claims,
    double WallSeconds,
    double PairStudySeconds,
    double RuntimeSweepSeconds,
    string StartedUtc)
{
    public static OrgEvalResults Load(string path) =>
        System.Text.Json.JsonSerializer.Deserialize<OrgEvalResults>(File.ReadAllText(path), Workbench.Runtime.AtomicFile.Json)
        ?? throw new InvalidDataException($"{path}: empty results file");
}
