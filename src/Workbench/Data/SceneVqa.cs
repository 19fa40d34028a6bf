using TorchSharp;
using Workbench.Runtime;
using static TorchSharp.torch;

namespace Workbench.Data;

/// <summary>The question types of SceneVQA (vtw.md §5, parvts.md §5). Every answer is one word.</summary>
public enum SceneQuestion { Color, ShapeAt, CountAll, CountColor, CountShape, Exists, BgColor, BgPattern, LeftOf, EmptyCell }

/// <summary>Generator settings (vtw.md §5): an H-pixel RGB canvas with a g×g grid of cells and 1..MaxObjects objects.</summary>
/// <param name="Image">Canvas side H in pixels (48; test 24).</param>
/// <param name="Grid">Cells per side g (3; test 2).</param>
/// <param name="MaxObjects">n_max (4; test 2).</param>
/// <param name="Patch">Vision patch size; Nv = (H/Patch)².</param>
/// <param name="PatternAmplitude">Stripes / dots amplitude (0.08).</param>
/// <param name="Noise">Pixel noise σ (0.02).</param>
/// <param name="Types">Question types drawn (uniformly); null = all.</param>
public sealed record SceneVqaConfig(int Image = 48, int Grid = 3, int MaxObjects = 4, int Patch = 4, double PatternAmplitude = 0.08,
    double Noise = 0.02, SceneQuestion[]? Types = null)
{
    public static SceneVqaConfig Gpu { get; } = new();
    public static SceneVqaConfig Test { get; } = new(Image: 24, Grid: 2, MaxObjects: 2);

    public SceneQuestion[] TypeList => Types ?? Enum.GetValues<SceneQuestion>();
    /// <summary>Visual tokens Nv = (H / patch)².</summary>
    public int VisualTokens => (Image / Patch) * (Image / Patch);
    public int PatchesPerSide => Image / Patch;

    public SceneVqaConfig Validate()
    {
        const string n = nameof(SceneVqaConfig);
        Check.Positive(n, nameof(Image), Image); Check.Positive(n, nameof(Grid), Grid); Check.Positive(n, nameof(Patch), Patch);
        Check.That(Image % Patch == 0, n, nameof(Patch), $"Image = {Image} is not a multiple of Patch = {Patch}.");
        Check.That(Grid is 2 or 3, n, nameof(Grid), "position words exist for a 2×2 or 3×3 grid only.");
        Check.That(MaxObjects >= 1 && MaxObjects <= Grid * Grid && MaxObjects <= 9, n, nameof(MaxObjects), $"need 1 ≤ MaxObjects ≤ Grid² = {Grid * Grid}.");
        Check.That(TypeList.Length > 0, n, nameof(Types), "no question types.");
        return this;
    }
}

/// <summary>One object: shape and colour words, size, grid cell and centre in pixels.</summary>
public sealed record SceneObject(string Shape, string Color, bool Large, int Row, int Col, double Cx, double Cy);

/// <summary>A scene graph; <paramref name="NoiseSeed"/> fixes the pixel noise, so rendering is a pure function of the record.</summary>
public sealed record Scene(string Background, string Pattern, SceneObject[] Objects, int NoiseSeed);

/// <summary>A sample: a VQA question (Type set) or a caption request (Type null, Question = "describe the scene .").</summary>
public sealed record SceneSample(Scene Scene, SceneQuestion? Type, string Question, string Answer);

/// <summary>
/// SceneVQA (vtw.md §5): seeded scenes, questions with one-word answers balanced by rejection sampling (so a text-only
/// prior is at chance), captions and text-only twins, and the word-level vocabulary.
/// Prompt: <c>&lt;bos&gt; you are a helpful scene assistant . user : &lt;img&gt; Q assistant : A &lt;eos&gt;</c>.
/// </summary>
public static class SceneVqa
{
    public static readonly string[] Shapes = ["circle", "square", "triangle", "cross", "ring", "diamond"];
    public static readonly string[] Colors = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"];
    public static readonly string[] Backgrounds = ["gray", "green", "blue", "brown"];
    public static readonly string[] Patterns = ["plain", "stripes", "dots"];
    public const string ImageToken = "<img>";
    public const string CaptionQuestion = "describe the scene .";

    static readonly Dictionary<string, (double R, double G, double B)> Rgb = new()
    {
        ["red"] = (0.9, 0.1, 0.1), ["green"] = (0.1, 0.75, 0.2), ["blue"] = (0.15, 0.3, 0.95), ["yellow"] = (0.95, 0.9, 0.1),
        ["purple"] = (0.6, 0.2, 0.8), ["orange"] = (1.0, 0.55, 0.05), ["white"] = (0.97, 0.97, 0.97), ["black"] = (0.05, 0.05, 0.05),
    };
    static readonly Dictionary<string, (double R, double G, double B)> BgRgb = new()
    {
        ["gray"] = (0.5, 0.5, 0.5), ["green"] = (0.3, 0.5, 0.3), ["blue"] = (0.3, 0.35, 0.6), ["brown"] = (0.5, 0.35, 0.2),
    };

    /// <summary>Row and column words for a g×g grid.</summary>
    public static string[] RowWords(int g) => g == 3 ? ["top", "middle", "bottom"] : ["top", "bottom"];
    public static string[] ColWords(int g) => g == 3 ? ["left", "center", "right"] : ["left", "right"];
    public static string Position(int g, int row, int col) => $"{RowWords(g)[row]} {ColWords(g)[col]}";

    /// <summary>The system prompt before the image (S tokens with &lt;bos&gt;).</summary>
    public const string SystemText = "you are a helpful scene assistant . user :";
    /// <summary>Text after the question, before the answer.</summary>
    public const string AssistantText = "assistant :";

    static readonly string[] OtherWords =
    [
        "you", "are", "a", "helpful", "scene", "assistant", "user", ":", ImageToken, ",",
        "what", "color", "is", "the", "shape", "at", "how", "many", "objects", "there", "of", "left", "right", "empty", "cell",
        "background", "pattern", "describe", "on", "small", "large", "yes", "no", "top", "middle", "bottom", "center",
    ];

    /// <summary>The closed vocabulary (≈ 75 words plus the tokenizer's specials, digits and symbols).</summary>
    public static WordTokenizer Tokenizer() => new(OtherWords.Concat(Shapes).Concat(Colors).Concat(Backgrounds).Concat(Patterns));

    /// <summary>A random scene graph: background, pattern, 1..MaxObjects objects in distinct cells, colours ≠ background.</summary>
    public static Scene RandomScene(SceneVqaConfig cfg, Random rng)
    {
        int g = cfg.Grid;
        double c = cfg.Image / (double)g;
        var bg = Backgrounds[rng.Next(Backgrounds.Length)];
        var pattern = Patterns[rng.Next(Patterns.Length)];
        int n = 1 + rng.Next(cfg.MaxObjects);
        var cells = Enumerable.Range(0, g * g).OrderBy(_ => rng.Next()).Take(n).OrderBy(x => x).ToArray();
        var colors = Colors.Where(x => x != bg).ToArray();
        var objs = cells.Select(cell =>
        {
            int row = cell / g, col = cell % g;
            double cx = (col + 0.5) * c + (rng.NextDouble() * 0.2 - 0.1) * c, cy = (row + 0.5) * c + (rng.NextDouble() * 0.2 - 0.1) * c;
            return new SceneObject(Shapes[rng.Next(Shapes.Length)], colors[rng.Next(colors.Length)], rng.Next(2) == 1, row, col, cx, cy);
        }).ToArray();
        return new Scene(bg, pattern, objs, rng.Next());
    }

    /// <summary>"a {size} {color} {shape} at the {pos}" per object (row-major), joined by commas, then "on a {bg} {pattern} background ."</summary>
    public static string Caption(Scene s, int grid) =>
        string.Join(" , ", s.Objects.Select(o => $"a {(o.Large ? "large" : "small")} {o.Color} {o.Shape} at the {Position(grid, o.Row, o.Col)}"))
        + $" on a {s.Background} {s.Pattern} background .";

    /// <summary>The text-only twin's replacement for the image: "scene : {textual scene graph} ;".</summary>
    public static string TextTwin(Scene s, int grid) => $"scene : {Caption(s, grid).TrimEnd('.', ' ')} ;";

    /// <summary>Every question of <paramref name="type"/> that is well defined on the scene, with its answer.</summary>
    public static IEnumerable<(string Question, string Answer)> Questions(Scene s, SceneQuestion type, int grid)
    {
        var o = s.Objects;
        bool UniqueShape(string sh) => o.Count(x => x.Shape == sh) == 1;
        switch (type)
        {
            case SceneQuestion.Color:
                foreach (var x in o.Where(x => UniqueShape(x.Shape))) yield return ($"what color is the {x.Shape} ?", x.Color);
                break;
            case SceneQuestion.ShapeAt:
                foreach (var x in o) yield return ($"what shape is at the {Position(grid, x.Row, x.Col)} ?", x.Shape);
                break;
            case SceneQuestion.CountAll:
                yield return ("how many objects are there ?", o.Length.ToString());
                break;
            case SceneQuestion.CountColor:
                foreach (var c in Colors.Where(c => c != s.Background)) yield return ($"how many {c} objects are there ?", o.Count(x => x.Color == c).ToString());
                break;
            case SceneQuestion.CountShape:
                foreach (var sh in Shapes) yield return ($"how many {sh} objects are there ?", o.Count(x => x.Shape == sh).ToString());
                break;
            case SceneQuestion.Exists:
                foreach (var c in Colors.Where(c => c != s.Background))
                    foreach (var sh in Shapes)
                        yield return ($"is there a {c} {sh} ?", o.Any(x => x.Color == c && x.Shape == sh) ? "yes" : "no");
                break;
            case SceneQuestion.BgColor:
                yield return ("what color is the background ?", s.Background);
                break;
            case SceneQuestion.BgPattern:
                yield return ("what pattern is the background ?", s.Pattern);
                break;
            case SceneQuestion.LeftOf:
                foreach (var a in o.Where(x => UniqueShape(x.Shape)))
                    foreach (var b in o.Where(x => UniqueShape(x.Shape) && x.Shape != a.Shape && x.Col != a.Col))
                        yield return ($"is the {a.Shape} left of the {b.Shape} ?", a.Col < b.Col ? "yes" : "no");
                break;
            case SceneQuestion.EmptyCell:
                for (int r = 0; r < grid; r++)
                    for (int c = 0; c < grid; c++)
                        yield return ($"is the {Position(grid, r, c)} cell empty ?", o.Any(x => x.Row == r && x.Col == c) ? "no" : "yes");
                break;
        }
    }

    /// <summary>The answers a question type can have (what rejection sampling balances over).</summary>
    public static string[] AnswerSet(SceneQuestion type, SceneVqaConfig cfg) => type switch
    {
        SceneQuestion.Color => Colors,
        SceneQuestion.ShapeAt => Shapes,
        SceneQuestion.CountAll => Enumerable.Range(1, cfg.MaxObjects).Select(i => i.ToString()).ToArray(),
        SceneQuestion.CountColor or SceneQuestion.CountShape => Enumerable.Range(0, Math.Min(cfg.MaxObjects, 2) + 1).Select(i => i.ToString()).ToArray(),
        SceneQuestion.BgColor => Backgrounds,
        SceneQuestion.BgPattern => Patterns,
        _ => ["yes", "no"],
    };

    /// <summary>
    /// n samples, seeded by (seed, purpose). A fraction <paramref name="captionFraction"/> are caption requests; the rest are
    /// VQA: the type is drawn uniformly, then the answer uniformly from <see cref="AnswerSet"/>, then scenes are drawn until
    /// one has a question with that answer (up to 500 tries; counts of one colour above 2 are not balanced, they are rare).
    /// </summary>
    public static SceneSample[] Generate(SceneVqaConfig cfg, long seed, string purpose, int n, double captionFraction = 0)
    {
        cfg.Validate();
        var rng = Seeding.Rng(seed, "scenevqa-" + purpose);
        var types = cfg.TypeList;
        var list = new SceneSample[n];
        for (int i = 0; i < n; i++)
        {
            if (rng.NextDouble() < captionFraction)
            {
                var s = RandomScene(cfg, rng);
                list[i] = new SceneSample(s, null, CaptionQuestion, Caption(s, cfg.Grid));
                continue;
            }
            var type = types[rng.Next(types.Length)];
            var answers = AnswerSet(type, cfg);
            var want = answers[rng.Next(answers.Length)];
            SceneSample? pick = null;
            for (int tries = 0; tries < 500 && pick is null; tries++)
            {
                var s = RandomScene(cfg, rng);
                var qs = Questions(s, type, cfg.Grid).ToList();
                var ok = qs.Where(q => q.Answer == want).ToList();
                if (ok.Count > 0) { var q = ok[rng.Next(ok.Count)]; pick = new SceneSample(s, type, q.Question, q.Answer); }
                else if (tries == 499 && qs.Count > 0) { var q = qs[rng.Next(qs.Count)]; pick = new SceneSample(s, type, q.Question, q.Answer); }
            }
            list[i] = pick ?? throw new InvalidOperationException($"SceneVQA: no scene had a {type} question in 500 tries.");
        }
        return list;
    }

    /// <summary>Renders a scene as float RGB [3, H, W] in [0, 1] (2× supersampled shapes, pattern, noise σ from the config).</summary>
    public static float[] Render(Scene s, SceneVqaConfig cfg)
    {
        int h = cfg.Image, ss = 2;
        double cell = h / (double)cfg.Grid;
        var img = new float[3 * h * h];
        var bg = BgRgb[s.Background];
        var noise = new Random(s.NoiseSeed);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < h; x++)
            {
                double acc0 = 0, acc1 = 0, acc2 = 0;
                for (int sy = 0; sy < ss; sy++)
                    for (int sx = 0; sx < ss; sx++)
                    {
                        double px = x + (sx + 0.5) / ss, py = y + (sy + 0.5) / ss;
                        double p = s.Pattern switch
                        {
                            "stripes" => Math.Sin(2 * Math.PI * py / 4) >= 0 ? cfg.PatternAmplitude : -cfg.PatternAmplitude,
                            "dots" => ((px % 6) - 3) * ((px % 6) - 3) + ((py % 6) - 3) * ((py % 6) - 3) <= 2.25 ? cfg.PatternAmplitude : 0,
                            _ => 0,
                        };
                        var col = (bg.R + p, bg.G + p, bg.B + p);
                        foreach (var o in s.Objects)
                            if (Inside(o.Shape, px - o.Cx, py - o.Cy, (o.Large ? 0.42 : 0.25) * cell)) col = Rgb[o.Color];
                        acc0 += col.Item1; acc1 += col.Item2; acc2 += col.Item3;
                    }
                double n = ss * ss;
                img[0 * h * h + y * h + x] = (float)Math.Clamp(acc0 / n + cfg.Noise * Gauss(noise), 0, 1);
                img[1 * h * h + y * h + x] = (float)Math.Clamp(acc1 / n + cfg.Noise * Gauss(noise), 0, 1);
                img[2 * h * h + y * h + x] = (float)Math.Clamp(acc2 / n + cfg.Noise * Gauss(noise), 0, 1);
            }
        return img;
    }

    /// <summary>Rendered scenes as a float32 tensor [B, 3, H, W] on the CPU.</summary>
    public static Tensor Images(IEnumerable<Scene> scenes, SceneVqaConfig cfg)
    {
        var list = scenes.ToList();
        int h = cfg.Image;
        int size = 3 * h * h;
        var data = new float[(long)list.Count * size];
        // Render is pure (a per-scene noise seed, read-only tables), so rendering in parallel gives the same bytes; evaluations
        // re-render their sets for every batch, which single-threaded dominated VTW's GPU-preset time.
        Parallel.For(0, list.Count, i => Array.Copy(Render(list[i], cfg), 0, data, (long)i * size, size));
        return torch.tensor(data, [list.Count, 3, h, h]);
    }

    /// <summary>Renders the longest prefix of <paramref name="scenes"/> that fits in <paramref name="seconds"/> (chunk by chunk,
    /// at least <paramref name="minimum"/> scenes; all of them when <paramref name="seconds"/> is null): images [n, 3, H, W] on
    /// the CPU and n. The bytes equal <see cref="Images"/> of the same prefix.</summary>
    public static (Tensor Images, int Count) ImagesWithin(IReadOnlyList<Scene> scenes, SceneVqaConfig cfg, double? seconds, int minimum = 1)
    {
        if (seconds is not double budget) return (Images(scenes, cfg), scenes.Count);
        int h = cfg.Image, size = 3 * h * h, n = scenes.Count;
        var data = new float[(long)n * size];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int done = 0, chunk = Math.Max(1, Math.Min(n, Math.Max(minimum, 1024)));
        while (done < n)
        {
            int take = Math.Min(chunk, n - done), from = done;
            Parallel.For(0, take, i => Array.Copy(Render(scenes[from + i], cfg), 0, data, (long)(from + i) * size, size));
            done += take;
            double perScene = sw.Elapsed.TotalSeconds / done;
            if (done >= minimum && sw.Elapsed.TotalSeconds + Math.Min(chunk, n - done) * perScene > budget) break;
        }
        if (done < n) Array.Resize(ref data, done * size);
        return (torch.tensor(data, [done, 3, h, h]), done);
    }

    /// <summary>A held-out evaluation set: <paramref name="perType"/> VQA samples of each question type, grouped by type. Each
    /// type has its own seeded stream, so a smaller set is the per-type prefix of a larger one.</summary>
    public static SceneSample[] EvalSet(SceneVqaConfig cfg, int perType, long seed) =>
        cfg.TypeList.SelectMany(t => Generate(cfg with { Types = [t] }, seed, "eval-" + t, perType)).ToArray();

    /// <summary><paramref name="n"/> samples spread evenly over <paramref name="set"/> (an eval set is grouped by question type,
    /// so its first n would all be of one type).</summary>
    public static List<SceneSample> Spread(IReadOnlyList<SceneSample> set, int n)
    {
        int k = Math.Min(n, set.Count);
        return Enumerable.Range(0, k).Select(i => set[(int)((long)i * set.Count / k)]).ToList();
    }

    /// <summary>Patches of the grid that an object's bounding square touches (for the subject/non-subject analysis).</summary>
    public static bool[] CoveredPatches(Scene s, SceneVqaConfig cfg)
    {
        int p = cfg.PatchesPerSide;
        double cell = cfg.Image / (double)cfg.Grid;
        var m = new bool[p * p];
        foreach (var o in s.Objects)
        {
            double r = (o.Large ? 0.42 : 0.25) * cell;
            for (int i = 0; i < p; i++)
                for (int j = 0; j < p; j++)
                {
                    double x0 = j * cfg.Patch, y0 = i * cfg.Patch, x1 = x0 + cfg.Patch, y1 = y0 + cfg.Patch;
                    if (x1 > o.Cx - r && x0 < o.Cx + r && y1 > o.Cy - r && y0 < o.Cy + r) m[i * p + j] = true;
                }
        }
        return m;
    }

    static bool Inside(string shape, double dx, double dy, double r)
    {
        double ax = Math.Abs(dx), ay = Math.Abs(dy), d = Math.Sqrt(dx * dx + dy * dy);
        return shape switch
        {
            "circle" => d <= r,
            "square" => ax <= 0.85 * r && ay <= 0.85 * r,
            "triangle" => dy <= 0.8 * r && dy >= -r && ax <= (dy + r) / 1.8,
            "cross" => (ax <= 0.3 * r && ay <= r) || (ay <= 0.3 * r && ax <= r),
            "ring" => d <= r && d >= 0.55 * r,
            "diamond" => ax + ay <= r,
            _ => throw new ArgumentException($"SceneVQA: unknown shape '{shape}'."),
        };
    }

    static double Gauss(Random r)
    {
        double u1 = 1 - r.NextDouble(), u2 = r.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
