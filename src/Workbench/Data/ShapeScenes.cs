using TorchSharp;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Data;

/// <summary>One object of a scene, in unit coordinates (the canvas is [0,1]²; y grows downwards).</summary>
/// <param name="Shape">0 circle, 1 square, 2 triangle, 3 plus.</param>
/// <param name="Colour">0 red, 1 green, 2 blue, 3 yellow, 4 magenta, 5 cyan.</param>
/// <param name="Half">Half-size u (the shape fits in [c − u, c + u]²).</param>
public sealed record ShapeObject(int Shape, int Colour, double Cx, double Cy, double Half)
{
    /// <summary>The object's prompt token (0..23) = shape·6 + colour.</summary>
    public int Token => Shape * ShapeScenes.Colours + Colour;
}

/// <summary>A scene: background (0 sand, 1 stripes, 2 grid, 3 sky), stripe orientation, objects, and the seed of the
/// per-pixel grain. It is resolution-free: <see cref="ShapeScenes.Render"/> draws it at any side R.</summary>
public sealed record ShapeScene(int Background, bool Vertical, ShapeObject[] Objects, int GrainSeed)
{
    /// <summary>The prompt tokens: [BOS] + object tokens (in this scene's random order) + background + [EOS], padded to 6.</summary>
    public long[] Prompt => ShapeScenes.PromptOf(Objects.Select(o => o.Token), Background);
}

/// <summary>A scene drawn at side R: RGB in [−1, 1] (3·R·R, channel-major), the per-pixel class map (0 = background,
/// 1 + token for an object's pixel centre) and the true count per object token (0 or 1 by construction).</summary>
public sealed record RenderedScene(int R, float[] Rgb, int[] ClassMap, int[] Counts);

/// <summary>
/// ShapeScenes (accdiffusion.md §5): a synthetic world whose scenes are defined in unit coordinates, so the same scene
/// renders at any resolution with exact ground truth. Background periods are in pixels, so fine detail stays native-scale
/// at every R. Vocabulary 32: 24 object tokens, 4 backgrounds, BOS, EOS, PAD, NULL.
/// </summary>
public static class ShapeScenes
{
    public const int Shapes = 4, Colours = 6, ObjectTokens = 24, Backgrounds = 4;
    public const int Bos = 28, Eos = 29, Pad = 30, Null = 31, Vocab = 32, PromptLength = 6;
    public static readonly string[] ShapeNames = ["circle", "square", "triangle", "plus"];
    public static readonly string[] ColourNames = ["red", "green", "blue", "yellow", "magenta", "cyan"];
    public static readonly string[] BackgroundNames = ["sand", "stripes", "grid", "sky"];
    static readonly double[][] Palette =
        [[0.90, 0.15, 0.15], [0.15, 0.75, 0.20], [0.15, 0.25, 0.90], [0.95, 0.85, 0.10], [0.85, 0.20, 0.80], [0.10, 0.80, 0.85]];

    /// <summary>The word of a token ("red circle", "sand", "[BOS]", ...).</summary>
    public static string Word(long token) => token switch
    {
        < ObjectTokens => $"{ColourNames[token % Colours]} {ShapeNames[token / Colours]}",
        < ObjectTokens + Backgrounds => BackgroundNames[token - ObjectTokens],
        Bos => "[BOS]", Eos => "[EOS]", Pad => "[PAD]", _ => "[NULL]",
    };

    /// <summary>[BOS] + tokens + background + [EOS], padded with PAD to 6.</summary>
    public static long[] PromptOf(IEnumerable<int> objectTokens, int? background)
    {
        var p = new List<long> { Bos };
        p.AddRange(objectTokens.Select(t => (long)t));
        if (background is int b) p.Add(ObjectTokens + b);
        p.Add(Eos);
        if (p.Count > PromptLength) throw new ArgumentException($"A prompt holds at most {PromptLength} tokens; got {p.Count}.");
        while (p.Count < PromptLength) p.Add(Pad);
        return p.ToArray();
    }

    /// <summary>The empty prompt [BOS, EOS, PAD…] (classifier-free guidance's unconditional input, and an empty patch prompt).</summary>
    public static long[] EmptyPrompt => PromptOf([], null);

    /// <summary>Samples a scene: n ∈ {0,1,2,3} objects with p = .10/.45/.30/.15, distinct (shape, colour), half-size
    /// u ~ U(0.14, 0.26), full containment, and a gap ≥ 0.03 between bounding boxes (rejection; an object that cannot be
    /// placed in 200 tries is dropped).</summary>
    public static ShapeScene Sample(Random rng)
    {
        double r = rng.NextDouble();
        int n = r < 0.10 ? 0 : r < 0.55 ? 1 : r < 0.85 ? 2 : 3;
        int bg = rng.Next(Backgrounds);
        bool vertical = rng.Next(2) == 1;
        var objs = new List<ShapeObject>();
        var used = new HashSet<int>();
        for (int i = 0; i < n; i++)
        {
            int tok;
            do tok = rng.Next(ObjectTokens); while (!used.Add(tok));
            for (int tries = 0; tries < 200; tries++)
            {
                double u = 0.14 + 0.12 * rng.NextDouble();
                double cx = u + (1 - 2 * u) * rng.NextDouble(), cy = u + (1 - 2 * u) * rng.NextDouble();
                if (objs.All(o => Math.Abs(o.Cx - cx) > o.Half + u + 0.03 || Math.Abs(o.Cy - cy) > o.Half + u + 0.03))
                {
                    objs.Add(new ShapeObject(tok / Colours, tok % Colours, cx, cy, u));
                    break;
                }
            }
        }
        return new ShapeScene(bg, vertical, objs.ToArray(), rng.Next());
    }

    /// <summary>A scene whose objects are exactly <paramref name="tokens"/> (layout sampled), for references of a given prompt.</summary>
    public static ShapeScene SampleWith(Random rng, int[] tokens, int background)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            var objs = new List<ShapeObject>();
            foreach (var tok in tokens)
                for (int tries = 0; tries < 200; tries++)
                {
                    double u = 0.14 + 0.12 * rng.NextDouble();
                    double cx = u + (1 - 2 * u) * rng.NextDouble(), cy = u + (1 - 2 * u) * rng.NextDouble();
                    if (objs.All(o => Math.Abs(o.Cx - cx) > o.Half + u + 0.03 || Math.Abs(o.Cy - cy) > o.Half + u + 0.03))
                    { objs.Add(new ShapeObject(tok / Colours, tok % Colours, cx, cy, u)); break; }
                }
            if (objs.Count == tokens.Length) return new ShapeScene(background, rng.Next(2) == 1, objs.ToArray(), rng.Next());
        }
        throw new InvalidOperationException("Could not place the requested objects.");
    }

    /// <summary>Signed distance-like function in unit coordinates (negative inside).</summary>
    public static double Sdf(ShapeObject o, double x, double y)
    {
        double dx = x - o.Cx, dy = y - o.Cy, u = o.Half;
        switch (o.Shape)
        {
            case 0: return Math.Sqrt(dx * dx + dy * dy) - u;
            case 1: return Math.Max(Math.Abs(dx), Math.Abs(dy)) - u;
            case 2:
            {
                // Upward triangle with its base at cy + u and apex at cy − u: three half-planes.
                double bottom = dy - u;
                // side through (−u, u) and (0, −u): normal (−2, −1)/√5 pointing outward-left
                double n = Math.Sqrt(5);
                double l = (-2 * (dx + u) - (dy - u)) / n;
                double r = (2 * (dx - u) - (dy - u)) / n;
                return Math.Max(bottom, Math.Max(l, r));
            }
            default:
            {
                double a = u / 3;
                return Math.Min(Math.Max(Math.Abs(dx) - u, Math.Abs(dy) - a), Math.Max(Math.Abs(dx) - a, Math.Abs(dy) - u));
            }
        }
    }

    static void BackgroundAt(ShapeScene s, int R, int px, int py, Random grain, Span<double> rgb)
    {
        switch (s.Background)
        {
            case 0:
            {
                double g = 0.04 * Gauss(grain);
                rgb[0] = 0.78 + g; rgb[1] = 0.70 + g; rgb[2] = 0.50 + g; break;
            }
            case 1:
            {
                int q = s.Vertical ? px : py;
                double w = 0.5 + 0.5 * Math.Sin(2 * Math.PI * q / 8.0);
                rgb[0] = 0.95 * w + 0.45 * (1 - w); rgb[1] = 0.90 * w + 0.55 * (1 - w); rgb[2] = 0.80 * w + 0.75 * (1 - w); break;
            }
            case 2:
            {
                bool line = px % 6 == 0 || py % 6 == 0;
                double v = line ? 0.30 : 0.88;
                rgb[0] = v; rgb[1] = v; rgb[2] = line ? 0.35 : 0.86; break;
            }
            default:
            {
                double f = (py + 0.5) / R;
                rgb[0] = 0.40 + 0.40 * f; rgb[1] = 0.60 + 0.30 * f; rgb[2] = 0.95 + 0.05 * f; break;
            }
        }
    }

    static double Gauss(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    /// <summary>Draws a scene at side R: 4×4 supersampled fill with a 1-pixel darker outline (half the fill colour), the class
    /// map at pixel centres and the per-token counts.</summary>
    public static RenderedScene Render(ShapeScene s, int R)
    {
        var rgb = new float[3 * R * R];
        var cls = new int[R * R];
        var grain = new Random(s.GrainSeed);
        Span<double> bg = stackalloc double[3];
        double px1 = 1.0 / R;
        for (int py = 0; py < R; py++)
            for (int px = 0; px < R; px++)
            {
                BackgroundAt(s, R, px, py, grain, bg);
                double r = 0, g = 0, b = 0;
                for (int sy = 0; sy < 4; sy++)
                    for (int sx = 0; sx < 4; sx++)
                    {
                        double x = (px + (sx + 0.5) / 4) / R, y = (py + (sy + 0.5) / 4) / R;
                        double cr = bg[0], cg = bg[1], cb = bg[2];
                        foreach (var o in s.Objects)
                        {
                            double d = Sdf(o, x, y);
                            if (d >= 0) continue;
                            var p = Palette[o.Colour];
                            double k = d < -px1 ? 1.0 : 0.5;              // fill, or the 1-px outline
                            cr = p[0] * k; cg = p[1] * k; cb = p[2] * k;
                        }
                        r += cr; g += cg; b += cb;
                    }
                int i = py * R + px;
                rgb[i] = (float)(2 * r / 16 - 1); rgb[R * R + i] = (float)(2 * g / 16 - 1); rgb[2 * R * R + i] = (float)(2 * b / 16 - 1);
                double cx = (px + 0.5) / R, cy = (py + 0.5) / R;
                foreach (var o in s.Objects) if (Sdf(o, cx, cy) < 0) cls[i] = 1 + o.Token;
            }
        var counts = new int[ObjectTokens];
        foreach (var o in s.Objects) counts[o.Token]++;
        return new RenderedScene(R, rgb, cls, counts);
    }

    /// <summary>A pool of <paramref name="n"/> scenes rendered at side R, as tensors: images [n,3,R,R] in [−1,1], prompts
    /// [n,6] (long), class maps [n,R,R] (long). Rendered in parallel; deterministic in (seed, purpose).</summary>
    public static (Tensor Images, Tensor Prompts, Tensor Classes, ShapeScene[] Scenes) Pool(long seed, string purpose, int n, int R)
    {
        var rng = Seeding.Rng(seed, "shapescenes-" + purpose);
        var scenes = Enumerable.Range(0, n).Select(_ => Sample(rng)).ToArray();
        return Tensors(scenes, R);
    }

    /// <summary>Renders given scenes at side R into tensors (see <see cref="Pool"/>).</summary>
    public static (Tensor Images, Tensor Prompts, Tensor Classes, ShapeScene[] Scenes) Tensors(ShapeScene[] scenes, int R)
    {
        int n = scenes.Length;
        var img = new float[n * 3 * R * R];
        var cls = new long[n * R * R];
        var prm = new long[n * PromptLength];
        Parallel.For(0, n, i =>
        {
            var r = Render(scenes[i], R);
            Array.Copy(r.Rgb, 0, img, (long)i * 3 * R * R, 3 * R * R);
            for (int j = 0; j < R * R; j++) cls[(long)i * R * R + j] = r.ClassMap[j];
            Array.Copy(scenes[i].Prompt, 0, prm, i * PromptLength, PromptLength);
        });
        return (torch.tensor(img, [n, 3, R, R]), torch.tensor(prm, [n, PromptLength]), torch.tensor(cls, [n, R, R]), scenes);
    }

    /// <summary>The object tokens of a prompt (everything below 24).</summary>
    public static int[] ObjectsOf(long[] prompt) => prompt.Where(t => t < ObjectTokens).Select(t => (int)t).ToArray();

    /// <summary>The background of a prompt, if it names one.</summary>
    public static int? BackgroundOf(long[] prompt) =>
        prompt.Where(t => t is >= ObjectTokens and < ObjectTokens + Backgrounds).Select(t => (int?)(int)(t - ObjectTokens)).FirstOrDefault();
}
