"""`check_env`: verify that an environment keeps the Environment contract.

It checks types; that the same task and actions give the same log step for step
(again in the same instance, after `restore` into an env that had reset another
task, in a second instance and in a second process: `environments.episode_check`),
with the env's scripted `solution(task)` played to the end where it offers one;
that an env without snapshots is checked through replay instead; that every
listed action parses with the env's own codec; that invalid actions are answered
(never raised) and change nothing; that an episode ends with `terminated` or
`truncated` and not both; for multi-agent environments, that the acting role is
always one of `roles`; and that no observation states the outcome (the reward and
success live in `StepResult.reward`/`info` only). Concrete actions are taken from
`available_actions()`; a pattern such as `search[...]` is filled with a word.
A failure names the task, the step and the field that differed.

Example:
    >>> check_env(MazeEnv(), factory=MazeEnv)   # raises EnvCheckError on the first violation
"""

from __future__ import annotations

import random
import re

from agentloop.environments.episode_check import (
    Factory,
    check_episodes,
    check_processes,
    random_actions,
    solution,
)
from agentloop.environments.episode_log import EnvCheckError, compare, play, replay
from agentloop.environments.episode_log import checked_step as _checked_step
from agentloop.environments.episode_log import concrete as _concrete
from agentloop.environments.episode_log import require as _require
from agentloop.environments.protocol import (
    REQUIRED,
    Environment,
    MultiAgentEnvironment,
    Task,
    missing_members,
)

__all__ = ["EnvCheckError", "check_env"]

INVALID_ACTIONS = ("", "   ", "xyzzy", "click[", "search[]]", "\x00\n\t", "click[" + "a" * 500 + "]")


def check_env(env: Environment, episodes: int = 3, max_steps: int = 30, seed: int = 0,
              factory: Factory | None = None) -> None:
    """Raise `EnvCheckError` if `env` breaks the Environment contract.

    Args:
        env: the environment under test.
        episodes: train tasks checked (the first ones).
        max_steps: length of the random episodes.
        seed: seed of the random actions.
        factory: builds another instance like `env` (a class, or `functools.partial` of
            one, so it also reaches a spawned process); given, episodes are also
            compared across two instances and two processes.
    """
    missing = missing_members(env)
    _require(not missing, f"env lacks {', '.join(missing)} (an Environment has {', '.join(REQUIRED)})")
    _require(isinstance(env.name, str) and env.name, "env.name must be a non-empty str")
    tasks = list(env.tasks("train"))[:episodes]
    _require(len(tasks) > 0, "tasks('train') is empty")
    _require([t.id for t in env.tasks("train")][: len(tasks)] == [t.id for t in tasks],
             "tasks() order is not stable")
    plays = []
    for index, task in enumerate(tasks):
        _require(isinstance(task, Task), "tasks must be Task instances")
        played = [random_actions(env, task, random.Random(seed + index), max_steps)]
        scripted = solution(env, task)
        played += [(scripted, None)] if scripted is not None else []
        other = tasks[(index + 1) % len(tasks)]
        check_episodes(env, task, other, played, factory)
        plays += [(task, actions) for actions, _ in played]
        _check_invalid(env, task)
        _check_no_outcome(env, task, seed + index, max_steps)
        if isinstance(env, MultiAgentEnvironment):
            _check_roles(env, task, seed + index, max_steps)
    if factory is not None:
        check_processes(factory, plays, [play(env, task, actions) for task, actions in plays])


def _check_invalid(env: Environment, task: Task) -> None:
    env.reset(task)
    probe = [_concrete(a) for a in env.available_actions()[:1]]
    expected = play(env, task, probe)[1:]
    for action in INVALID_ACTIONS:
        env.reset(task)
        result = _checked_step(env, action)
        where = f"task {task.id}, step 1 ({action!r})"
        _require(result.info.get("invalid") is True,
                 f"{where}: field 'invalid': the invalid action is not flagged with info['invalid']")
        _require(result.observation.strip() != "", f"{where}: field 'observation': no explanation")
        _require(not result.terminated, f"{where}: field 'terminated': an invalid action ended the episode")
        compare(expected, replay(env, probe), task, f"after the invalid action {action!r} (it must "
                "change nothing)", first_step=2)


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
