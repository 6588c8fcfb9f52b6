"""Line and column of an OpenQASM 3 syntax error, from the reference ANTLR parser."""

from __future__ import annotations


def parse_error_location(text: str) -> str:
    """``"line L, column C: "`` of the first syntax error in ``text``, or ``""`` if it parses.

    Qiskit's importer reports semantic errors with their position but swallows the position of
    syntax errors; this re-runs the same reference parser (``openqasm3``) with a listener that
    records it.
    """
    try:
        import antlr4
        from antlr4.error.ErrorListener import ErrorListener
        from openqasm3._antlr.qasm3Lexer import qasm3Lexer
        from openqasm3._antlr.qasm3Parser import qasm3Parser
    except ImportError:
        return ""

    class _First(ErrorListener):
        def __init__(self) -> None:
            self.where = ""

        def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):  # noqa: N802
            if not self.where:
                self.where = f"line {line}, column {column + 1}: {msg}; "

    listener = _First()
    lexer = qasm3Lexer(antlr4.InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = qasm3Parser(antlr4.CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.program()
    return listener.where
