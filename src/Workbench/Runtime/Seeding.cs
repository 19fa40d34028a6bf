using TorchSharp;

namespace Workbench.Runtime;

/// <summary>
/// Seeds every random number generator a run uses. Torch's global generators (CPU and CUDA) get the seed
/// itself; each <see cref="System.Random"/> is created through <see cref="Rng"/> from the seed and a purpose
/// name, so streams are independent of each other and of the order they are created in.
/// </summary>
public static class Seeding
{
    /// <summary>Seeds torch's CPU generator and, when CUDA is loaded, every CUDA generator.</summary>
    public static void SeedAll(long seed)
    {
        torch.manual_seed(seed);
        if (TorchRuntime.Current?.IsCuda == true) torch.cuda.manual_seed_all(seed);
    }

    /// <summary>A System.Random for one purpose ("shuffle", "init", ...) derived from the run's seed.</summary>
    public static Random Rng(long seed, string purpose) => new(DeriveSeed(seed, purpose));

    /// <summary>A torch generator (CPU) for one purpose, derived from the run's seed.</summary>
    public static torch.Generator TorchGenerator(long seed, string purpose) => new((ulong)DeriveSeed(seed, purpose));

    /// <summary>A stable 31-bit seed from (seed, purpose): FNV-1a over the purpose, mixed with SplitMix64.
    /// Never string.GetHashCode, which changes from process to process.</summary>
    public static int DeriveSeed(long seed, string purpose)
    {
        ulong h = 14695981039346656037UL;
        foreach (var ch in purpose) { h ^= ch; h *= 1099511628211UL; }
        ulong z = unchecked((ulong)seed + 0x9E3779B97F4A7C15UL * (h | 1));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }
}
