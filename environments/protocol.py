"""The Environment protocol: Gymnasium's contract with text in and text out.

An environment holds one episode at a time. `reset(task)` starts it,
`step(action)` advances it, and `snapshot()`/`restore(state)` copy and put back
the whole episode state so that search can branch without replaying. A
malformed or impossible action never raises: `step` returns an observation
that says what was wrong, with `info["invalid"] = True`, and nothing changes.

Example:
    >>> env = MazeEnv()
    >>> task = env.tasks("train")[0]
    >>> obs = env.reset(task)
    >>> result = env.step("move[right]")
    >>> result.observation, result.reward, result.terminated
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Task:
    """One task: an id, the instruction the agent reads, and whatever the env needs."""

    id: str
    instruction: str
    split: str = "train"
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class StepResult:
    """What `Environment.step` returns (Gymnasium's five-tuple, text observation)."""

    observation: str
    reward: float
    terminated: bool
    """The episode reached an end state of the task (success or failure)."""
    truncated: bool
    """The episode was cut off from outside the task (step limit)."""
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Environment(Protocol):
    """A text environment: tasks, reset, step, available actions, snapshot/restore."""

    name: str

    def tasks(self, split: str) -> Sequence[Task]:
        """The tasks of a split ("train" or "test"), in a fixed order."""
        ...

    def reset(self, task: Task) -> str:
        """Start an episode on `task`; return the first observation."""
        ...

    def step(self, action: str) -> StepResult:
        """Apply `action`; invalid actions return `info["invalid"] = True`, never raise."""
        ...

    def available_actions(self) -> list[str]:
        """The actions valid in the current state (may be patterns like `search[...]`)."""
        ...

    def snapshot(self) -> Any:
        """An opaque copy of the whole episode state."""
        ...

    def restore(self, state: Any) -> None:
        """Return to a state taken by `snapshot` (the snapshot stays usable)."""
        ...


@runtime_checkable
class MultiAgentEnvironment(Environment, Protocol):
    """An environment where several roles take turns (negotiation)."""

    roles: tuple[str, ...]

    def current_role(self) -> str:
        """The role whose turn it is."""
        ...
