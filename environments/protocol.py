"""The Environment protocol: Gymnasium's contract with text in and text out.

An environment holds one episode at a time. `reset(task)` starts it,
`step(action)` advances it, and `snapshot()`/`restore(state)` copy and put back
the whole episode state so that search can branch without replaying. A
malformed or impossible action never raises: `step` returns an observation
that says what was wrong, with `info["invalid"] = True`, and nothing changes.

Rules the framework relies on (`check_env` tests those it can):

- Repeatable: the same task and actions give the same observations, rewards
  and ends, in another instance and in another process too (no `hash()` of
  strings, no unseeded randomness, no wall clock).
- `snapshot()` holds the whole episode, the task included: restoring it into
  an env that has since reset another task continues the original episode
  (the runner shares one env among many episodes this way). An env that
  cannot snapshot raises `NotImplementedError` from `snapshot` (or lacks it):
  search and the runner then replay `reset(task)` and the actions instead.
- Observations never state the reward or the outcome ("You won", "Reward:
  0.5"): a critic valuing a state reads what the agent reads, and must not
  read the reward. The outcome lives in `StepResult.reward` and `info` only.
- With `agent.max_history=0` the agent sees only the current observation (and
  the instruction): an observation should then say all that is needed to act.
- Rewards: the episode's return is the SUM of its step rewards (the runner and
  MCTS both). Returns lie in `reward_range` (default `(0.0, 1.0)`); every
  threshold of the builders (pair margin, Agent-R alpha/beta, the best-path
  minimum) is a fraction of that range. Success is `info["success"]` on the
  last step when the env sets it, else a terminated episode whose return
  reaches the top of the range (`succeeded`).
- `info["invalid"] = True` marks an action that changed nothing; a turn is
  invalid when the agent's text did not parse OR the env flagged it
  (`agentloop.agents.protocol.invalid_turn`).

Optional attributes, read with `getattr` where present:

- `system_prompt: str`: how to act, given to the agent as its system message.
- `demonstration: Sequence[Message]`: a worked example as user/assistant turns.
- `action_verbs: tuple[str, ...]`: the verbs of the default `verb[argument]` syntax.
- `action_codec: ActionCodec`: how actions are written when it is not
  `verb[argument]` (`agentloop.environments.codec`); listed actions parse with it.
- `reward_range: tuple[float, float]`: the lowest and highest episode return.
- `solution(task) -> list[str]`: a scripted solution; `check_env` plays it to
  reach a successful end (where a snapshot that forgot the task shows).

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
        """An opaque copy of the whole episode state, task included (or raise
        `NotImplementedError`: the episode is then replayed)."""
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


REQUIRED = ("name", "tasks", "reset", "step", "available_actions")
"""What every environment has; `snapshot`/`restore` may be missing (replay instead)."""

DEFAULT_REWARD_RANGE = (0.0, 1.0)


def missing_members(env: object) -> list[str]:
    """The members of `REQUIRED` that `env` lacks (of a class: its methods; `name` may
    be set in `__init__`)."""
    names = [n for n in REQUIRED if n != "name"] if isinstance(env, type) else REQUIRED
    return [name for name in names if not hasattr(env, name)]


def reward_range(env: object) -> tuple[float, float]:
    """The env's declared `(lowest, highest)` episode return, default (0, 1)."""
    low, high = getattr(env, "reward_range", DEFAULT_REWARD_RANGE)
    if not high > low:
        raise ValueError(f"reward_range {(low, high)!r} of {getattr(env, 'name', env)!r}: "
                         "the highest return must exceed the lowest")
    return float(low), float(high)


def in_range(fraction: float, span: tuple[float, float]) -> float:
    """The return `fraction` of the way up `span` (0.5 of (0, 10) is 5.0)."""
    return span[0] + fraction * (span[1] - span[0])


def succeeded(info: dict[str, Any], ret: float, terminated: bool, span: tuple[float, float]) -> bool:
    """The one definition of success: `info["success"]` where the env says it,
    else a terminated episode whose return `ret` reaches the top of `span`."""
    if "success" in info:
        return bool(info["success"])
    return terminated and ret >= span[1]


def try_snapshot(env: Environment) -> Any:
    """`env.snapshot()`, or None when the env has no snapshots (replay instead)."""
    snapshot = getattr(env, "snapshot", None)
    if snapshot is None:
        return None
    try:
        return snapshot()
    except NotImplementedError:
        return None
