"""A small grid maze: a text environment with a known optimum.

The agent moves with `move[up|down|left|right]` from the start cell to the
goal. Reward is 1.0 on reaching the goal (terminated), 0.0 otherwise; an
episode is truncated after `max_steps` valid moves. Either end reads the same
("The episode is over."): the outcome is only in the reward and `info["success"]`.
Walls and unparseable actions are invalid and change nothing. Because the shortest path is known
(breadth-first search), the maze is the toy world that search and training
are tested on.

Example:
    >>> env = MazeEnv(size=5, seed=0)
    >>> obs = env.reset(env.tasks("train")[0])
    >>> env.step("move[right]").info
"""

from __future__ import annotations

import random
import re
from collections import deque

from agentloop.environments.protocol import StepResult, Task

MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
ACTION = re.compile(r"^\s*move\[\s*(\w+)\s*\]\s*$", re.IGNORECASE)


def _carve(size: int, rng: random.Random) -> set[tuple[int, int]]:
    """Open cells of a maze carved by randomized depth-first search (odd cells are rooms)."""
    open_cells = {(1, 1)}
    stack = [(1, 1)]
    while stack:
        r, c = stack[-1]
        options = [(r + 2 * dr, c + 2 * dc, r + dr, c + dc) for dr, dc in MOVES.values()
                   if 0 < r + 2 * dr < size - 1 and 0 < c + 2 * dc < size - 1
                   and (r + 2 * dr, c + 2 * dc) not in open_cells]
        if not options:
            stack.pop()
            continue
        nr, nc, wr, wc = rng.choice(options)
        open_cells |= {(nr, nc), (wr, wc)}
        stack.append((nr, nc))
    return open_cells


def shortest_path(open_cells: set[tuple[int, int]], start: tuple[int, int],
                  goal: tuple[int, int]) -> list[str]:
    """The moves of a shortest path from start to goal (breadth-first search)."""
    previous: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            break
        for name, (dr, dc) in MOVES.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            if nxt in open_cells and nxt not in previous:
                previous[nxt] = (cell, name)
                queue.append(nxt)
    moves, cell = [], goal
    while previous[cell] is not None:
        cell, name = previous[cell]  # type: ignore[misc]
        moves.append(name)
    return moves[::-1]


class MazeEnv:
    """Grid mazes generated from a seed; one task per maze.

    Args:
        size: side of the grid, odd and at least 5.
        num_tasks: tasks per split.
        max_steps: valid moves before the episode is truncated.
        seed: seed of the task generator (train and test use disjoint seeds).
    """

    name = "maze"
    action_verbs = ("move",)
    system_prompt = (
        "You walk through a grid maze to reach the goal. Positions are (row, column); "
        "rows grow downward. Each turn, write one line 'Thought: <reasoning>' and one line "
        "'Action: move[up]', 'Action: move[down]', 'Action: move[left]' or 'Action: move[right]'. "
        "Only open directions can be taken.\n\nExample:\nObservation: You are at (1, 1). The goal is at "
        "(1, 3). Open directions: right, down.\nThought: The goal is to the right.\nAction: move[right]"
    )

    def __init__(self, size: int = 7, num_tasks: int = 20, max_steps: int = 20, seed: int = 0):
        if size < 5 or size % 2 == 0:
            raise ValueError(f"size must be odd and >= 5, got {size}")
        self.size, self.num_tasks, self.max_steps, self.seed = size, num_tasks, max_steps, seed
        self._cells: frozenset[tuple[int, int]] = frozenset()
        self._goal = self._pos = (1, 1)
        self._steps = 0
        self._done = False

    def tasks(self, split: str) -> list[Task]:
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
        offset = 0 if split == "train" else 1_000_000
        return [self._task(split, self.seed * 7919 + offset + i) for i in range(self.num_tasks)]

    def _task(self, split: str, seed: int) -> Task:
        rng = random.Random(seed)
        cells = _carve(self.size, rng)
        rooms = sorted(c for c in cells if c[0] % 2 == 1 and c[1] % 2 == 1)
        start, goal = rng.sample(rooms, 2)
        instruction = f"Maze {seed}: walk from {start} to the goal at {goal}."
        return Task(id=f"maze-{split}-{seed}", instruction=instruction, split=split,
                    data={"cells": sorted(cells), "start": start, "goal": goal,
                          "optimal": len(shortest_path(cells, start, goal))})

    def reset(self, task: Task) -> str:
        self._cells = frozenset(tuple(c) for c in task.data["cells"])
        self._pos, self._goal = tuple(task.data["start"]), tuple(task.data["goal"])
        self._steps, self._done = 0, False
        return self._observe()

    def _open_directions(self) -> list[str]:
        r, c = self._pos
        return [n for n, (dr, dc) in MOVES.items() if (r + dr, c + dc) in self._cells]

    def _observe(self) -> str:
        # The same words whether the goal was reached or the steps ran out: what the
        # agent and the critic read never states the outcome (it is in reward/info).
        if self._done:
            return f"You are at {self._pos}. The goal is at {self._goal}. The episode is over."
        return (f"You are at {self._pos}. The goal is at {self._goal}. "
                f"Open directions: {', '.join(self._open_directions())}.")

    def available_actions(self) -> list[str]:
        return [f"move[{d}]" for d in self._open_directions()]

    def step(self, action: str) -> StepResult:
        if self._done:
            return StepResult("The episode is over.", 0.0, False, False, {"invalid": True})
        match = ACTION.match(action) if isinstance(action, str) else None
        if match is None:
            return StepResult(f"Invalid action {action!r}: use move[up|down|left|right]. "
                              + self._observe(), 0.0, False, False, {"invalid": True})
        direction = match.group(1).lower()
        if direction not in self._open_directions():
            return StepResult(f"You cannot move {direction}: there is a wall. " + self._observe(),
                              0.0, False, False, {"invalid": True})
        dr, dc = MOVES[direction]
        self._pos = (self._pos[0] + dr, self._pos[1] + dc)
        self._steps += 1
        if self._pos == self._goal:
            self._done = True
            return StepResult(self._observe(), 1.0, True, False, {"success": True})
        truncated = self._steps >= self.max_steps
        self._done = truncated
        return StepResult(self._observe(), 0.0, False, truncated, {"success": False} if truncated else {})

    def solution(self, task: Task) -> list[str]:
        """A shortest path's moves for `task` (the scripted expert `check_env` plays)."""
        cells = {tuple(c) for c in task.data["cells"]}
        start, goal = tuple(task.data["start"]), tuple(task.data["goal"])
        return [f"move[{move}]" for move in shortest_path(cells, start, goal)]

    def snapshot(self) -> tuple:
        # The whole episode, maze included (the cell set is shared, never mutated),
        # so one env object can interleave many episodes.
        return (self._cells, self._goal, self._pos, self._steps, self._done)

    def restore(self, state: tuple) -> None:
        self._cells, self._goal, self._pos, self._steps, self._done = state
