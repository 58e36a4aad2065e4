"""A small environment that keeps the contract, and adapters that each break exactly one
rule `check_env` checks. They live in a module (not the test file) so a spawned process
can import them by name."""

from __future__ import annotations

import itertools
import os
import re

from agentloop.environments.protocol import StepResult, Task

OPEN = re.compile(r"open\[([0-3])\]$")


class BoxesEnv:
    """Four boxes, one holds the key; `open[k]` opens box k. Reward 1 for the key's box
    (terminated); after three empty boxes the episode is truncated."""

    name = "boxes"

    def __init__(self):
        self.task: Task | None = None
        self.opened: tuple[int, ...] = ()
        self.done = False

    def tasks(self, split: str) -> list[Task]:
        base = 0 if split == "train" else 10
        return [Task(f"boxes-{split}-{i}", f"Find the key (box {i}).", split, {"key": (3 * (base + i) + 1) % 4})
                for i in range(3)]

    def reset(self, task: Task) -> str:
        self.task, self.opened, self.done = task, (), False
        return "Four boxes, numbered 0 to 3, are closed."

    def step(self, action: str) -> StepResult:
        match = OPEN.match(action) if isinstance(action, str) else None
        if self.done or match is None or int(match.group(1)) in self.opened:
            return StepResult("You cannot do that: open one closed box, e.g. open[0].", 0.0, False, False,
                              {"invalid": True})
        box = int(match.group(1))
        self.opened += (box,)
        if box == self.task.data["key"]:
            self.done = True
            return StepResult(f"You open box {box}. The episode is over.", 1.0, True, False, {"success": True})
        self.done = len(self.opened) == 3
        return StepResult(f"You open box {box}: nothing inside.", 0.0, False, self.done,
                          {"success": False} if self.done else {})

    def available_actions(self) -> list[str]:
        return [f"open[{k}]" for k in range(4) if k not in self.opened]

    def solution(self, task: Task) -> list[str]:
        return [f"open[{task.data['key']}]"]

    def snapshot(self) -> tuple:
        return (self.task, self.opened, self.done)

    def restore(self, state: tuple) -> None:
        self.task, self.opened, self.done = state


class SnapshotForgetsTask(BoxesEnv):
    """Breaks: a snapshot holds the whole episode (it leaves out the task)."""

    def snapshot(self) -> tuple:
        return (self.opened, self.done)

    def restore(self, state: tuple) -> None:
        self.opened, self.done = state


_SERIALS = itertools.count()


class DiffersPerInstance(BoxesEnv):
    """Breaks: two instances give the same episode (each numbers its table)."""

    def __init__(self):
        super().__init__()
        self.serial = next(_SERIALS)

    def reset(self, task: Task) -> str:
        return super().reset(task) + f" You sit at table {self.serial}."


class DiffersPerProcess(BoxesEnv):
    """Breaks: two processes give the same episode (the room is the process id)."""

    def reset(self, task: Task) -> str:
        return super().reset(task) + f" You are in room {os.getpid()}."


class ListsUnparsable(BoxesEnv):
    """Breaks: listed actions parse with the env's codec (one is written 'open box 1')."""

    def available_actions(self) -> list[str]:
        return [a if a != "open[1]" else "open box 1" for a in super().available_actions()]


class NoSnapshots(BoxesEnv):
    """Keeps the contract without snapshots: search and the runner replay it."""

    def snapshot(self) -> tuple:
        raise NotImplementedError("this env cannot copy its state")


class NoSnapshotsStickyReset(NoSnapshots):
    """Breaks, without snapshots: reset starts afresh (boxes opened before stay open)."""

    def reset(self, task: Task) -> str:
        opened = self.opened
        observation = super().reset(task)
        self.opened = opened
        return observation
