"""Reading the action out of what a (small) model really writes.

The ReAct format asks for `Thought: ...` then `Action: verb[argument]`. Small
models drift: they bold the label, wrap the action in backticks or quotes, put
a space before the bracket, forget the closing bracket, change the case of the
verb, or leave out the label. `parse_action` undoes those drifts and says what
it could not read, so the agent can record the failure as data.

Training data wants the format itself, not the drift: `well_formed` says whether
a completion is exactly one thought line and one action line, so builders train
only on turns a model should copy.

Example:
    >>> parse_action("Thought: find it.\\n**Action:** `Search [red shoes`")
    ParsedAction(action='search[red shoes]', thought='find it.', error=None)
    >>> well_formed("Thought: find it.\\nAction: search[red shoes]")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_LABEL = re.compile(r"[*_#\s]*action\s*(?:\d+\s*)?[*_]*\s*[:：][*_]*\s*", re.IGNORECASE)
_THOUGHT = re.compile(r"[*_#\s]*thought\s*[*_]*\s*[:：][*_]*\s*", re.IGNORECASE)
_CALL = re.compile(r"([A-Za-z_]\w*)\s*\[(.*?)(?:\]|$)", re.DOTALL)
_WELL_FORMED = re.compile(r"Thought: [^\n]*\S[^\n]*\nAction: [^\n]*\S[^\n]*")
_QUOTES = "`'\"“”‘’"


@dataclass(frozen=True)
class ParsedAction:
    """The action found (or None), the thought before it, and why parsing failed."""

    action: str | None
    thought: str
    error: str | None


def _clean_argument(argument: str) -> str:
    argument = argument.strip().strip(_QUOTES).strip()
    return " ".join(argument.split())


def _call(text: str, verbs: Sequence[str]) -> str | None:
    """The first `verb[argument]` in `text` (known verbs preferred), normalised."""
    text = text.strip().strip(_QUOTES)
    candidates = []
    for match in _CALL.finditer(text):
        verb = match.group(1).lower()
        candidates.append((verb, _clean_argument(match.group(2).split("\n")[0])))
    if verbs:
        known = [(v, a) for v, a in candidates if v in verbs]
        candidates = known or []
    if not candidates:
        return None
    verb, argument = candidates[0]
    return f"{verb}[{argument}]"


def parse_action(text: str, verbs: Sequence[str] = ()) -> ParsedAction:
    """Find the action in a ReAct completion.

    Args:
        text: the model's completion.
        verbs: the environment's action verbs (e.g. `("search", "click")`);
            when given, only those are accepted.
    """
    labels = list(_LABEL.finditer(text))
    thought_match = _THOUGHT.search(text)
    thought_end = labels[0].start() if labels else len(text)
    thought = text[thought_match.end() : thought_end].strip() if thought_match else text[:thought_end].strip()
    for label in labels:
        line = text[label.end() :].split("\n")[0]
        action = _call(line, verbs) or _call(text[label.end() :], verbs)
        if action:
            return ParsedAction(action, thought, None)
    # No usable "Action:" label: accept a lone call anywhere, last one wins
    # (models often restate the format before acting).
    calls = [c for c in (_call(m.group(0), verbs) for m in _CALL.finditer(text)) if c]
    if calls:
        return ParsedAction(calls[-1], thought, None)
    if not text.strip():
        return ParsedAction(None, "", "empty completion")
    expected = "|".join(verbs) if verbs else "verb"
    return ParsedAction(None, thought, f"no action of the form {expected}[...] found")


def well_formed(completion: str) -> bool:
    """Whether `completion` is exactly a `Thought: ` line then an `Action: ` line.

    The parser reads far looser text (a lone call inside a copied observation, an
    `Actions:` label); such turns may still act, but a model trained on them learns
    the drift, so the training-data builders skip them.
    """
    return _WELL_FORMED.fullmatch(completion.strip()) is not None
