namespace Workbench.Runtime;

/// <summary>Thrown at the next check after an interrupt was requested (a notebook kernel's "interrupt").</summary>
public sealed class InterruptedException() : OperationCanceledException("Interrupted by the user.");

/// <summary>
/// Cooperative interruption of long work. The notebook engine inserts a <see cref="Check"/> at the start of every loop
/// body of a cell, and <see cref="Progress"/> checks at every tick, so a kernel's interrupt stops a running cell at the
/// next iteration. One flag per process (one kernel per process).
/// </summary>
public static class Interrupt
{
    static volatile bool requested;

    public static bool Requested => requested;
    public static void Request() => requested = true;
    public static void Clear() => requested = false;

    public static void Check()
    {
        if (requested) { requested = false; throw new InterruptedException(); }
    }
}
