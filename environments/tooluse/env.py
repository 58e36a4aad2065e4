"""`ToolUseEnv`: a user asks, the agent calls tools or answers; the world checks the result.

An action is JSON, `{"tool": NAME, "arguments": {...}}` or `{"answer": TEXT}`
(`JsonCallCodec` also reads a literal-only call such as
`calculator(expression="2 + 3")`). A tool call runs through `tools.dispatch`;
one that cannot run (unknown tool, wrong arguments, a validation error such as
too little stock) is invalid: the observation says why and nothing changes. An
answer ends the current request; a follow-up request may come next. When the
last request is answered the episode ends and the reward is the share of the
task's checks that pass, read from the final world state (orders, calendar)
and the answers' values (numbers within a tolerance, words as words): never
from the wording. Observations hold the requests, earlier answers and every
call with its result, so they are self-contained; they never state the reward.

Example:
    >>> env = ToolUseEnv(difficulty="medium")
    >>> task = env.tasks("train")[0]
    >>> env.reset(task)
    >>> [env.step(a).reward for a in env.solution(task)][-1]
    1.0
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentloop.environments.protocol import StepResult, Task
from agentloop.environments.tooluse.codec import JsonCallCodec
from agentloop.environments.tooluse.tasks import make_tasks
from agentloop.environments.tooluse.tools import TOOLS, Item, ToolError, World, dispatch
from agentloop.records import Message

NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def system_prompt() -> str:
    tools = "\n".join(f"- {tool.signature()}" for tool in TOOLS.values())
    return ("You help a user by calling tools. Each turn, write one line 'Thought: <reasoning>' and one "
            "line 'Action: <JSON>', where the JSON is either a tool call "
            '{"tool": "<name>", "arguments": {...}} or the final answer {"answer": "<text>"}. '
            "Call one tool per turn; answer when you know the result.\nTools:\n" + tools)


DEMONSTRATION_REQUEST = "What do 4 mugs at $1.25 each and 6 spoons at $0.40 each cost in all?"
DEMONSTRATION = (
    # One calculator call on the whole sum, then the answer. The 135M default model copies the
    # example's shape: greedy on 12 arithmetic and 12 weekday test tasks, this one solves 9 and 0;
    # a convert-then-calculate example solved 0/100 easy test tasks (it answered without calling
    # a tool) and a one-product example (12 apples at $0.25) 0/100 (it summed the first product
    # only). tests/environments/test_tooluse.py replays this one through the real tools.
    Message(role="user", content=f"User: {DEMONSTRATION_REQUEST}\nNo tool calls yet.\nCall one tool or answer."),
    Message(role="assistant", content="Thought: I add the cost of the mugs and the cost of the spoons.\nAction: "
                                      '{"tool": "calculator", "arguments": {"expression": "4 * 1.25 + 6 * 0.40"}}'),
    Message(role="user", content=f"User: {DEMONSTRATION_REQUEST}\nCalls so far:\n"
                                 '1. calculator {"expression": "4 * 1.25 + 6 * 0.40"} -> 7.4\n'
                                 "Call one tool or answer."),
    Message(role="assistant", content='Thought: The calculator says 7.4.\nAction: {"answer": "$7.40"}'),
)


class ToolUseConfig(BaseModel):
    """The tool world (`agentloop.environments.tooluse`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    kind: Literal["tooluse"] = "tooluse"
    difficulty: Literal["easy", "medium", "hard"] = "easy"
    """easy: one or no call; medium: two or three dependent calls; hard: validation errors,
    follow-up requests, calls that change the calendar."""
    num_tasks: int = Field(100, gt=0)
    """Tasks per split."""
    max_steps: int = Field(10, gt=0)
    """Turns before the episode is truncated."""
    seed: int = 0
    """Seed of the task generator."""


class ToolUseEnv:
    """Tool-use tasks of one difficulty with a stable train/test split.

    Args:
        difficulty: "easy" (one or no call), "medium" (two or three dependent calls),
            "hard" (validation errors, follow-up requests, calls that change the calendar).
        num_tasks: tasks per split.
        max_steps: turns before the episode is truncated.
        seed: seed of the task generator.
    """

    name = "tooluse"
    action_codec = JsonCallCodec()
    reward_range = (0.0, 1.0)
    demonstration = DEMONSTRATION

    def __init__(self, difficulty: str = "easy", num_tasks: int = 100, max_steps: int = 10, seed: int = 0):
        if max_steps < 1:
            raise ValueError("max_steps must be positive")
        self.difficulty, self.num_tasks, self.max_steps, self.seed = difficulty, num_tasks, max_steps, seed
        self.system_prompt = system_prompt()
        self._tasks = make_tasks(difficulty, num_tasks, seed)
        self._task: Task | None = None
        self._world = World()
        self._calls: tuple[tuple[str, str], ...] = ()
        self._answers: tuple[str, ...] = ()
        self._steps = 0
        self._done = False

    def tasks(self, split: str) -> list[Task]:
        if split not in self._tasks:
            raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
        return self._tasks[split]

    def solution(self, task: Task) -> list[str]:
        """The scripted solution: calls whose results pass every check, then the answers."""
        return list(task.data["solution"])

    def reset(self, task: Task) -> str:
        self._task = task
        self._world = World(items={row[0]: Item(*row) for row in task.data["items"]})
        self._calls, self._answers, self._steps, self._done = (), (), 0, False
        return self._render()

    def available_actions(self) -> list[str]:
        if self._done:
            return []
        examples = {"calculator": {"expression": "2 * 3"}, "weekday": {"date": "2026-01-01"},
                    "search_items": {"query": "mug"}, "checkout": {}}
        return [json.dumps({"tool": n, "arguments": a}, sort_keys=True) for n, a in examples.items()] + \
            [json.dumps({"answer": "..."})]

    def step(self, action: str) -> StepResult:
        if self._done or self._task is None:
            return StepResult("The episode is over.", 0.0, False, False, {"invalid": True})
        canonical = self.action_codec.parse(action) if isinstance(action, str) else None
        if canonical is None:
            return self._invalid(f"Invalid action: write {self.action_codec.syntax}.")
        decoded = json.loads(canonical)
        self._steps += 1
        if "answer" in decoded:
            self._answers += (str(decoded["answer"])[:300],)
        else:
            try:
                output = dispatch(self._world, decoded)
            except ToolError as error:
                self._steps -= 1
                return self._invalid(f"Error: {error}")
            arguments = json.dumps(decoded.get("arguments", {}), sort_keys=True)
            self._calls += ((f"{decoded['tool']} {arguments}", output),)
        finished = len(self._answers) >= len(self._task.data["requests"])
        truncated = not finished and self._steps >= self.max_steps
        self._done = finished or truncated
        reward, info = 0.0, {}
        if finished:
            passed = [self._passes(check) for check in self._task.data["checks"]]
            reward = sum(passed) / len(passed)
            info = {"success": all(passed), "checks_passed": sum(passed), "checks": len(passed)}
        return StepResult(self._render(), reward, finished, truncated, info)

    def _invalid(self, message: str) -> StepResult:
        return StepResult(f"{message}\n{self._render()}", 0.0, False, False, {"invalid": True})

    def _passes(self, check: dict[str, Any]) -> bool:
        kind = check["type"]
        if kind in ("number", "word"):
            given = self._answers[check["turn"]] if check["turn"] < len(self._answers) else ""
            return _number_matches(given, check["value"]) if kind == "number" else _word_matches(given, check["value"])
        if kind == "no_calls":
            return not self._calls
        if kind == "order":
            return any(order["lines"] == check["lines"] for order in self._world.orders)
        return any(date == check["date"] and title.lower() == check["title"].lower()
                   for date, title in self._world.events)

    def _render(self) -> str:
        requests = self._task.data["requests"] if self._task else []
        lines = []
        for turn, request in enumerate(requests[: len(self._answers) + 1]):
            lines.append(f"User: {request}")
            if turn < len(self._answers):
                lines.append(f"You answered: {self._answers[turn]}")
        if self._calls:
            lines.append("Calls so far:")
            lines += [f"{i}. {call} -> {output}" for i, (call, output) in enumerate(self._calls, 1)]
        else:
            lines.append("No tool calls yet.")
        lines.append("The episode is over." if self._done else "Call one tool or answer.")
        return "\n".join(lines)

    def snapshot(self) -> tuple:
        return (self._task, self._world.copy(), self._calls, self._answers, self._steps, self._done)

    def restore(self, state: tuple) -> None:
        self._task, world, self._calls, self._answers, self._steps, self._done = state
        self._world = world.copy()


def _number_matches(text: str, expected: float) -> bool:
    found = NUMBER.findall(text)
    return bool(found) and abs(float(found[0].replace(",", "")) - expected) <= 0.01 + 1e-4 * abs(expected)


def _word_matches(text: str, expected: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    others = set(WEEKDAYS) - {expected} if expected in WEEKDAYS else set()
    return expected in words and not others & set(words)
