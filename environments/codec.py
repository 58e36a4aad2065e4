"""Action codecs: how an environment's actions are written, read back out of text.

An agent writes `Action: <something>`; the environment's codec says which
text is an action and what canonical action string it stands for. WebShop's
(and the maze's) `verb[argument]` is the default (`BracketCodec`); an
environment with its own syntax sets `action_codec` (any object with `syntax`,
`parse` and `format`), e.g. a `RegexCodec`. The ReAct parser, the well-formed
filter of the training-data builders, `check_env` (every listed action must
parse) and the scripted agents all read actions through it.

Example:
    >>> BracketCodec(("search", "click")).parse("`Search [red shoes`")
    'search[red shoes]'
    >>> RegexCodec(r"guess (\\d+)", "guess <number>").parse("I guess 42 then")
    'guess 42'
    >>> codec_of(MazeEnv()).syntax
    'move[argument]'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

_CALL = re.compile(r"([A-Za-z_]\w*)\s*\[(.*?)(?:\]|$)", re.DOTALL)
_QUOTES = "`'\"“”‘’"


@runtime_checkable
class ActionCodec(Protocol):
    """Reads and writes one environment's actions.

    `parse` gets the text an agent wrote as its action (the rest of the
    `Action:` line, or a later stretch of the completion when that line is
    empty) and returns the canonical action the environment's `step` accepts,
    or None when the text holds no action. `format(action)` is how an action
    is written after `Action:` (demonstrations, scripted agents), and
    `parse(format(a)) == a` for every canonical action `a`.
    """

    syntax: str
    """How an action is written, for error messages (e.g. "guess <number>")."""

    def parse(self, text: str) -> str | None:
        """The canonical action written in `text`, or None."""
        ...

    def format(self, action: str) -> str:
        """`action` as an agent writes it."""
        ...


def _clean_argument(argument: str) -> str:
    argument = argument.strip().strip(_QUOTES).strip()
    return " ".join(argument.split())


class BracketCodec:
    """`verb[argument]` (WebShop, the maze), read the way small models drift: bold or
    backticked actions, a space before the bracket, a missing closing bracket, another
    case of the verb. The first call of a known verb in the text wins.

    Args:
        verbs: the verbs accepted (`("search", "click")`); empty accepts any verb.
    """

    def __init__(self, verbs: Sequence[str] = ()):
        self.verbs = tuple(v.lower() for v in verbs)
        self.syntax = f"{'|'.join(self.verbs) or 'verb'}[argument]"

    def parse(self, text: str) -> str | None:
        text = text.strip().strip(_QUOTES)
        for match in _CALL.finditer(text):
            verb = match.group(1).lower()
            if not self.verbs or verb in self.verbs:
                argument = _clean_argument(match.group(2).split("\n")[0])
                return f"{verb}[{argument}]"
        return None

    def format(self, action: str) -> str:
        return action


class RegexCodec:
    """An action is the first match of `pattern` (case-insensitive), spaces collapsed.

    Args:
        pattern: a regular expression for one action (`r"guess (\\d+)"`).
        syntax: how the action is written, for error messages (`"guess <number>"`).
        lower: lower-case the matched action (when `step` expects lower case).
    """

    def __init__(self, pattern: str, syntax: str, lower: bool = True):
        self.pattern, self.syntax, self.lower = re.compile(pattern, re.IGNORECASE), syntax, lower

    def parse(self, text: str) -> str | None:
        match = self.pattern.search(text)
        if match is None:
            return None
        action = " ".join(match.group(0).split())
        return action.lower() if self.lower else action

    def format(self, action: str) -> str:
        return action


def codec_of(env: object) -> ActionCodec:
    """The environment's `action_codec`, else `verb[argument]` over its `action_verbs`."""
    codec = getattr(env, "action_codec", None)
    return codec if codec is not None else BracketCodec(getattr(env, "action_verbs", ()))
