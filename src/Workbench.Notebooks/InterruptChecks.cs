using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Workbench.Notebooks;

/// <summary>
/// Inserts <c>Workbench.Runtime.Interrupt.Check();</c> at the start of every loop body of a cell, so that a kernel
/// interrupt stops a long loop at its next iteration. Nothing is added on new lines: error line numbers do not move.
/// </summary>
public static class InterruptChecks
{
    static readonly StatementSyntax CheckStatement = SyntaxFactory.ParseStatement("global::Workbench.Runtime.Interrupt.Check();");

    public static string Insert(string code)
    {
        var tree = CSharpSyntaxTree.ParseText(code, CSharpParseOptions.Default.WithKind(SourceCodeKind.Script));
        var root = new Rewriter().Visit(tree.GetRoot());
        return root.ToFullString();
    }

    sealed class Rewriter : CSharpSyntaxRewriter
    {
        static StatementSyntax WithCheck(StatementSyntax body) => body switch
        {
            BlockSyntax b => b.WithStatements(b.Statements.Insert(0, CheckStatement)),
            _ => SyntaxFactory.Block(CheckStatement, body.WithoutTrailingTrivia()).WithTrailingTrivia(body.GetTrailingTrivia()),
        };

        public override SyntaxNode? VisitForStatement(ForStatementSyntax node) =>
            ((ForStatementSyntax)base.VisitForStatement(node)!) is var n ? n.WithStatement(WithCheck(n.Statement)) : null;
        public override SyntaxNode? VisitForEachStatement(ForEachStatementSyntax node) =>
            ((ForEachStatementSyntax)base.VisitForEachStatement(node)!) is var n ? n.WithStatement(WithCheck(n.Statement)) : null;
        public override SyntaxNode? VisitForEachVariableStatement(ForEachVariableStatementSyntax node) =>
            ((ForEachVariableStatementSyntax)base.VisitForEachVariableStatement(node)!) is var n ? n.WithStatement(WithCheck(n.Statement)) : null;
        public override SyntaxNode? VisitWhileStatement(WhileStatementSyntax node) =>
            ((WhileStatementSyntax)base.VisitWhileStatement(node)!) is var n ? n.WithStatement(WithCheck(n.Statement)) : null;
        public override SyntaxNode? VisitDoStatement(DoStatementSyntax node) =>
            ((DoStatementSyntax)base.VisitDoStatement(node)!) is var n ? n.WithStatement(WithCheck(n.Statement)) : null;
    }
}
