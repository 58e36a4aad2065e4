"""Reading BFCL function calls out of model text as data, and writing them back as
the canonical strings BFCL's checker executes.

A reply holds one call or a list of calls, either as Python call syntax,
`cd(folder='document')`, `[mkdir(dir_name='temp'), sort('a.txt')]`, or as JSON,
`{"tool": "cd", "arguments": {"folder": "document"}}` (the tool world's codec).
Call syntax is read with `ast.parse` and accepted only when every call is a bare
name applied to literals (`ast.literal_eval` of each argument); attributes,
subscripts, nested calls, `*args`, `**kwargs` and names are refused. Values must
be JSON-like (str, finite int/float, bool, None, lists, tuples, dicts with str
keys) and keyword names identifiers, so `Call.canonical()` (reprs of those
values) is a literal-only expression: what BFCL's `eval` then sees was written
by this module, never by the model.

Example:
    >>> [c.canonical() for c in parse_calls("[cd(folder='docs'), sort('a.txt')]")]
    ["cd(folder='docs')", "sort('a.txt')"]
    >>> parse_calls("__import__('os').system('ls')") is None
    True
"""

from __future__ import annotations

import ast
import json
import keyword
import math
from dataclasses import dataclass, field
from typing import Any

from agentloop.environments.tooluse.codec import JsonCallCodec

MAX_TEXT = 4000
MAX_CALLS = 16
_CODEC = JsonCallCodec()
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Call:
    """One call: a function name and literal arguments."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def canonical(self) -> str:
        """`name(repr(arg), key=repr(value))`: the string BFCL's checker runs."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether `value` is JSON-like data whose repr is a literal."""
    if depth > 20:
        return False
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return abs(value) < 10**18
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _identifier(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name) \
        and not name.startswith("_")


def _checked(call: Call) -> Call | None:
    ok = _identifier(call.name) and all(_identifier(k) for k in call.kwargs) \
        and _plain(list(call.args)) and _plain(call.kwargs)
    return call if ok else None


def _from_ast(node: ast.AST) -> Call | None:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        return None
    try:
        args = tuple(ast.literal_eval(a) for a in node.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None
    return _checked(Call(node.func.id, args, kwargs))


def _python_calls(text: str) -> list[Call] | None:
    try:
        body = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    nodes = body.elts if isinstance(body, (ast.List, ast.Tuple)) else [body]
    calls = [_from_ast(n) for n in nodes]
    return calls if calls and len(calls) <= MAX_CALLS and all(calls) else None


def parse_calls(text: str) -> list[Call] | None:
    """The calls `text` holds (Python call syntax or a list of calls, the whole text; or
    the first JSON call in it); None when it holds no well-formed call (a plain answer,
    or anything refused: a list with one refused element is refused whole)."""
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None
    stripped = text.strip().removeprefix("```python").removeprefix("```").removesuffix("```").strip()
    calls = _python_calls(stripped)
    if calls is not None:
        return calls
    for start in (i for i, ch in enumerate(text) if ch == "{"):  # one JSON call, nested brackets read whole
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            continue
        canonical = _CODEC.parse(json.dumps(value)) if isinstance(value, dict) and "tool" in value else None
        if canonical is not None:
            decoded = json.loads(canonical)
            call = _checked(Call(decoded["tool"], (), dict(decoded["arguments"])))
            return [call] if call else None
    return None


class BFCLCodec:
    """BFCL actions as the agent writes them: calls (canonical: `Call.canonical()`, a list
    of calls as `[a(...), b(...)]`) or `{"answer": TEXT}`, which ends a user turn.

    Example:
        >>> BFCLCodec().parse("Action: [cd(folder = 'a'), ls(a=True)]")
        "[cd(folder='a'), ls(a=True)]"
    """

    syntax = "name(arg=literal, ...), a list [call, call], or {\"answer\": \"<text>\"}"

    def parse(self, text: str) -> str | None:
        calls = parse_calls(text)
        if calls is not None:
            written = [c.canonical() for c in calls]
            return written[0] if len(written) == 1 else f"[{', '.join(written)}]"
        canonical = _CODEC.parse(text) if isinstance(text, str) else None
        return canonical if canonical is not None and "answer" in json.loads(canonical) else None

    def format(self, action: str) -> str:
        return action
