"""Where an OpenQASM 3 program is wrong: line, column and the parser's or importer's message."""

from __future__ import annotations

import re

_IMPORTER_POSITION = re.compile(r"^(\d+),(\d+): (.*)$", re.DOTALL)


def describe_error(text: str, exc: Exception) -> str:
    """``"line L, column C: message"`` for a program Qiskit's importer refused with ``exc``.

    Syntax errors are located by re-running the reference parser; semantic errors carry the
    importer's own ``"line,column: message"`` (0-based column), which is reworded the same way.
    """
    where = parse_error_location(text)
    if where:
        return where
    detail = str(exc).strip().strip('"')
    match = _IMPORTER_POSITION.match(detail)
    if match:
        line, column, message = match.groups()
        return f"line {line}, column {int(column) + 1}: {message}"
    return detail or type(exc).__name__


def parse_error_location(text: str) -> str:
    """``"line L, column C: message"`` of the first syntax error in ``text``, or ``""``.

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

        def syntaxError(  # noqa: N802 - antlr4's name
            self,
            recognizer: object,
            offendingSymbol: object,  # noqa: N803 - antlr4's name
            line: int,
            column: int,
            msg: str,
            e: Exception | None,
        ) -> None:
            if not self.where:
                self.where = f"line {line}, column {column + 1}: {msg}"

    listener = _First()
    lexer = qasm3Lexer(antlr4.InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    parser = qasm3Parser(antlr4.CommonTokenStream(lexer))
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    parser.program()
    return listener.where
