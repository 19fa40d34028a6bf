namespace Workbench.Blocks.Optim;

/// <summary>Learning-rate schedules as pure functions of the step (set <c>FlatOptimizer.Lr</c> from them each step).</summary>
public static class Schedules
{
    /// <summary>Linear warm-up to <paramref name="lr"/> over <paramref name="warm"/> steps, then cosine down to
    /// <paramref name="floor"/>·lr at step <paramref name="total"/>.</summary>
    public static double WarmupCosine(double lr, int step, int warm, int total, double floor = 0.1)
    {
        if (step < warm) return lr * (step + 1) / warm;
        double p = total <= warm ? 1 : (step - warm) / (double)Math.Max(1, total - warm);
        return lr * (floor + (1 - floor) * 0.5 * (1 + Math.Cos(Math.PI * p)));
    }
}
