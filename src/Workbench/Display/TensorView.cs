using TorchSharp;

namespace Workbench.Display;

/// <summary>Copies of tensors as CPU arrays for plots and tables (plot records hold arrays, never device tensors).</summary>
public static class TensorView
{
    /// <summary>A 2-D tensor as rows of doubles (copied through the CPU).</summary>
    public static double[][] Rows(torch.Tensor t)
    {
        if (t.dim() != 2) throw new ArgumentException($"Rows needs a 2-D tensor, got shape [{string.Join(",", t.shape)}].");
        using var c = t.detach().cpu().to_type(torch.ScalarType.Float64);
        var flat = c.data<double>().ToArray();
        int cols = (int)t.shape[1];
        return Enumerable.Range(0, (int)t.shape[0]).Select(r => flat.AsSpan(r * cols, cols).ToArray()).ToArray();
    }

    /// <summary>A tensor flattened to doubles (copied through the CPU).</summary>
    public static double[] Flat(torch.Tensor t)
    {
        using var c = t.detach().cpu().to_type(torch.ScalarType.Float64).flatten();
        return c.data<double>().ToArray();
    }
}
