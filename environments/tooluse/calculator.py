"""A calculator that reads arithmetic and nothing else.

The expression is parsed with `ast.parse(mode="eval")` and walked by hand: only
numbers, `+ - * / // % **`, unary signs and parentheses are accepted; every
other node (names, calls, attributes, subscripts, comprehensions, strings)
is an error that names it. Caps keep every call small and quick: the text
length, the nesting depth, the size of every number, and the exponent of `**`.
No `eval`, no names, no imports: model text never runs.

Example:
    >>> evaluate("7 * 3.40 + 3 * 1.25")
    27.55
    >>> evaluate("__import__('os')")
    Traceback (most recent call last):
    ToolError: calculator: only numbers and + - * / // % ** are allowed, not a call
"""

from __future__ import annotations

import ast
import math
import operator

MAX_LENGTH = 200
MAX_DEPTH = 32
MAX_MAGNITUDE = 1e15
MAX_EXPONENT = 64

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_NAMES = {ast.Call: "a call", ast.Name: "a name", ast.Attribute: "an attribute",
          ast.Subscript: "a subscript", ast.Lambda: "a lambda", ast.Compare: "a comparison"}


class ToolError(ValueError):
    """A tool call that cannot run; the message is shown to the agent."""


def _checked(value: float) -> float:
    if isinstance(value, complex) or not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise ToolError(f"calculator: results must be real numbers of at most {MAX_MAGNITUDE:g}")
    return value


def _walk(node: ast.AST, depth: int) -> float:
    if depth > MAX_DEPTH:
        raise ToolError(f"calculator: the expression nests deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            return _checked(float(node.value))
        except OverflowError:
            raise ToolError(f"calculator: numbers must be at most {MAX_MAGNITUDE:g}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_walk(node.operand, depth + 1)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left, depth + 1), _walk(node.right, depth + 1)
        if isinstance(node.op, ast.Pow) and (abs(right) > MAX_EXPONENT or (left == 0 and right < 0)):
            raise ToolError(f"calculator: exponents must be at most {MAX_EXPONENT} (and 0 has no negative power)")
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ToolError("calculator: division by zero")
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except OverflowError:
            raise ToolError(f"calculator: results must be at most {MAX_MAGNITUDE:g}") from None
    what = _NAMES.get(type(node), type(node).__name__)
    raise ToolError(f"calculator: only numbers and + - * / // % ** are allowed, not {what}")


def evaluate(expression: str) -> float:
    """The value of an arithmetic expression, rounded to 10 significant digits."""
    if not isinstance(expression, str) or not expression.strip():
        raise ToolError("calculator: give an expression such as 2 * (3 + 4)")
    if len(expression) > MAX_LENGTH:
        raise ToolError(f"calculator: expressions are at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ToolError(f"calculator: cannot read {expression[:40]!r} as arithmetic") from None
    value = _walk(tree.body, 0)
    return float(f"{value:.10g}")
