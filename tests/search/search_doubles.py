"""Test doubles for search: a scripted maze agent and scripted critics (no LLM)."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from agentloop.environments.maze import MazeEnv, shortest_path
from agentloop.environments.protocol import Task

from agentloop.agents.protocol import AgentState, Proposal
from agentloop.llm import Sampling
from agentloop.records import Message

DIRECTIONS = ("up", "down", "left", "right")
POSITION = re.compile(r"You are at \((\d+), (\d+)\)")
OPEN = re.compile(r"Open directions: ([a-z, ]+)\.")


class RandomMazeAgent:
    """Moves at random among the open directions the observation lists; with probability
    `wander` into any direction (walls give invalid actions), with `garbage` unparseable text."""

    def __init__(self, seed: int = 0, garbage: float = 0.0, wander: float = 0.2):
        self.rng, self.garbage, self.wander = random.Random(seed), garbage, wander
        self.calls: list[tuple[int, int]] = []

    def _one(self, observation: str) -> Proposal:
        if self.rng.random() < self.garbage:
            return Proposal("I am not sure.", "I am not sure.", (9,), (-3.0,),
                            parse_error="no Action: line")
        listed = OPEN.search(observation)
        open_ = listed.group(1).split(", ") if listed else []
        d = self.rng.choice(open_ if open_ and self.rng.random() >= self.wander else DIRECTIONS)
        return Proposal(f"Thought: go {d}.\nAction: move[{d}]", f"move[{d}]", (1, 2), (-0.5, -1.0))

    def propose(self, states: Sequence[AgentState], k: int = 1,
                sampling: Sampling | None = None) -> list[list[Proposal]]:
        self.calls.append((len(states), k))
        return [[self._one(s.observation) for _ in range(k)] for s in states]

    def prompt(self, state: AgentState) -> list[Message]:
        observations = [t.observation for t in state.history] + [state.observation]
        messages = [Message(role="system", content="You walk mazes.")]
        for i, observation in enumerate(observations):
            text = f"{state.instruction}\n{observation}" if i == 0 else observation
            messages.append(Message(role="user", content=text))
            if i < len(state.history):
                messages.append(Message(role="assistant", content=state.history[i].completion))
        return messages


def distance_after(task: Task, observation: str, action: str) -> int:
    """Shortest-path length to the goal after `action` from the position in `observation`."""
    cells = {tuple(c) for c in task.data["cells"]}
    goal = tuple(task.data["goal"])
    match = POSITION.search(observation)
    if match is None:  # at the goal already
        return 0
    r, c = int(match.group(1)), int(match.group(2))
    moves = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
    word = action[action.find("[") + 1:action.find("]")] if "[" in action else ""
    if word in moves and (r + moves[word][0], c + moves[word][1]) in cells:
        r, c = r + moves[word][0], c + moves[word][1]
    else:
        return 10_000  # invalid: no progress, worst
    return len(shortest_path(cells, (r, c), goal))


class DistanceCritic:
    """Knows the maze: ranks moves by the distance left (sign=-1 makes it adversarial)."""

    def __init__(self, tasks: Sequence[Task], sign: int = 1):
        self.tasks = {t.instruction: t for t in tasks}
        self.sign = sign
        self.rank_calls: list[int] = []

    def rank(self, states, candidates):
        self.rank_calls.append(len(states))
        out = []
        for state, actions in zip(states, candidates):
            task = self.tasks[state.instruction]
            dist = [self.sign * distance_after(task, state.observation, a) for a in actions]
            order = sorted(range(len(actions)), key=lambda j: (dist[j], j))
            ranks = {j: r + 1 for r, j in enumerate(order)}
            out.append([1.0 / ranks[j] for j in range(len(actions))])
        return out

    def judge(self, paths):
        return [[0.0] * len(p.history) for p in paths]

    def value(self, states):
        # From the state alone (the page never says the outcome): standing on the goal.
        return [1.0 if at_goal(s.observation) else 0.0 for s in states]


def at_goal(observation: str) -> bool:
    """The maze page puts the agent on the goal cell."""
    found = re.search(r"You are at (\(\d+, \d+\))\. The goal is at (\(\d+, \d+\))", observation)
    return found is not None and found.group(1) == found.group(2)


def maze_task(min_optimal: int = 4, max_optimal: int = 6, size: int = 7) -> Task:
    """The first train maze whose shortest path has the given length range."""
    for task in MazeEnv(size=size, num_tasks=200).tasks("train"):
        if min_optimal <= task.data["optimal"] <= max_optimal:
            return task
    raise LookupError("no maze of that length")
