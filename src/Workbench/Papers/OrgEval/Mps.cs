using System.Globalization;
using System.Text;

namespace Workbench.Papers.OrgEval;

/// <summary>A malformed model file: the message names the file and the line.</summary>
public sealed class ModelFormatException(string file, int line, string problem)
    : FormatException($"{file}:{line}: {problem}")
{
    public string File { get; } = file;
    public int Line { get; } = line;
}

/// <summary>
/// Free MPS. The writer always writes the minimisation form (a maximisation's costs negated: OBJSENSE support differs
/// between solvers), explicit bounds for every variable (HiGHS 1.10, CBC 2.10 and glpsol 5.0 read an integer column without
/// bounds as binary), integers between MARKER INTORG/INTEND, and <c>FREE</c> on the NAME line (CBC reads the file as fixed
/// MPS without it). The reader takes free MPS with ROWS, COLUMNS, RHS, BOUNDS (LO UP FX FR MI PL BV LI UI), OBJSENSE and
/// markers; RANGES and objective constants are rejected with the line named.
/// </summary>
public static class Mps
{
    static string N(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    static string Name(string n) => n.Length > 0 && !n.Any(char.IsWhiteSpace) ? n
        : throw new ArgumentException($"name '{n}' cannot be written to free MPS (empty or contains whitespace)");

    public static string Write(LpModel model)
    {
        var m = model.ToMinimization();
        var sb = new StringBuilder();
        sb.Append("NAME ").Append(Name(m.Name)).Append(" FREE\n");
        if (model.Sense == ObjSense.Maximize) sb.Append("* written as a minimisation: the original maximised the negated objective\n");
        sb.Append("ROWS\n N obj\n");
        foreach (var c in m.Constraints) sb.Append(' ').Append(c.Sense switch { RowSense.Le => 'L', RowSense.Ge => 'G', _ => 'E' }).Append(' ').Append(Name(c.Name)).Append('\n');
        var cols = new List<(int Row, double Coef)>[m.NumVars];
        for (int j = 0; j < m.NumVars; j++) cols[j] = [];
        for (int i = 0; i < m.NumRows; i++) foreach (var t in m.Constraints[i].Terms) cols[t.Var].Add((i, t.Coef));
        sb.Append("COLUMNS\n");
        bool inInt = false; int marker = 0;
        for (int j = 0; j < m.NumVars; j++)
        {
            var v = m.Variables[j];
            bool isInt = v.Type != VarType.Continuous;
            if (isInt != inInt) { sb.Append($" M{marker++} 'MARKER' '{(isInt ? "INTORG" : "INTEND")}'\n"); inInt = isInt; }
            var name = Name(v.Name);
            if (v.Cost != 0 || cols[j].Count == 0) sb.Append(' ').Append(name).Append(" obj ").Append(N(v.Cost)).Append('\n');
            foreach (var (r, c) in cols[j]) sb.Append(' ').Append(name).Append(' ').Append(m.Constraints[r].Name).Append(' ').Append(N(c)).Append('\n');
        }
        if (inInt) sb.Append($" M{marker} 'MARKER' 'INTEND'\n");
        sb.Append("RHS\n");
        foreach (var c in m.Constraints) if (c.Rhs != 0) sb.Append(" rhs ").Append(c.Name).Append(' ').Append(N(c.Rhs)).Append('\n');
        sb.Append("BOUNDS\n");
        foreach (var v in m.Variables)
        {
            string n = v.Name;
            if (double.IsNegativeInfinity(v.Lower) && double.IsPositiveInfinity(v.Upper)) { sb.Append(" FR bnd ").Append(n).Append('\n'); continue; }
            if (v.Lower == v.Upper) { sb.Append(" FX bnd ").Append(n).Append(' ').Append(N(v.Lower)).Append('\n'); continue; }
            sb.Append(double.IsNegativeInfinity(v.Lower) ? $" MI bnd {n}\n" : $" LO bnd {n} {N(v.Lower)}\n");
            sb.Append(double.IsPositiveInfinity(v.Upper) ? $" PL bnd {n}\n" : $" UP bnd {n} {N(v.Upper)}\n");
        }
        sb.Append("ENDATA\n");
        return sb.ToString();
    }

    public static LpModel Read(string path) => Parse(File.ReadAllText(path), Path.GetFileName(path));

    public static LpModel Parse(string text, string file = "<mps>")
    {
        string name = "model", section = "";
        var sense = ObjSense.Minimize;
        string? objRow = null;
        var rowIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var rowSense = new List<RowSense>(); var rowNames = new List<string>(); var rhs = new List<double>();
        var colIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var colNames = new List<string>(); var costs = new List<double>(); var isInt = new List<bool>();
        var lo = new List<double>(); var up = new List<double>(); var boundSet = new List<bool>();
        var terms = new List<Dictionary<int, double>>();
        bool intMode = false, ended = false;
        var lines = text.Split('\n');
        for (int ln = 1; ln <= lines.Length; ln++)
        {
            var raw = lines[ln - 1].TrimEnd('\r');
            if (raw.Length == 0 || raw[0] == '*' || string.IsNullOrWhiteSpace(raw)) continue;
            var f = raw.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            ModelFormatException Err(string p) => new(file, ln, p + $" (line: '{raw.Trim()}')");
            double Num(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : s.Equals("inf", StringComparison.OrdinalIgnoreCase) || s.Equals("+inf", StringComparison.OrdinalIgnoreCase) || s == "1e+30" ? double.PositiveInfinity
                : s.Equals("-inf", StringComparison.OrdinalIgnoreCase) ? double.NegativeInfinity
                : throw Err($"'{s}' is not a number");
            if (!char.IsWhiteSpace(raw[0]))
            {
                section = f[0].ToUpperInvariant();
                switch (section)
                {
                    case "NAME": if (f.Length > 1) name = f[1]; break;
                    case "OBJSENSE":
                        if (f.Length > 1) sense = ParseSense(f[1], Err);
                        break;
                    case "ROWS": case "COLUMNS": case "RHS": case "BOUNDS": break;
                    case "RANGES": throw Err("RANGES is not supported (write ranged rows as two rows)");
                    case "ENDATA": ended = true; break;
                    default: throw Err($"unknown section '{f[0]}'");
                }
                if (ended) break;
                continue;
            }
            int Col(string c) => colIndex.TryGetValue(c, out var j) ? j : throw Err($"unknown column '{c}'");
            switch (section)
            {
                case "OBJSENSE": sense = ParseSense(f[0], Err); break;
                case "ROWS":
                    if (f.Length != 2) throw Err("a ROWS line needs a type (N, L, G, E) and a name");
                    var t = f[0].ToUpperInvariant();
                    if (t == "N") { if (objRow is null) objRow = f[1]; break; }
                    if (rowIndex.ContainsKey(f[1])) throw Err($"row '{f[1]}' defined twice");
                    rowIndex[f[1]] = rowNames.Count; rowNames.Add(f[1]); rhs.Add(0); terms.Add([]);
                    rowSense.Add(t switch { "L" => RowSense.Le, "G" => RowSense.Ge, "E" => RowSense.Eq, _ => throw Err($"row type '{f[0]}' (use N, L, G or E)") });
                    break;
                case "COLUMNS":
                    if (f.Length >= 3 && f[1].Trim('\'').Equals("MARKER", StringComparison.OrdinalIgnoreCase))
                    {
                        var kind = f[2].Trim('\'').ToUpperInvariant();
                        intMode = kind switch { "INTORG" => true, "INTEND" => false, _ => throw Err($"marker '{f[2]}' (use 'INTORG' or 'INTEND')") };
                        break;
                    }
                    if (f.Length != 3 && f.Length != 5) throw Err("a COLUMNS line needs: column row value [row value]");
                    if (!colIndex.TryGetValue(f[0], out var col))
                    {
                        col = colNames.Count; colIndex[f[0]] = col; colNames.Add(f[0]); costs.Add(0); isInt.Add(intMode);
                        lo.Add(0); up.Add(double.PositiveInfinity); boundSet.Add(false);
                    }
                    for (int k = 1; k + 1 < f.Length; k += 2)
                    {
                        double v = Num(f[k + 1]);
                        if (f[k] == objRow) costs[col] += v;
                        else if (rowIndex.TryGetValue(f[k], out var r)) { if (v != 0) terms[r][col] = terms[r].GetValueOrDefault(col) + v; }
                        else throw Err($"unknown row '{f[k]}'");
                    }
                    break;
                case "RHS":
                    if (f.Length != 3 && f.Length != 5 && f.Length != 2 && f.Length != 4) throw Err("an RHS line needs: [set] row value [row value]");
                    for (int k = f.Length % 2 == 1 ? 1 : 0; k + 1 < f.Length; k += 2)
                    {
                        if (f[k] == objRow) throw Err("an objective constant is not supported");
                        rhs[rowIndex.TryGetValue(f[k], out var r) ? r : throw Err($"unknown row '{f[k]}'")] = Num(f[k + 1]);
                    }
                    break;
                case "BOUNDS":
                {
                    if (f.Length < 3) throw Err("a BOUNDS line needs: type set column [value]");
                    var bt = f[0].ToUpperInvariant();
                    bool needsValue = bt is "LO" or "UP" or "FX" or "LI" or "UI";
                    // Free MPS allows the bound-set name to be left out: "UP x 4".
                    string colName; string? val;
                    if (needsValue) { if (f.Length == 4) { colName = f[2]; val = f[3]; } else if (f.Length == 3) { colName = f[1]; val = f[2]; } else throw Err($"{bt} needs: set column value"); }
                    else { colName = f.Length >= 3 ? f[2] : f[1]; val = null; }
                    int j = Col(colName);
                    double x = val is null ? 0 : Num(val);
                    boundSet[j] = true;
                    switch (bt)
                    {
                        case "LO": lo[j] = x; break;
                        case "UP": up[j] = x; break;
                        case "FX": lo[j] = x; up[j] = x; break;
                        case "FR": lo[j] = double.NegativeInfinity; up[j] = double.PositiveInfinity; break;
                        case "MI": lo[j] = double.NegativeInfinity; break;
                        case "PL": up[j] = double.PositiveInfinity; break;
                        case "BV": lo[j] = 0; up[j] = 1; isInt[j] = true; break;
                        case "LI": lo[j] = x; isInt[j] = true; break;
                        case "UI": up[j] = x; isInt[j] = true; break;
                        default: throw Err($"bound type '{f[0]}' (use LO, UP, FX, FR, MI, PL, BV, LI or UI)");
                    }
                    break;
                }
                default: throw Err("data line outside a section");
            }
        }
        if (!ended) throw new ModelFormatException(file, LpFormat.LastLine(lines), "missing ENDATA");
        if (objRow is null) throw new ModelFormatException(file, 1, "no objective (N) row in ROWS");
        var vars = new Variable[colNames.Count];
        for (int j = 0; j < vars.Length; j++)
        {
            var type = !isInt[j] ? VarType.Continuous : lo[j] == 0 && up[j] == 1 ? VarType.Binary : VarType.Integer;
            vars[j] = new Variable(colNames[j], type, lo[j], up[j], costs[j]);
        }
        var rows = rowNames.Select((n, i) => new Constraint(n, rowSense[i], rhs[i], terms[i].OrderBy(kv => kv.Key).Select(kv => new Term(kv.Key, kv.Value)).ToArray())).ToArray();
        return new LpModel(name, sense, vars, rows).Validate();
    }

    static ObjSense ParseSense(string s, Func<string, ModelFormatException> err) => s.ToUpperInvariant() switch
    {
        "MIN" or "MINIMIZE" or "MINIMISE" => ObjSense.Minimize,
        "MAX" or "MAXIMIZE" or "MAXIMISE" => ObjSense.Maximize,
        _ => throw err($"objective sense '{s}' (use MIN or MAX)"),
    };
}
