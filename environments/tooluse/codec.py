"""Reading a tool call or an answer out of model text, as data.

`JsonCallCodec.parse` finds the first JSON object in the text with
`json.JSONDecoder.raw_decode` (so brackets and braces nested in the arguments,
`{"numbers": [1, [2, 3]]}`, are read whole) and accepts exactly two shapes:
`{"tool": NAME, "arguments": {...}}` and `{"answer": TEXT}`. A literal-only call
expression, `calculator(expression="2 + 3")`, is read with `ast.parse` and
`ast.literal_eval` of each keyword argument: only a bare name called with
literal keyword arguments is accepted. The canonical action is the JSON with
sorted keys. Nothing is evaluated, imported or looked up by name.

Example:
    >>> JsonCallCodec().parse('Action: {"tool": "calculator", "arguments": {"expression": "2+3"}} ok')
    '{"arguments": {"expression": "2+3"}, "tool": "calculator"}'
    >>> JsonCallCodec().parse("add_days(date='2026-01-01', days=3)")
    '{"arguments": {"date": "2026-01-01", "days": 3}, "tool": "add_days"}'
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

MAX_ACTION = 2000
_CALL = re.compile(r"[A-Za-z_]\w*\s*\(")
_DECODER = json.JSONDecoder()


def _shape(value: Any) -> dict[str, Any] | None:
    """The call or answer `value` stands for, or None when it is neither."""
    if not isinstance(value, dict):
        return None
    if set(value) == {"answer"} and isinstance(value["answer"], (str, int, float)) and \
            not isinstance(value["answer"], bool):
        return {"answer": str(value["answer"])}
    if "tool" in value and set(value) <= {"tool", "arguments"} and isinstance(value["tool"], str):
        arguments = value.get("arguments", {})
        return {"tool": value["tool"], "arguments": arguments} if isinstance(arguments, dict) else None
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            continue
        shaped = _shape(value)
        if shaped is not None:
            return shaped
    return None


def _call_expression(text: str) -> dict[str, Any] | None:
    for match in _CALL.finditer(text):
        depth, end = 0, None
        for i in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        if end is None:
            continue
        try:
            node = ast.parse(text[match.start():end].strip(), mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args
                and all(k.arg for k in node.keywords)):
            continue
        try:
            arguments = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            continue
        return {"tool": node.func.id, "arguments": arguments}
    return None


class JsonCallCodec:
    """Tool calls and answers as JSON (or a literal-only call expression)."""

    syntax = '{"tool": "<name>", "arguments": {...}} or {"answer": "<text>"}'

    def parse(self, text: str) -> str | None:
        if not isinstance(text, str) or len(text) > MAX_ACTION:
            return None
        shaped = _json_object(text) if "{" in text else None
        shaped = shaped or _call_expression(text)
        if shaped is None:
            return None
        try:
            return json.dumps(shaped, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):  # literal_eval can give sets, bytes, complex, nan
            return None

    def format(self, action: str) -> str:
        return action
