using System.Globalization;
using System.Text;

namespace Workbench.Papers.OrgEval;

/// <summary>
/// The CPLEX LP subset ORGEval's instances use (what gurobipy writes): Minimize/Maximize, Subject To, Bounds, Generals,
/// Binaries, End; names with ':'; expressions over several lines; '\' comments. The writer writes the minimisation form
/// with every bound explicit and integers under Generals. Not supported (an error naming the line): constants on the left,
/// ranged rows, quadratic terms, SOS, semi-continuous, indicator constraints.
/// </summary>
public static class LpFormat
{
    static string N(double v) => double.IsPositiveInfinity(v) ? "+inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("R", CultureInfo.InvariantCulture);

    static void Expr(StringBuilder sb, IEnumerable<(double Coef, string Name)> terms, string fallbackVar)
    {
        int k = 0;
        foreach (var (c, n) in terms)
        {
            if (k > 0 && k % 8 == 0) sb.Append("\n  ");
            sb.Append(k == 0 ? (c < 0 ? "- " : "") : (c < 0 ? " - " : " + ")).Append(N(Math.Abs(c))).Append(' ').Append(n);
            k++;
        }
        if (k == 0) sb.Append("0 ").Append(fallbackVar);
    }

    public static string Write(LpModel model)
    {
        var m = model.ToMinimization();
        if (m.NumVars == 0) throw new ArgumentException("an LP file needs at least one variable");
        foreach (var v in m.Variables) if (v.Name.Length == 0 || v.Name.Any(ch => char.IsWhiteSpace(ch) || ch is ':' or '+' or '-' or '<' or '>' or '=' or '\\') || char.IsDigit(v.Name[0]) || v.Name[0] == '.')
            throw new ArgumentException($"variable name '{v.Name}' cannot be written to an LP file");
        var sb = new StringBuilder();
        sb.Append("\\ ").Append(m.Name).Append(model.Sense == ObjSense.Maximize ? " (written as a minimisation of the negated objective)" : "").Append('\n');
        sb.Append("Minimize\n obj: ");
        Expr(sb, m.Variables.Where(v => v.Cost != 0).Select(v => (v.Cost, v.Name)), m.Variables[0].Name);
        sb.Append("\nSubject To\n");
        foreach (var c in m.Constraints)
        {
            sb.Append(' ').Append(c.Name).Append(": ");
            Expr(sb, c.Terms.Select(t => (t.Coef, m.Variables[t.Var].Name)), m.Variables[0].Name);
            sb.Append(c.Sense switch { RowSense.Le => " <= ", RowSense.Ge => " >= ", _ => " = " }).Append(N(c.Rhs)).Append('\n');
        }
        sb.Append("Bounds\n");
        foreach (var v in m.Variables)
        {
            if (double.IsNegativeInfinity(v.Lower) && double.IsPositiveInfinity(v.Upper)) sb.Append(' ').Append(v.Name).Append(" free\n");
            else if (v.Lower == v.Upper) sb.Append(' ').Append(v.Name).Append(" = ").Append(N(v.Lower)).Append('\n');
            else sb.Append(' ').Append(N(v.Lower)).Append(" <= ").Append(v.Name).Append(" <= ").Append(N(v.Upper)).Append('\n');
        }
        var ints = m.Variables.Where(v => v.Type != VarType.Continuous).Select(v => v.Name).ToList();
        if (ints.Count > 0)
        {
            sb.Append("Generals\n");
            for (int i = 0; i < ints.Count; i += 10) sb.Append(' ').Append(string.Join(' ', ints.Skip(i).Take(10))).Append('\n');
        }
        sb.Append("End\n");
        return sb.ToString();
    }

    enum K { Num, Name, Op, Plus, Minus, Colon }
    readonly record struct Tok(K Kind, string Text, int Line);

    static readonly Dictionary<string, string> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        ["minimize"] = "min", ["minimise"] = "min", ["minimum"] = "min", ["min"] = "min",
        ["maximize"] = "max", ["maximise"] = "max", ["maximum"] = "max", ["max"] = "max",
        ["subject to"] = "st", ["such that"] = "st", ["st"] = "st", ["s.t."] = "st", ["st."] = "st",
        ["bounds"] = "bounds", ["bound"] = "bounds",
        ["general"] = "gen", ["generals"] = "gen", ["gen"] = "gen", ["integer"] = "gen", ["integers"] = "gen",
        ["binary"] = "bin", ["binaries"] = "bin", ["bin"] = "bin", ["end"] = "end",
    };

    public static LpModel Read(string path) => Parse(File.ReadAllText(path), Path.GetFileName(path));

    public static LpModel Parse(string text, string file = "<lp>")
    {
        var lines = text.Split('\n');
        string section = "";
        var sense = ObjSense.Minimize;
        var objToks = new List<Tok>(); var rowStmts = new List<List<Tok>>(); var cur = new List<Tok>();
        var boundLines = new List<List<Tok>>(); var genNames = new List<Tok>(); var binNames = new List<Tok>();
        int objLine = 0; bool ended = false, seenObj = false;
        for (int ln = 1; ln <= lines.Length && !ended; ln++)
        {
            var s = lines[ln - 1].TrimEnd('\r');
            int bs = s.IndexOf('\\'); if (bs >= 0) s = s[..bs];
            var trimmed = s.Trim();
            if (trimmed.Length == 0) continue;
            if (Sections.TryGetValue(System.Text.RegularExpressions.Regex.Replace(trimmed, @"\s+", " "), out var sec))
            {
                if (section == "st" && cur.Count > 0) throw new ModelFormatException(file, cur[0].Line, "constraint has no sense and right-hand side");
                if (sec is "min" or "max") { sense = sec == "min" ? ObjSense.Minimize : ObjSense.Maximize; objLine = ln; seenObj = true; }
                section = sec;
                if (sec == "end") ended = true;
                continue;
            }
            var toks = Scan(trimmed, ln, file);
            switch (section)
            {
                case "min": case "max": objToks.AddRange(toks); break;
                case "st":
                    foreach (var t in toks)
                    {
                        cur.Add(t);
                        // A statement ends with sense then a number (optionally signed).
                        int n = cur.Count;
                        if (t.Kind == K.Num && n >= 2 && (cur[n - 2].Kind == K.Op || (n >= 3 && cur[n - 2].Kind is K.Plus or K.Minus && cur[n - 3].Kind == K.Op)))
                        { rowStmts.Add(cur); cur = []; }
                        else if (t.Kind == K.Name && IsInf(t.Text) && n >= 2 && cur[n - 2].Kind is K.Op or K.Plus or K.Minus)
                            throw new ModelFormatException(file, ln, "infinite right-hand side");
                    }
                    break;
                case "bounds": boundLines.Add(toks); break;
                case "gen": genNames.AddRange(toks); break;
                case "bin": binNames.AddRange(toks); break;
                default: throw new ModelFormatException(file, ln, $"'{trimmed}' outside a section (a file starts with Minimize or Maximize)");
            }
        }
        if (cur.Count > 0) throw new ModelFormatException(file, cur[0].Line, "constraint has no sense and right-hand side");
        if (!seenObj) throw new ModelFormatException(file, 1, "no Minimize or Maximize section");
        if (!ended) throw new ModelFormatException(file, LastLine(lines), "missing End");

        var names = new List<string>(); var index = new Dictionary<string, int>(StringComparer.Ordinal);
        int Var(string n) { if (!index.TryGetValue(n, out var j)) { j = names.Count; index[n] = j; names.Add(n); } return j; }
        // Objective.
        var obj = ParseExpr(StripName(objToks, out _), file, objLine, Var);
        var rows = new List<(string Name, Dictionary<int, double> Terms, RowSense Sense, double Rhs)>();
        foreach (var st in rowStmts)
        {
            var body = StripName(st, out var rn);
            int opAt = body.FindIndex(t => t.Kind == K.Op);
            var lhs = ParseExpr(body.Take(opAt).ToList(), file, st[0].Line, Var);
            var rhsToks = body.Skip(opAt + 1).ToList();
            double rhs = double.Parse(rhsToks[^1].Text, CultureInfo.InvariantCulture) * (rhsToks.Count == 2 && rhsToks[0].Kind == K.Minus ? -1 : 1);
            var op = body[opAt].Text;
            rows.Add((rn ?? $"R{rows.Count + 1}", lhs, op is "<=" or "=<" or "<" ? RowSense.Le : op is ">=" or "=>" or ">" ? RowSense.Ge : RowSense.Eq, rhs));
        }
        var lo = new Dictionary<int, double>(); var up = new Dictionary<int, double>();
        foreach (var b in boundLines) ParseBound(b, file, Var, lo, up);
        var isInt = new HashSet<int>(); var isBin = new HashSet<int>();
        foreach (var t in genNames) isInt.Add(t.Kind == K.Name ? Var(t.Text) : throw new ModelFormatException(file, t.Line, $"'{t.Text}' is not a variable name"));
        foreach (var t in binNames) isBin.Add(t.Kind == K.Name ? Var(t.Text) : throw new ModelFormatException(file, t.Line, $"'{t.Text}' is not a variable name"));
        var vars = names.Select((n, j) =>
        {
            double l = lo.GetValueOrDefault(j, 0), u = up.GetValueOrDefault(j, double.PositiveInfinity);
            if (isBin.Contains(j)) { l = lo.GetValueOrDefault(j, 0); u = up.GetValueOrDefault(j, 1); }
            var type = isBin.Contains(j) || isInt.Contains(j) ? (l == 0 && u == 1 ? VarType.Binary : VarType.Integer) : VarType.Continuous;
            return new Variable(n, type, l, u, obj.GetValueOrDefault(j));
        }).ToArray();
        var cons = rows.Select(r => new Constraint(r.Name, r.Sense, r.Rhs, r.Terms.Where(kv => kv.Value != 0).OrderBy(kv => kv.Key).Select(kv => new Term(kv.Key, kv.Value)).ToArray())).ToArray();
        var name = lines.Length > 0 && lines[0].TrimStart().StartsWith('\\') ? lines[0].Trim().TrimStart('\\').Trim().Split(' ')[0] : Path.GetFileNameWithoutExtension(file);
        return new LpModel(name.Length > 0 ? name : "model", sense, vars, cons).Validate();
    }

    /// <summary>The number of the last non-blank line (where a missing terminator is reported).</summary>
    internal static int LastLine(string[] lines)
    {
        for (int i = lines.Length; i >= 1; i--) if (!string.IsNullOrWhiteSpace(lines[i - 1])) return i;
        return 1;
    }

    static bool IsInf(string s) => s.Equals("inf", StringComparison.OrdinalIgnoreCase) || s.Equals("infinity", StringComparison.OrdinalIgnoreCase);

    static List<Tok> StripName(List<Tok> toks, out string? name)
    {
        name = null;
        if (toks.Count >= 2 && toks[0].Kind == K.Name && toks[1].Kind == K.Colon) { name = toks[0].Text; return toks.Skip(2).ToList(); }
        return toks;
    }

    static Dictionary<int, double> ParseExpr(List<Tok> toks, string file, int line, Func<string, int> var)
    {
        var terms = new Dictionary<int, double>();
        int i = 0;
        while (i < toks.Count)
        {
            double sign = 1; int start = i;
            while (i < toks.Count && toks[i].Kind is K.Plus or K.Minus) { if (toks[i].Kind == K.Minus) sign = -sign; i++; }
            double coef = 1;
            if (i < toks.Count && toks[i].Kind == K.Num) { coef = double.Parse(toks[i].Text, CultureInfo.InvariantCulture); i++; }
            if (i >= toks.Count || toks[i].Kind != K.Name)
            {
                int l = i < toks.Count ? toks[i].Line : start < toks.Count ? toks[start].Line : line;
                throw new ModelFormatException(file, l, i < toks.Count ? $"expected a variable name, found '{toks[i].Text}'" : "a constant term is not supported (move it to the right-hand side)");
            }
            if (i > start && start > 0 && toks[start].Kind is not (K.Plus or K.Minus)) throw new ModelFormatException(file, toks[start].Line, $"missing + or - before '{toks[start].Text}'");
            if (i == start && start > 0) throw new ModelFormatException(file, toks[i].Line, $"missing + or - before '{toks[i].Text}'");
            int j = var(toks[i].Text); i++;
            terms[j] = terms.GetValueOrDefault(j) + sign * coef;
        }
        return terms;
    }

    static double Value(List<Tok> t, ref int i, string file)
    {
        double sign = 1;
        while (i < t.Count && t[i].Kind is K.Plus or K.Minus) { if (t[i].Kind == K.Minus) sign = -sign; i++; }
        if (i >= t.Count) throw new ModelFormatException(file, t[^1].Line, "bound value missing");
        var tok = t[i++];
        if (tok.Kind == K.Num) return sign * double.Parse(tok.Text, CultureInfo.InvariantCulture);
        if (tok.Kind == K.Name && IsInf(tok.Text)) return sign * double.PositiveInfinity;
        throw new ModelFormatException(file, tok.Line, $"'{tok.Text}' is not a bound value");
    }

    static void ParseBound(List<Tok> t, string file, Func<string, int> var, Dictionary<int, double> lo, Dictionary<int, double> up)
    {
        int line = t[0].Line;
        ModelFormatException Bad() => new(file, line, "bound not understood (use 'l <= x <= u', 'x <= u', 'x >= l', 'x = v' or 'x free')");
        if (t.Count == 2 && t[0].Kind == K.Name && t[1].Kind == K.Name && t[1].Text.Equals("free", StringComparison.OrdinalIgnoreCase))
        { int j = var(t[0].Text); lo[j] = double.NegativeInfinity; up[j] = double.PositiveInfinity; return; }
        void Set(int j, string op, double v, bool varOnLeft)
        {
            bool le = op is "<=" or "=<" or "<";
            if (op == "=") { lo[j] = v; up[j] = v; }
            else if (le == varOnLeft) up[j] = v; else lo[j] = v;
        }
        int i = 0;
        if (t[0].Kind == K.Name && !IsInf(t[0].Text))
        {
            int j = var(t[0].Text); i = 1;
            if (i >= t.Count || t[i].Kind != K.Op) throw Bad();
            var op = t[i++].Text; double v = Value(t, ref i, file);
            if (i != t.Count) throw Bad();
            Set(j, op, v, true); return;
        }
        double a = Value(t, ref i, file);
        if (i >= t.Count || t[i].Kind != K.Op) throw Bad();
        var op1 = t[i++].Text;
        if (i >= t.Count || t[i].Kind != K.Name) throw Bad();
        int jj = var(t[i++].Text);
        Set(jj, op1, a, false);
        if (i == t.Count) return;
        if (t[i].Kind != K.Op) throw Bad();
        var op2 = t[i++].Text; double b = Value(t, ref i, file);
        if (i != t.Count) throw Bad();
        Set(jj, op2, b, true);
    }

    static List<Tok> Scan(string s, int line, string file)
    {
        var toks = new List<Tok>();
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c == '+') { toks.Add(new(K.Plus, "+", line)); i++; continue; }
            if (c == '-') { toks.Add(new(K.Minus, "-", line)); i++; continue; }
            if (c == ':') { toks.Add(new(K.Colon, ":", line)); i++; continue; }
            if (c is '<' or '>' or '=')
            {
                int st = i++;
                if (i < s.Length && s[i] is '=' or '<' or '>') i++;
                toks.Add(new(K.Op, s[st..i], line)); continue;
            }
            if (char.IsDigit(c) || c == '.')
            {
                int st = i;
                while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
                if (i < s.Length && s[i] is 'e' or 'E' && i + 1 < s.Length && (char.IsDigit(s[i + 1]) || (s[i + 1] is '+' or '-' && i + 2 < s.Length && char.IsDigit(s[i + 2]))))
                { i += 2; while (i < s.Length && char.IsDigit(s[i])) i++; }
                var text = s[st..i];
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) throw new ModelFormatException(file, line, $"'{text}' is not a number");
                toks.Add(new(K.Num, text, line)); continue;
            }
            if (char.IsLetter(c) || "_!\"#$%&()/,;?@'`{}|~[]".Contains(c))
            {
                int st = i;
                while (i < s.Length && !char.IsWhiteSpace(s[i]) && s[i] is not (':' or '+' or '-' or '<' or '>' or '=')) i++;
                toks.Add(new(K.Name, s[st..i], line)); continue;
            }
            throw new ModelFormatException(file, line, $"unexpected character '{c}'");
        }
        return toks;
    }
}
