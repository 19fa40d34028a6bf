using TorchSharp;
using static TorchSharp.torch;

namespace Workbench.Data;

/// <summary>One split of Fashion-MNIST as tensors: images (N,1,28,28) float32 normalised, labels (N) int64.</summary>
public sealed record ImageDataset(Tensor Images, Tensor Labels, string[] ClassNames, string Source) : IDisposable
{
    public long Count => Labels.shape[0];
    public void Dispose() { Images.Dispose(); Labels.Dispose(); }
}

/// <summary>
/// Fashion-MNIST (Zalando, MIT/Expat) from Debian's <c>dataset-fashion-mnist</c> package
/// (<c>/usr/share/datasets/fashion-mnist</c>), or from the folder named by <c>PAPERS_DATA</c>/fashion-mnist.
/// </summary>
public static class FashionMnist
{
    public const string DefaultDir = "/usr/share/datasets/fashion-mnist";
    public static readonly string[] Classes =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
    // Per-pixel statistics of the training set (pixels scaled to [0,1]).
    public const float Mean = 0.2860f, Std = 0.3530f;

    /// <summary>The folder holding the four .gz files.</summary>
    public static string Dir()
    {
        var env = Environment.GetEnvironmentVariable("PAPERS_DATA");
        if (!string.IsNullOrWhiteSpace(env)) return Path.Combine(env, "fashion-mnist");
        return DefaultDir;
    }

    static string FileFor(string dir, bool train, bool images)
    {
        var stem = $"{(train ? "train" : "t10k")}-{(images ? "images-idx3" : "labels-idx1")}-ubyte";
        var gz = Path.Combine(dir, stem + ".gz");
        if (File.Exists(gz)) return gz;
        var plain = Path.Combine(dir, stem);
        if (File.Exists(plain)) return plain;
        throw new FileNotFoundException(
            $"Fashion-MNIST file not found: {gz}. Install it with `sudo apt-get install dataset-fashion-mnist` " +
            $"(scripts/setup does this), or set PAPERS_DATA to a folder whose fashion-mnist/ subfolder holds " +
            "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.", gz);
    }

    /// <summary>Loads a split (first <paramref name="limit"/> items) onto <paramref name="device"/>.</summary>
    public static ImageDataset Load(bool train, int? limit = null, Device? device = null, string? dir = null)
    {
        dir ??= Dir();
        var imgPath = FileFor(dir, train, images: true);
        var lblPath = FileFor(dir, train, images: false);
        var img = Idx.Read(imgPath, Idx.ImagesMagic, limit);
        var lbl = Idx.Read(lblPath, Idx.LabelsMagic, limit);
        if (img.Count != lbl.Count)
            throw new IdxFormatException($"{imgPath} has {img.Count} images but {lblPath} has {lbl.Count} labels: the files do not belong together.");
        if (img.Dims.Length != 3 || img.Dims[1] != 28 || img.Dims[2] != 28)
            throw new IdxFormatException($"{imgPath}: images are {string.Join("x", img.Dims.Skip(1))}, expected 28x28.");
        foreach (var y in lbl.Bytes)
            if (y > 9) throw new IdxFormatException($"{lblPath}: label {y} is outside 0..9.");
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(img.Bytes, dtype: ScalarType.Byte).reshape(img.Count, 1, 28, 28)
            .to_type(ScalarType.Float32).div_(255f).sub_(Mean).div_(Std);
        var t = torch.tensor(lbl.Bytes, dtype: ScalarType.Byte).to_type(ScalarType.Int64);
        if (device is not null) { x = x.to(device); t = t.to(device); }
        return new ImageDataset(x.MoveToOuterDisposeScope(), t.MoveToOuterDisposeScope(), Classes, imgPath);
    }
}
