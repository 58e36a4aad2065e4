"""Episodes as comparable logs, for `check_env`: play actions, record every step, and
say exactly where two logs of the same task and actions part (task, step, field).

Example:
    >>> log = play(env, task, ["move[up]", "move[left]"])
    >>> compare(log, play(other_env, task, ["move[up]", "move[left]"]), task, "a second instance")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from agentloop.environments.protocol import Environment, StepResult, Task


class EnvCheckError(AssertionError):
    """The environment breaks the contract; the message says how."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise EnvCheckError(message)


def concrete(action: str, fill: str = "test") -> str:
    """A listed pattern such as `search[...]` made into an action."""
    return action.replace("...", fill) if "..." in action else action


def checked_step(env: Environment, action: str) -> StepResult:
    """`env.step(action)`, with the result's types checked; raising is a violation."""
    try:
        result = env.step(action)
    except Exception as error:  # the contract forbids raising on any action
        raise EnvCheckError(f"step({action!r}) raised {error!r}") from error
    require(isinstance(result, StepResult), f"step must return StepResult, got {type(result)}")
    require(isinstance(result.observation, str), "observation must be str")
    require(isinstance(result.reward, (int, float)), "reward must be a number")
    require(isinstance(result.info, dict), "info must be a dict")
    require(not (result.terminated and result.truncated), "terminated and truncated both set")
    return result


@dataclass(frozen=True)
class Record:
    """One step of an episode as `check_env` compares it (step 0 is the reset)."""

    action: str
    observation: str
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    success: Any = None
    """`info["success"]` (None when absent)."""
    invalid: Any = None
    """`info["invalid"]` (None when absent)."""


def record(action: str, result: StepResult) -> Record:
    return Record(action, result.observation, float(result.reward), result.terminated, result.truncated,
                  result.info.get("success"), result.info.get("invalid"))


def replay(env: Environment, actions: Sequence[str]) -> list[Record]:
    """Step `actions` from the env's current state until the episode ends."""
    out = []
    for action in actions:
        out.append(record(action, checked_step(env, action)))
        if out[-1].terminated or out[-1].truncated:
            break
    return out


def play(env: Environment, task: Task, actions: Sequence[str]) -> list[Record]:
    """`reset(task)` then `actions`: the reset as step 0, then one record per step."""
    return [Record("reset", env.reset(task))] + replay(env, actions)


def compare(expected: Sequence[Record], got: Sequence[Record], task: Task, what: str,
            first_step: int = 0) -> None:
    """Raise naming the task, the step and the field where `got` parts from `expected`.

    `first_step` numbers the first record (a log that starts mid-episode)."""
    for index, (a, b) in enumerate(zip(expected, got)):
        if a == b:
            continue
        step = first_step + index
        left, right = asdict(a), asdict(b)
        field = next(name for name in left if left[name] != right[name])
        raise EnvCheckError(
            f"task {task.id}, step {step} ({'reset' if a.action == 'reset' else repr(a.action)}): "
            f"{what}: field {field!r} differs: expected {_short(left[field])}, got {_short(right[field])}")
    if len(expected) != len(got):
        step = first_step + min(len(expected), len(got)) - 1
        longer = "expected" if len(expected) > len(got) else "got"
        raise EnvCheckError(f"task {task.id}, step {step}: {what}: field 'terminated/truncated' differs: "
                            f"the {longer} episode goes on ({len(expected)} vs {len(got)} records)")


def _short(value: Any, width: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width] + "...'"
