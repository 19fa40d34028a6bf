using Workbench.Runtime;

namespace Workbench.Papers;

/// <summary>
/// Every probe a fresh process can run (<c>papers probe KIND JSON --device cuda</c>, started through
/// <see cref="ChildProbe.Launcher"/>). A paper that measures something per process adds one line here.
/// </summary>
public static class Probes
{
    public static ProbeHandlers Handlers { get; } = new ProbeHandlers()
        .Add<Remax.MemoryProbeRequest, Remax.MemoryRow>(Remax.MemoryProbe.Kind, Remax.MemoryProbe.Run)
        .Add<CutDiffusion.DiffusionMemoryRequest, CutDiffusion.DiffusionMemoryRow>(CutDiffusion.DiffusionMemoryProbe.Kind, CutDiffusion.DiffusionMemoryProbe.Run);
}
