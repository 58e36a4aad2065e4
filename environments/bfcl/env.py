"""`BFCLEnv`: BFCL's multi-turn base entries as an agentloop environment, played
through the safe path and scored by BFCL's own checker.

Each task is one entry: a few user turns over stateful backends (file system,
vehicle, trading, travel, messages, twitter, tickets, math). An action is one
call or a list of calls, `cd(folder='docs')` or
`{"tool": "cd", "arguments": {"folder": "docs"}}`, or `{"answer": TEXT}`, which
ends the current user turn (`calls.BFCLCodec`). Calls are read by
`calls.parse_calls` (literals only) and run only through the episode's `backend.Backends` map; an action
with a call that is not in the map or whose arguments do not fit the method is
invalid and runs nothing. When the last turn is answered, the calls of every
turn go, as canonical strings, to BFCL's `multi_turn_checker`: reward 1.0 when
it says valid, else 0.0. Observations list the entry's functions, the turns so
far and every call with its result.

Example:
    >>> env = BFCLEnv(num_tasks=20)
    >>> task = env.tasks("test")[0]
    >>> env.reset(task)
    >>> [env.step(a).reward for a in env.solution(task)][-1]
    1.0
"""

from __future__ import annotations

import json
from typing import Any

from agentloop.environments.bfcl.backend import (
    Backends,
    Entry,
    check,
    ground_truth_calls,
    load_entries,
)
from agentloop.environments.bfcl.calls import BFCLCodec, Call, parse_calls
from agentloop.environments.protocol import StepResult, Task

SYSTEM_PROMPT = (
    "You help a user by calling functions. Each turn, write one line 'Thought: <reasoning>' and one line "
    "'Action: <call>', where the call is a function call with literal arguments, e.g. "
    "cd(folder='docs') or [mkdir(dir_name='a'), cd(folder='a')], or, when the user's request is done, "
    '{"answer": "<text>"}.')
_EXAMPLE = {"string": "x", "integer": 1, "number": 1.0, "float": 1.0, "boolean": True, "array": [], "dict": {}}


def function_line(doc: dict[str, Any]) -> str:
    """`name(param: type, optional?: type): description` for one function doc."""
    properties = (doc.get("parameters") or {}).get("properties") or {}
    required = set((doc.get("parameters") or {}).get("required") or ())
    params = ", ".join(f"{p}{'' if p in required else '?'}: {s.get('type', 'any')}" for p, s in properties.items())
    description = doc.get("description", "").split("Tool description:")[-1].strip()
    return f"{doc['name']}({params}): {description[:200]}"


class BFCLEnv:
    """BFCL multi-turn base entries, played safely (see the module docstring).

    Args:
        num_tasks: the first `num_tasks` entries (BFCL's order) are the test split.
        train_entries: the last `train_entries` entries form a train split (for smoke runs
            and `check_env`; 0 keeps BFCL wholly held out).
        max_steps: actions before the episode is truncated (reward 0).
    """

    name = "bfcl"
    action_codec = BFCLCodec()
    reward_range = (0.0, 1.0)
    system_prompt = SYSTEM_PROMPT

    def __init__(self, num_tasks: int = 200, train_entries: int = 0, max_steps: int = 40):
        entries = load_entries()
        if num_tasks < 1 or train_entries < 0 or num_tasks + train_entries > len(entries):
            raise ValueError(f"num_tasks + train_entries must be at most {len(entries)}, with num_tasks >= 1")
        self.max_steps = max_steps
        self._entries = {e.id: e for e in entries}
        self._splits = {"test": [self._task(e, "test") for e in entries[:num_tasks]],
                        "train": [self._task(e, "train") for e in entries[len(entries) - train_entries:]]}
        self._state: dict[str, Any] | None = None

    @staticmethod
    def _task(entry: Entry, split: str) -> Task:
        return Task(entry.id, entry.turns[0][-1]["content"], split, {"entry": entry.id})

    def tasks(self, split: str) -> list[Task]:
        if split not in self._splits:
            raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
        return self._splits[split]

    def solution(self, task: Task) -> list[str]:
        """The ground truth: each turn's calls (canonical strings), then an answer."""
        calls = ground_truth_calls(self._entries[task.data["entry"]])
        return [a for turn in calls for a in [c.canonical() for c in turn] + [json.dumps({"answer": "Done."})]]

    def reset(self, task: Task) -> str:
        entry = self._entries[task.data["entry"]]
        self._state = {"entry": entry, "backends": Backends(entry), "turn": 0, "calls": [[]],
                       "log": [[]], "steps": 0, "done": False}
        return self._render()

    def available_actions(self) -> list[str]:
        if self._state is None or self._state["done"]:
            return []
        actions = []
        for doc in self._state["entry"].functions:
            parameters = doc.get("parameters") or {}
            properties = parameters.get("properties") or {}
            example = {p: _EXAMPLE.get(properties[p].get("type"), "x") for p in parameters.get("required") or ()
                       if p in properties}
            actions.append(Call(doc["name"], (), example).canonical())
        return actions + [json.dumps({"answer": "Done."})]

    def step(self, action: str) -> StepResult:
        state = self._state
        if state is None or state["done"]:
            return StepResult("The episode is over.", 0.0, False, False, {"invalid": True})
        canonical = self.action_codec.parse(action) if isinstance(action, str) else None
        answer = json.loads(canonical)["answer"] if canonical and canonical.startswith("{") else None
        calls = parse_calls(canonical) if canonical and answer is None else None
        if answer is None and calls is None:
            return self._invalid("Invalid action: write a function call with literal arguments, "
                                 'or {"answer": "<text>"} when the request is done.')
        if calls is not None:
            refused = [r for r in map(state["backends"].refusal, calls) if r]
            if refused:
                return self._invalid(refused[0])
        state["steps"] += 1
        if answer is not None:
            state["log"][-1].append(f"You answered: {str(answer)[:300]}")
            state["turn"] += 1
            if state["turn"] < len(state["entry"].turns):
                state["calls"].append([])
                state["log"].append([])
        else:
            for call in calls:
                state["calls"][-1].append(call)
                state["log"][-1].append(f"{call.canonical()[:300]} -> {state['backends'].run(call)}")
        finished = state["turn"] >= len(state["entry"].turns)
        truncated = not finished and state["steps"] >= self.max_steps
        state["done"] = finished or truncated
        reward, info = 0.0, {}
        if finished:
            verdict = check(state["entry"], state["calls"])
            reward = 1.0 if verdict["valid"] else 0.0
            info = {"success": bool(verdict["valid"]), "error_type": verdict.get("error_type", "")}
        return StepResult(self._render(), reward, finished, truncated, info)

    def _invalid(self, message: str) -> StepResult:
        return StepResult(f"{message}\n{self._render()}", 0.0, False, False, {"invalid": True})

    def _render(self) -> str:
        state = self._state
        entry: Entry = state["entry"]
        lines = ["Functions:"] + [f"- {function_line(doc)}" for doc in entry.functions]
        for turn in range(min(state["turn"] + 1, len(entry.turns))):
            lines += [f"User: {m['content']}" for m in entry.turns[turn]]
            lines += state["log"][turn]
        lines.append("The episode is over." if state["done"] else "Call functions or answer.")
        return "\n".join(lines)

    def snapshot(self) -> dict[str, Any]:
        state = dict(self._state)
        state["backends"] = state["backends"].copy()
        state["calls"] = [list(turn) for turn in state["calls"]]
        state["log"] = [list(turn) for turn in state["log"]]
        return state

    def restore(self, state: dict[str, Any]) -> None:
        self._state = dict(state)
        self._state["backends"] = state["backends"].copy()
        self._state["calls"] = [list(turn) for turn in state["calls"]]
        self._state["log"] = [list(turn) for turn in state["log"]]


