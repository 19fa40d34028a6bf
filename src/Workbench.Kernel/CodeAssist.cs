using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Workbench.Kernel;

/// <summary>
/// is_complete and completion for the kernel. Completion compiles the cells executed so far plus the current code as one
/// script (so earlier variables, functions and usings are in scope) and asks the semantic model: after a '.', the members
/// of the expression's type; otherwise the locals, globals, types and namespaces in scope.
/// </summary>
public sealed class CodeAssist
{
    readonly List<string> history = [];
    readonly MetadataReference[] references;
    readonly string imports = "using System; using System.IO; using System.Linq; using System.Collections.Generic; using System.Threading.Tasks;\n";

    public CodeAssist()
    {
        references = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => !a.IsDynamic && !string.IsNullOrEmpty(a.Location))
            .Concat([typeof(Workbench.Runtime.TorchRuntime).Assembly, typeof(TorchSharp.torch).Assembly, typeof(Workbench.Notebooks.NotebookEngine).Assembly])
            .Distinct().Select(a =>
            {
                var xml = Path.ChangeExtension(a.Location, ".xml");          // XML docs beside the assembly feed inspect's summaries
                return (MetadataReference)MetadataReference.CreateFromFile(a.Location,
                    documentation: File.Exists(xml) ? new XmlDocs(xml) : null);
            }).ToArray();
    }

    readonly List<string> usings = [];

    /// <summary>Remembers a cell that ran without error (its declarations are in scope for later completions): its using
    /// directives go to the top, its statements below the earlier cells' (a trailing expression gets its semicolon).</summary>
    public void Executed(string code)
    {
        var tree = CSharpSyntaxTree.ParseText(Workbench.Notebooks.Directives.Process(code).Code, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script));
        var root = (CompilationUnitSyntax)tree.GetRoot();
        usings.AddRange(root.Usings.Select(u => u.ToString()));
        var body = root.RemoveNodes(root.Usings, SyntaxRemoveOptions.KeepNoTrivia)!.ToFullString().TrimEnd();
        if (Workbench.Notebooks.NotebookEngine.EndsInExpression(root)) body += ";";
        history.Add(body);
    }

    /// <summary>"complete", "incomplete" or "invalid", as Jupyter's is_complete_reply wants.</summary>
    public static string IsComplete(string code)
    {
        if (string.IsNullOrWhiteSpace(code)) return "complete";
        var tree = CSharpSyntaxTree.ParseText(code, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script));
        if (!SyntaxFactory.IsCompleteSubmission(tree)) return "incomplete";
        return tree.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error) ? "invalid" : "complete";
    }

    (SemanticModel Model, SyntaxTree Tree, int Offset) Compile(string code)
    {
        // The current cell's own usings must precede the earlier cells' statements too.
        var current = (CompilationUnitSyntax)CSharpSyntaxTree.ParseText(Workbench.Notebooks.Directives.Process(code).Code,
            CSharpParseOptions.Default.WithKind(SourceCodeKind.Script)).GetRoot();
        var hoisted = string.Concat(usings.Concat(current.Usings.Select(u => u.ToString())).Distinct().Select(u => u + "\n"));
        var before = imports + hoisted + string.Concat(history.Select(h => h + "\n"));
        var tree = CSharpSyntaxTree.ParseText(before + Workbench.Notebooks.Directives.Process(code).Code, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script));
        var comp = CSharpCompilation.CreateScriptCompilation("assist", tree, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary), returnType: typeof(object), globalsType: typeof(Workbench.Notebooks.CellGlobals));
        return (comp.GetSemanticModel(tree), tree, before.Length);
    }

    /// <summary>What the symbol at <paramref name="cursor"/> is: its signature and, where the assembly has XML docs, its summary.</summary>
    public string? Inspect(string code, int cursor)
    {
        cursor = Math.Clamp(cursor, 0, code.Length);
        var (model, tree, offset) = Compile(code);
        int pos = offset + cursor;
        var token = tree.GetRoot().FindToken(Math.Max(offset, pos > offset && (pos - offset >= code.Length || !char.IsLetterOrDigit(code[pos - offset])) ? pos - 1 : pos));
        var node = token.Parent;
        ISymbol? sym = null;
        for (var n = node; n is not null && sym is null; n = n.Parent)
        {
            sym = model.GetSymbolInfo(n).Symbol ?? model.GetDeclaredSymbol(n) ?? model.GetSymbolInfo(n).CandidateSymbols.FirstOrDefault();
            if (n is StatementSyntax) break;
        }
        if (sym is null) return null;
        var text = $"{sym.Kind}: {sym.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}";
        var type = sym switch { ILocalSymbol l => l.Type, IFieldSymbol f => f.Type, IPropertySymbol p => p.Type, IParameterSymbol p => p.Type, _ => null };
        if (type is not null) text += $"\ntype: {type.ToDisplayString()}";
        var xml = sym.GetDocumentationCommentXml();
        if (!string.IsNullOrWhiteSpace(xml))
        {
            try
            {
                var summary = System.Xml.Linq.XElement.Parse(xml).Element("summary")?.Value;
                if (!string.IsNullOrWhiteSpace(summary)) text += "\n\n" + string.Join(" ", summary.Split((char[])['\n', '\r'], StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
            }
            catch (System.Xml.XmlException) { }
        }
        return text;
    }

    /// <summary>Completions at <paramref name="cursor"/> (a character offset in <paramref name="code"/>): matches and the replaced span.</summary>
    public (IReadOnlyList<string> Matches, int Start, int End) Complete(string code, int cursor)
    {
        cursor = Math.Clamp(cursor, 0, code.Length);
        int start = cursor;
        while (start > 0 && (char.IsLetterOrDigit(code[start - 1]) || code[start - 1] == '_')) start--;
        var prefix = code[start..cursor];
        var (model, tree, offset) = Compile(code);
        var text = tree.GetText().ToString();
        int pos = offset + start;
        IEnumerable<ISymbol> symbols;
        var token = tree.GetRoot().FindToken(Math.Max(0, pos - 1));
        if (pos > 0 && text[pos - 1] == '.' && token.Parent is MemberAccessExpressionSyntax ma)
        {
            var info = model.GetTypeInfo(ma.Expression);
            var sym = model.GetSymbolInfo(ma.Expression).Symbol;
            if (sym is INamespaceOrTypeSymbol nt && info.Type is null) symbols = model.LookupSymbols(pos, nt);
            else if (sym is ITypeSymbol ts) symbols = model.LookupStaticMembers(pos, ts);
            else if (info.Type is { } t) symbols = model.LookupSymbols(pos, t, includeReducedExtensionMethods: true).Where(s => !s.IsStatic);
            else symbols = [];
        }
        else symbols = model.LookupSymbols(pos);
        var matches = symbols
            .Where(s => s.CanBeReferencedByName && s.Name.StartsWith(prefix, StringComparison.Ordinal))
            .Select(s => s.Name).Distinct().Order(StringComparer.Ordinal).Take(500).ToList();
        return (matches, start, cursor);
    }

    /// <summary>Reads a compiler-generated XML documentation file (member id → its XML) for Roslyn's semantic model.</summary>
    sealed class XmlDocs : DocumentationProvider
    {
        readonly string path;
        Dictionary<string, string>? members;
        public XmlDocs(string path) => this.path = path;

        protected override string? GetDocumentationForSymbol(string documentationMemberID, System.Globalization.CultureInfo preferredCulture, CancellationToken cancellationToken = default)
        {
            members ??= Load();
            return members.GetValueOrDefault(documentationMemberID);
        }

        Dictionary<string, string> Load()
        {
            try
            {
                return System.Xml.Linq.XDocument.Load(path).Descendants("member")
                    .Where(m => m.Attribute("name") is not null)
                    .GroupBy(m => m.Attribute("name")!.Value)
                    .ToDictionary(g => g.Key, g => g.First().ToString());
            }
            catch (Exception) { return []; }
        }

        public override bool Equals(object? obj) => obj is XmlDocs o && o.path == path;
        public override int GetHashCode() => path.GetHashCode();
    }
}
