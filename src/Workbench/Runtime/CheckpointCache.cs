using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Workbench.Runtime;

/// <summary>
/// The folder where trained models are kept between runs (never committed). <c>PAPERS_CACHE</c> overrides the
/// default <c>~/.cache/papers</c>. Entries are keyed by a name plus a hash of everything that determines them
/// (config, seed, data), so a changed config never picks up a stale model.
/// </summary>
public sealed class CheckpointCache(string root)
{
    public const string Variable = "PAPERS_CACHE";
    public string Root { get; } = Path.GetFullPath(root);

    public static CheckpointCache Default()
    {
        var env = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(env)) return new CheckpointCache(env);
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return new CheckpointCache(Path.Combine(string.IsNullOrEmpty(home) ? Path.GetTempPath() : home, ".cache", "papers"));
    }

    /// <summary>A short stable hash of a key object (serialised as JSON).</summary>
    public static string KeyHash(object key)
    {
        var json = JsonSerializer.Serialize(key, AtomicFile.Json);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(json)))[..16].ToLowerInvariant();
    }

    /// <summary>The path of an entry: <c>Root/paper/name-hash.ext</c>.</summary>
    public string PathFor(string paper, string name, object key, string ext = "bin") =>
        Path.Combine(Root, paper, $"{name}-{KeyHash(key)}.{ext}");

    /// <summary>Writes (or replaces) an entry: <paramref name="write"/> fills a temporary file, which is flushed to disk and
    /// renamed into place, so a crash never leaves a truncated entry.</summary>
    public void Put(string path, Action<string> write)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var tmp = path + $".{Environment.ProcessId}.tmp";
        try
        {
            write(tmp);
            using (var fs = new FileStream(tmp, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(true);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Returns the cached file if present; otherwise lets <paramref name="create"/> write a temp file,
    /// then renames it into place (so an interrupted run leaves no broken entry). Returns (path, fromCache).</summary>
    public (string Path, bool FromCache) GetOrCreate(string paper, string name, object key, Action<string> create, string ext = "bin")
    {
        var path = PathFor(paper, name, key, ext);
        if (File.Exists(path)) return (path, true);
        Put(path, create);
        return (path, false);
    }
}
