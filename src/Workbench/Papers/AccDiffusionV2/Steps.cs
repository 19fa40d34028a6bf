using TorchSharp;
using Workbench.Blocks.Diffusion;
using Workbench.Blocks.Diffusion.HighRes;
using Workbench.Papers.AccDiffusion;
using static TorchSharp.torch;

namespace Workbench.Papers.AccDiffusionV2;

/// <summary>Distortion of one output against its own phase-1 structure (accdiffusion-v2.md §5): mean per-object IoU between
/// the detector's class map of the output and the nearest-upsampled phase-1 class map; boundary F1 between the output's
/// Canny edges and the bicubic-upsampled phase-1 edges (&gt; 0.5), with a tolerance of s pixels.</summary>
public sealed record Distortion(double ObjectIoU, double BoundaryF1, int Objects);

public static class V2Steps
{
    /// <summary>AccDiffusion v2 = v1 + the edge ControlNet in the local branch (scale λ, auto-Canny σ_c).</summary>
    public static AccOutput Run(Denoiser den, long[] prompt, int s, SamplerSettings st, long seed, AccSettings acc, EdgeControlNet? control,
        double lambda, double cannySigma, string method = "AccDiffusion v2") =>
        AccSteps.Run(den, prompt, s, st, seed, acc, new DemoSettings { Control = control, ControlScale = lambda, CannySigma = cannySigma }, method);

    public static Distortion Measure(Evaluators ev, HighResOutput o, Img phase1, double cannySigma)
    {
        using var scope = torch.NewDisposeScope();
        int S = o.Image.H, r = phase1.H, s = S / r;
        var outT = o.Image.ToTensor();
        var p1 = phase1.ToTensor();
        var mapOut = ev.ClassMap(outT);
        var mapRef = ev.ClassMap(p1);
        // nearest upsample of the phase-1 class map
        var up = new int[S * S];
        for (int y = 0; y < S; y++) for (int x = 0; x < S; x++) up[y * S + x] = mapRef[(y / s) * r + x / s];
        var classes = up.Where(c => c > 0).Distinct().ToArray();
        double iou = classes.Length == 0 ? double.NaN : classes.Average(c =>
        {
            int i = 0, u = 0;
            for (int k = 0; k < up.Length; k++) { bool a = up[k] == c, b = mapOut[k] == c; if (a && b) i++; if (a || b) u++; }
            return u == 0 ? 0 : i / (double)u;
        });
        var (eOut, _, _, _) = Canny.Auto(outT, cannySigma);
        var (eRef, _, _, _) = Canny.Auto(p1, cannySigma);
        var refUp = nn.functional.interpolate(eRef.view(1, 1, r, r), [S, S], mode: InterpolationMode.Bicubic, align_corners: false)[0, 0] > 0.5;
        var a = eOut.to(ScalarType.Bool).data<bool>().ToArray(); var b = refUp.data<bool>().ToArray();
        double Near(bool[] from, bool[] to)
        {
            int n = 0, hit = 0;
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                {
                    if (!from[y * S + x]) continue;
                    n++;
                    bool found = false;
                    for (int dy = -s; dy <= s && !found; dy++)
                        for (int dx = -s; dx <= s && !found; dx++)
                        {
                            int yy = y + dy, xx = x + dx;
                            if (yy >= 0 && yy < S && xx >= 0 && xx < S && to[yy * S + xx]) found = true;
                        }
                    if (found) hit++;
                }
            return n == 0 ? double.NaN : hit / (double)n;
        }
        double prec = Near(a, b), rec = Near(b, a);
        double f1 = double.IsNaN(prec) || double.IsNaN(rec) || prec + rec == 0 ? 0 : 2 * prec * rec / (prec + rec);
        return new Distortion(iou, f1, classes.Length);
    }
}
