"""Reading the action out of what a (small) model really writes.

The ReAct format asks for `Thought: ...` then `Action: <action>`, the action
written in the environment's syntax (its `ActionCodec`; WebShop's
`verb[argument]` by default). Small models drift: they bold the label, wrap the
action in backticks or quotes, put a space before the bracket, forget the
closing bracket, change the case of the verb, or leave out the label.
`parse_action` finds the label and lets the codec read the action, and says
what it could not read, so the agent can record the failure as data.

Training data wants the format itself, not the drift: `well_formed` says whether
a completion is exactly one thought line and one action line whose action the
codec reads, so builders train only on turns a model should copy.

Example:
    >>> parse_action("Thought: find it.\\n**Action:** `Search [red shoes`")
    ParsedAction(action='search[red shoes]', thought='find it.', error=None, written='`Search [red shoes`')
    >>> well_formed("Thought: find it.\\nAction: search[red shoes]")
    True
    >>> well_formed("Thought: go.\\nAction: get 1 oak log")   # not verb[argument]
    False
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentloop.environments.codec import ActionCodec, BracketCodec

_LABEL = re.compile(r"[*_#\s]*action\s*(?:\d+\s*)?[*_]*\s*[:：][*_]*\s*", re.IGNORECASE)
_THOUGHT = re.compile(r"[*_#\s]*thought\s*[*_]*\s*[:：][*_]*\s*", re.IGNORECASE)
_WELL_FORMED = re.compile(r"Thought: [^\n]*\S[^\n]*\nAction: ([^\n]*\S[^\n]*)")


@dataclass(frozen=True)
class ParsedAction:
    """The action found (or None), the thought before it, why parsing failed, and
    `written`: what the completion wrote as its action (the text after its first
    `Action:` label; the whole completion when it has no label). On a failure that
    text, not the thought, is what goes to the environment."""

    action: str | None
    thought: str
    error: str | None
    written: str = ""


def parse_action(text: str, verbs: Sequence[str] = (), codec: ActionCodec | None = None) -> ParsedAction:
    """Find the action in a ReAct completion.

    Args:
        text: the model's completion.
        verbs: the environment's action verbs (e.g. `("search", "click")`) for the
            default `verb[argument]` codec; when given, only those are accepted.
        codec: the environment's action codec (default: `BracketCodec(verbs)`).
    """
    codec = codec or BracketCodec(verbs)
    labels = list(_LABEL.finditer(text))
    thought_match = _THOUGHT.search(text)
    thought_end = labels[0].start() if labels else len(text)
    thought = text[thought_match.end() : thought_end].strip() if thought_match else text[:thought_end].strip()
    written = _after_label(text, labels[0].end()) if labels else text.strip()
    for label in labels:
        line = text[label.end() :].split("\n")[0]
        action = codec.parse(line) or codec.parse(text[label.end() :])
        if action:
            return ParsedAction(action, thought, None, _after_label(text, label.end()))
    # No usable "Action:" label: accept a lone action on any line, the last one wins
    # (models often restate the format before acting).
    for line in reversed(text.split("\n")):
        action = codec.parse(line) if line.strip() else None
        if action:
            return ParsedAction(action, thought, None, line.strip())
    if not text.strip():
        return ParsedAction(None, "", "empty completion", "")
    return ParsedAction(None, thought, f"no action of the form {codec.syntax} found", written)


def _after_label(text: str, end: int) -> str:
    """The first non-empty line after an `Action:` label (its own line, else the next)."""
    lines = [line.strip() for line in text[end:].split("\n")]
    return next((line for line in lines if line), "")


def well_formed(completion: str, codec: ActionCodec | None = None) -> bool:
    """Whether `completion` is exactly a `Thought: ` line then an `Action: ` line whose
    action `codec` reads (default: `verb[argument]`).

    The parser reads far looser text (a lone call inside a copied observation, an
    `Actions:` label); such turns may still act, but a model trained on them learns
    the drift, so the training-data builders skip them.
    """
    match = _WELL_FORMED.fullmatch(completion.strip())
    return match is not None and (codec or BracketCodec()).parse(match.group(1)) is not None
