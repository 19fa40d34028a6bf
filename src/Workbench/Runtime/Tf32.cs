using TorchSharp;

namespace Workbench.Runtime;

/// <summary>
/// TF32 switch for a block of code. The CUDA runtime turns TF32 on for fp32 matmuls and convolutions (training speed);
/// a measurement of fp32 rounding error or fp32 GEMM speed must turn it off, or on an H100 its "float32" rows are TF32
/// (10-bit mantissa, about 1000× the error). <c>using (Tf32.Off()) { ... }</c> restores the previous setting on exit.
/// A no-op without CUDA.
/// </summary>
public static class Tf32
{
    public static IDisposable Off() => new Scope();

    sealed class Scope : IDisposable
    {
        readonly bool active, matmul, cudnn;

        public Scope()
        {
            active = torch.cuda.is_available();
            if (!active) return;
            matmul = torch.backends.cuda.matmul.allow_tf32;
            cudnn = torch.backends.cudnn.allow_tf32;
            torch.backends.cuda.matmul.allow_tf32 = false;
            torch.backends.cudnn.allow_tf32 = false;
        }

        public void Dispose()
        {
            if (!active) return;
            torch.backends.cuda.matmul.allow_tf32 = matmul;
            torch.backends.cudnn.allow_tf32 = cudnn;
        }
    }
}
