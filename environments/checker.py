"""`check_env`: verify that an environment keeps the Environment contract.

It checks types, repeatability (the same task and actions give the same
observations and rewards), snapshot/restore equivalence (also after another
task was started in between: a snapshot holds the whole episode), that invalid actions
are answered (never raised) and change nothing, that an episode ends with
`terminated` or `truncated` and not both, and, for multi-agent environments,
that the acting role is always one of `roles`, and that no observation states the
outcome (played to the end with the env's `solution(task)` where it has one: the
reward and success live in `StepResult.reward`/`info` only). Concrete actions are taken from
`available_actions()`; a pattern such as `search[...]` is filled with a word.

Example:
    >>> check_env(MazeEnv())   # raises EnvCheckError on the first violation
"""

from __future__ import annotations

import random
import re
from typing import Any

from agentloop.environments.protocol import (
    Environment,
    MultiAgentEnvironment,
    StepResult,
    Task,
)

INVALID_ACTIONS = ("", "   ", "xyzzy", "click[", "search[]]", "\x00\n\t", "click[" + "a" * 500 + "]")


class EnvCheckError(AssertionError):
    """The environment breaks the contract; the message says how."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise EnvCheckError(message)


def _concrete(action: str) -> str:
    return action.replace("...", "test") if "..." in action else action


def _checked_step(env: Environment, action: str) -> StepResult:
    try:
        result = env.step(action)
    except Exception as error:  # the contract forbids raising on any action
        raise EnvCheckError(f"step({action!r}) raised {error!r}") from error
    _require(isinstance(result, StepResult), f"step must return StepResult, got {type(result)}")
    _require(isinstance(result.observation, str), "observation must be str")
    _require(isinstance(result.reward, (int, float)), "reward must be a number")
    _require(isinstance(result.info, dict), "info must be a dict")
    _require(not (result.terminated and result.truncated), "terminated and truncated both set")
    return result


def _rollout(env: Environment, task: Task, seed: int, max_steps: int) -> list[tuple[Any, ...]]:
    """Play random available actions; return the (action, observation, reward, done) log."""
    rng = random.Random(seed)
    log: list[tuple[Any, ...]] = [("reset", env.reset(task))]
    for _ in range(max_steps):
        actions = env.available_actions()
        _require(isinstance(actions, list) and actions, "available_actions must be a non-empty list")
        action = _concrete(rng.choice(actions))
        result = _checked_step(env, action)
        done = result.terminated or result.truncated
        log.append((action, result.observation, result.reward, done))
        if done:
            break
    return log


def _replay(env: Environment, actions: list[str]) -> list[tuple[str, float, bool]]:
    out = []
    for action in actions:
        result = _checked_step(env, action)
        out.append((result.observation, result.reward, result.terminated or result.truncated))
        if result.terminated or result.truncated:
            break
    return out


def check_env(env: Environment, episodes: int = 3, max_steps: int = 30, seed: int = 0) -> None:
    """Raise `EnvCheckError` if `env` breaks the Environment contract."""
    _require(isinstance(env, Environment), "env does not implement the Environment protocol")
    _require(isinstance(env.name, str) and env.name, "env.name must be a non-empty str")
    tasks = list(env.tasks("train"))[:episodes]
    _require(len(tasks) > 0, "tasks('train') is empty")
    _require([t.id for t in env.tasks("train")][: len(tasks)] == [t.id for t in tasks],
             "tasks() order is not stable")
    for index, task in enumerate(tasks):
        _require(isinstance(task, Task), "tasks must be Task instances")
        first = _rollout(env, task, seed + index, max_steps)
        second = _rollout(env, task, seed + index, max_steps)
        _require(first == second, f"task {task.id}: same actions gave different results")
        other = tasks[(index + 1) % len(tasks)]
        _check_snapshot(env, task, other, [entry[0] for entry in first[1:]])
        _check_invalid(env, task)
        _check_no_outcome(env, task, seed + index, max_steps)
        if isinstance(env, MultiAgentEnvironment):
            _check_roles(env, task, seed + index, max_steps)


def _check_snapshot(env: Environment, task: Task, other: Task, actions: list[str]) -> None:
    env.reset(task)
    split = len(actions) // 2
    _replay(env, actions[:split])
    state = env.snapshot()
    expected = _replay(env, actions[split:])
    for _ in range(2):  # a snapshot must survive being restored more than once
        env.reset(other)  # and hold the whole episode, task included (one env, many episodes)
        env.restore(state)
        _require(_replay(env, actions[split:]) == expected,
                 f"task {task.id}: restore did not reproduce the episode")


def _check_invalid(env: Environment, task: Task) -> None:
    env.reset(task)
    state = env.snapshot()
    probe = [_concrete(a) for a in env.available_actions()[:1]]
    expected = _replay(env, probe)
    for action in INVALID_ACTIONS:
        env.restore(state)
        result = _checked_step(env, action)
        _require(result.info.get("invalid") is True,
                 f"invalid action {action!r} not flagged with info['invalid']")
        _require(result.observation.strip() != "", f"invalid action {action!r} got no explanation")
        _require(not result.terminated, f"invalid action {action!r} ended the episode")
        _require(_replay(env, probe) == expected, f"invalid action {action!r} changed the state")


def _check_roles(env: MultiAgentEnvironment, task: Task, seed: int, max_steps: int) -> None:
    rng = random.Random(seed)
    env.reset(task)
    for _ in range(max_steps):
        _require(env.current_role() in env.roles, f"current_role {env.current_role()!r} not in roles")
        result = _checked_step(env, _concrete(rng.choice(env.available_actions())))
        if result.terminated or result.truncated:
            break


OUTCOME_WORDS = re.compile(
    r"\b(rewards?|rewarded|scored?|scores|success(?:ful|fully)?|succeeded|"
    r"you (?:win|won|lose|lost)|(?:won|lost) the game|goal reached|reached the goal|"
    r"(?:in)?correct(?:ly)?|well done|congratulations|victory|defeat|"
    r"task (?:is )?(?:complete|completed|solved|failed|done)|solved|failed|failure)\b",
    re.IGNORECASE)
"""Words that state how an episode went. What an agent or critic reads must not hold them:
the outcome lives in `StepResult.reward` and `info` only, or a critic that values
states by reading them reads the reward (issue 12)."""


def _check_no_outcome(env: Environment, task: Task, seed: int, max_steps: int) -> None:
    """Play `task` to its end and one step past it; no observation may state the outcome.

    The player is the env's scripted `solution(task)` (a list of actions) where it
    offers one, so that a successful end is reached, else random available actions.
    An observation fails if it holds an outcome word that the instruction and first
    observation do not already hold (a word of the game's public state is not a
    leak), or a non-zero reward of the episode, or its return, as a decimal number.
    """
    first = env.reset(task)
    public = {m.group(0).lower() for m in OUTCOME_WORDS.finditer(task.instruction + "\n" + first)}
    script = list(env.solution(task)) if callable(getattr(env, "solution", None)) else None
    observations, rewards = [env.reset(task)], []
    rng, action = random.Random(seed), ""
    for step in range(len(script) if script is not None else max_steps):
        if script is not None:
            action = script[step]
        else:
            actions = env.available_actions()
            _require(bool(actions), f"task {task.id}, step {step + 1}: no available actions")
            action = _concrete(rng.choice(actions))
        result = _checked_step(env, action)
        observations.append(result.observation)
        rewards.append(result.reward)
        if result.terminated or result.truncated:
            observations.append(_checked_step(env, action).observation)  # the page after the end
            break
    values = {r for r in rewards + [sum(rewards)] if r != 0}
    for step, text in enumerate(observations):
        leak = _outcome_in(text, public, values)
        _require(leak is None, f"task {task.id}, step {step}: the observation states the "
                               f"outcome: {leak}")


def _outcome_in(text: str, public: set[str], values: set[float]) -> str | None:
    """What in `text` states the outcome (quoted with its context), or None."""
    for match in OUTCOME_WORDS.finditer(text):
        if match.group(0).lower() not in public:
            return f"{match.group(0)!r} in {_excerpt(text, match)!r}"
    for value in values:
        if match := _number(value).search(text):
            return f"the reward {value:g} in {_excerpt(text, match)!r}"
    return None


def _number(value: float) -> re.Pattern[str]:
    """`value` written with a decimal point ("1.0", "1.00", "0.5", "0.50"), not inside a
    longer number or after a currency sign (a price is not the reward)."""
    forms = {f"{value:.{digits}f}" for digits in (1, 2, 3)} | {repr(float(value))}
    alternatives = "|".join(sorted((re.escape(f) for f in forms if "." in f), key=len, reverse=True))
    return re.compile(rf"(?<![\d.$])(?:{alternatives})(?![\d])")


def _excerpt(text: str, match: re.Match[str], width: int = 40) -> str:
    return text[max(match.start() - width, 0):match.end() + width]
