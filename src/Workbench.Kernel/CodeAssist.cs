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
            .Distinct().Select(a => (MetadataReference)MetadataReference.CreateFromFile(a.Location)).ToArray();
    }

    /// <summary>Remembers a cell that ran without error (its declarations are in scope for later completions).</summary>
    public void Executed(string code) => history.Add(Workbench.Notebooks.Directives.Process(code).Code);

    /// <summary>"complete", "incomplete" or "invalid", as Jupyter's is_complete_reply wants.</summary>
    public static string IsComplete(string code)
    {
        if (string.IsNullOrWhiteSpace(code)) return "complete";
        var tree = CSharpSyntaxTree.ParseText(code, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script));
        if (!SyntaxFactory.IsCompleteSubmission(tree)) return "incomplete";
        return tree.GetDiagnostics().Any(d => d.Severity == DiagnosticSeverity.Error) ? "invalid" : "complete";
    }

    /// <summary>Completions at <paramref name="cursor"/> (a character offset in <paramref name="code"/>): matches and the replaced span.</summary>
    public (IReadOnlyList<string> Matches, int Start, int End) Complete(string code, int cursor)
    {
        cursor = Math.Clamp(cursor, 0, code.Length);
        int start = cursor;
        while (start > 0 && (char.IsLetterOrDigit(code[start - 1]) || code[start - 1] == '_')) start--;
        var prefix = code[start..cursor];
        var before = imports + string.Concat(history.Select(h => h + "\n"));
        var text = before + Workbench.Notebooks.Directives.Process(code).Code;
        int pos = before.Length + start;
        var tree = CSharpSyntaxTree.ParseText(text, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script));
        var comp = CSharpCompilation.CreateScriptCompilation("assist", tree, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary), returnType: typeof(object), globalsType: typeof(Workbench.Notebooks.CellGlobals));
        var model = comp.GetSemanticModel(tree);
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
}
