"""BFCL's multi-turn base data and backends, reached only through explicit maps.

`load_entries` reads the entries, ground truths and function docs that ship in
the `bfcl-eval` package (`pip install --no-deps bfcl-eval`, extra
`agentloop[bfcl]`). `Backends` holds one episode's own instances of the
entry's classes, loaded with the entry's initial state, and a name -> bound
method map built from the entry's function docs (the class's public methods
listed there, less the entry's excluded functions): a call runs only when its
name is a key of that map and its arguments bind to the method's signature.
`check` scores a played episode with BFCL's own `multi_turn_checker`, handing it
the canonical strings of `agentloop.environments.bfcl.calls` (names from the map,
literal arguments), so the `eval` inside BFCL's executor only ever runs text
this adapter wrote.

Example:
    >>> entry = load_entries()[0]
    >>> backends = Backends(entry)
    >>> backends.run(Call("ls", (), {}))
    '{"current_directory_content": [...]}'
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from agentloop.environments.bfcl.calls import Call, parse_calls

CATEGORY = "multi_turn_base"
MAX_RESULT = 2000


@dataclass(frozen=True)
class Entry:
    """One multi-turn entry: user turns, initial state, classes, docs and ground truth."""

    id: str
    turns: tuple[tuple[dict[str, str], ...], ...]
    initial_config: dict[str, Any]
    classes: tuple[str, ...]
    functions: tuple[dict[str, Any], ...]
    """The function docs the model is shown (the entry's classes, less its excluded functions)."""
    ground_truth: tuple[tuple[str, ...], ...]

    def test_entry(self) -> dict[str, Any]:
        """The entry as BFCL's checker reads it."""
        return {"id": self.id, "initial_config": self.initial_config, "involved_classes": list(self.classes)}


def _data(name: str) -> list[dict[str, Any]]:
    text = resources.files("bfcl_eval").joinpath("data", name).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@cache
def load_entries() -> tuple[Entry, ...]:
    """The 200 multi-turn base entries, in BFCL's order."""
    from bfcl_eval.constants.executable_backend_config import (
        MULTI_TURN_FUNC_DOC_FILE_MAPPING,
    )

    answers = {a["id"]: a["ground_truth"] for a in _data(f"possible_answer/BFCL_v4_{CATEGORY}.json")}
    entries = []
    for raw in _data(f"BFCL_v4_{CATEGORY}.json"):
        excluded = set(raw.get("excluded_function", ()))
        docs = [d for c in raw["involved_classes"]
                for d in _data(f"multi_turn_func_doc/{MULTI_TURN_FUNC_DOC_FILE_MAPPING[c]}")
                if d["name"] not in excluded]
        entries.append(Entry(raw["id"], tuple(tuple(turn) for turn in raw["question"]), raw["initial_config"],
                             tuple(raw["involved_classes"]), tuple(docs),
                             tuple(tuple(turn) for turn in answers[raw["id"]])))
    return tuple(entries)


def _instance(class_name: str, initial_config: dict[str, Any]) -> Any:
    from bfcl_eval.constants.executable_backend_config import (
        CLASS_FILE_PATH_MAPPING,
        STATELESS_CLASSES,
    )

    # Both names come from BFCL's own tables (the entry's classes), never from model text.
    instance = getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING[class_name]), class_name)()
    if class_name not in STATELESS_CLASSES:
        instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=False)
    return instance


def result_text(value: Any) -> str:
    """A method's result as BFCL's executor writes it (dicts as JSON), capped."""
    if not isinstance(value, str):
        try:
            value = json.dumps(value) if isinstance(value, dict) else str(value)
        except (TypeError, ValueError):
            value = str(value)
    return value if len(value) <= MAX_RESULT else value[:MAX_RESULT] + " [truncated]"


class Backends:
    """One episode's instances of an entry's classes and the allow-listed methods on them."""

    def __init__(self, entry: Entry, instances: dict[str, Any] | None = None):
        self.entry = entry
        self.instances = instances or {c: _instance(c, entry.initial_config) for c in entry.classes}
        allowed = {doc["name"] for doc in entry.functions}
        self.methods: dict[str, Callable[..., Any]] = {}
        for instance in self.instances.values():
            for name, method in inspect.getmembers(instance, inspect.ismethod):
                if name in allowed and not name.startswith("_"):
                    self.methods[name] = method

    def refusal(self, call: Call) -> str | None:
        """Why `call` may not run (its name is not in the map, or its arguments do not
        bind to the method's signature); None when it may."""
        method = self.methods.get(call.name)
        if method is None:
            return f"Error: {call.name!r} is not one of the available functions."
        try:
            inspect.signature(method).bind(*call.args, **call.kwargs)
        except TypeError as error:
            return f"Error: {call.name}: {error}"
        return None

    def run(self, call: Call) -> str:
        """The call's result, or why it did not run (`refusal`) or what the backend raised."""
        refusal = self.refusal(call)
        if refusal is not None:
            return refusal
        method = self.methods[call.name]
        try:
            return result_text(method(*copy.deepcopy(call.args), **copy.deepcopy(call.kwargs)))
        except Exception as error:  # noqa: BLE001 (a backend rejects bad values by raising any error; the model sees why)
            return f"Error during execution: {error}"

    def copy(self) -> Backends:
        return Backends(self.entry, copy.deepcopy(self.instances))


def check(entry: Entry, turns: Sequence[Sequence[Call]]) -> dict[str, Any]:
    """BFCL's verdict (`{"valid": bool, ...}`) on the calls made in each user turn.

    The checker replays canonical strings on fresh instances that it keeps in its
    module's globals under a model name; a fresh name per check keeps checks
    apart, and its instances are dropped afterwards."""
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import (
        multi_turn_checker,
    )

    model_name = f"agentloop_{uuid.uuid4().hex}"
    decoded = [[[call.canonical()] for call in turn] for turn in turns]
    decoded += [[] for _ in range(len(entry.ground_truth) - len(decoded))]
    try:
        return multi_turn_checker(decoded, [list(t) for t in entry.ground_truth], entry.test_entry(),
                                  CATEGORY, model_name)
    finally:
        prefix = re.sub(r"[-./:]", "_", model_name)
        for key in [k for k in vars(multi_turn_utils) if k.startswith(prefix)]:
            del vars(multi_turn_utils)[key]


def ground_truth_calls(entry: Entry) -> list[list[Call]]:
    """The entry's ground truth read by `parse_calls` (the safe path a model's text takes)."""
    turns = []
    for turn in entry.ground_truth:
        calls = [parse_calls(text) for text in turn]
        if any(c is None or len(c) != 1 for c in calls):
            raise ValueError(f"{entry.id}: a ground-truth call does not parse: {turn}")
        turns.append([c[0] for c in calls])
    return turns
