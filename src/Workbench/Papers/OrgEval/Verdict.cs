using System.Diagnostics;

namespace Workbench.Papers.OrgEval;

public enum OrgVerdict { Equivalent, NotEquivalent, Uncertified }

/// <summary>Everything ORGEval computed for one (reference, candidate) pair; the graphs and colourings are kept for the views.</summary>
public sealed record Evaluation(OrgVerdict Verdict, string Reason, NormalizeRecord Reference, NormalizeRecord Candidate,
    ModelGraph? ReferenceGraph, ModelGraph? CandidateGraph, WlRecord? ReferenceWl, WlRecord? CandidateWl,
    SdRecord? ReferenceSd, SdRecord? CandidateSd, int? FirstDivergentRound, double Seconds);

/// <summary>
/// The verdict (spec §2 step 6): normalise; different numbers of variables or rows ⇒ not equivalent; different colour multisets ⇒
/// not equivalent (always sound); equal colours and both graphs WL-determinable or SD ⇒ equivalent (guaranteed); equal colours
/// otherwise ⇒ uncertified (the shipped default reports that as not equivalent; we keep it apart).
/// </summary>
public static class OrgEvaluator
{
    public static Evaluation Evaluate(LpModel reference, LpModel candidate, bool codeCompatible = false)
    {
        var sw = Stopwatch.StartNew();
        var nr = Normalizer.Run(reference, codeCompatible);
        var nc = Normalizer.Run(candidate, codeCompatible);
        if (nr.Model.NumVars != nc.Model.NumVars || nr.Model.NumRows != nc.Model.NumRows)
            return new Evaluation(OrgVerdict.NotEquivalent,
                $"size mismatch after normalisation: {nr.Model.NumVars}×{nr.Model.NumRows} vs {nc.Model.NumVars}×{nc.Model.NumRows} (variables × rows)",
                nr, nc, null, null, null, null, null, null, 0, sw.Elapsed.TotalSeconds);
        var gr = ModelGraph.Build(nr.Model); var gc = ModelGraph.Build(nc.Model);
        var wr = Wl.Refine(gr); var wc = Wl.Refine(gc);
        var (equal, first) = Wl.Compare(wr, wc);
        if (!equal)
            return new Evaluation(OrgVerdict.NotEquivalent, $"colour histograms differ from round {first}", nr, nc, gr, gc, wr, wc, null, null, first, sw.Elapsed.TotalSeconds);
        var sr = Certify.Check(gr, wr.Stable); var sc = Certify.Check(gc, wc.Stable);
        var verdict = sr.Certified && sc.Certified ? OrgVerdict.Equivalent : OrgVerdict.Uncertified;
        var reason = verdict == OrgVerdict.Equivalent ? $"equal colours; reference {sr.Kind}, candidate {sc.Kind}"
            : $"equal colours but not certified: reference {sr.Reason}; candidate {sc.Reason}";
        return new Evaluation(verdict, reason, nr, nc, gr, gc, wr, wc, sr, sc, null, sw.Elapsed.TotalSeconds);
    }
}
