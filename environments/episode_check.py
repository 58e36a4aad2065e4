"""The checks of `check_env` that replay whole episodes: the same task and actions
must give the same log, step for step and field for field, however the episode
is reached again.

- again in the same instance (and after another task was played in between);
- after `restore` into an env that has since reset ANOTHER task (a snapshot
  holds the whole episode, task included), played to the end: the scripted
  `solution(task)` when the env offers one reaches the end where the reward is
  paid, which is where a snapshot that forgot the task shows;
- an env without snapshots is checked through replay (reset and the actions),
  as search and the runner use it;
- in a second instance and in a second process (`factory`), so an env whose
  episodes depend on `hash()` of strings, global counters or unseeded
  randomness is caught;
- every listed action parses with the env's own codec.

Example:
    >>> check_episodes(env, task, other_task, actions, factory=MazeEnv)
"""

from __future__ import annotations

import multiprocessing
import pickle
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from agentloop.environments.codec import codec_of
from agentloop.environments.episode_log import (
    Record,
    checked_step,
    compare,
    concrete,
    play,
    record,
    replay,
    require,
)
from agentloop.environments.protocol import Environment, Task, try_snapshot

Factory = Callable[[], Environment]


def random_actions(env: Environment, task: Task, rng, max_steps: int) -> tuple[list[str], list[Record]]:
    """Random listed actions for `task`, played to the end or `max_steps`, and the log of
    that first play; every listed action must parse with the env's codec."""
    codec = codec_of(env)
    log = [Record("reset", env.reset(task))]
    actions: list[str] = []
    for step in range(max_steps):
        listed = env.available_actions()
        require(isinstance(listed, list) and bool(listed),
                f"task {task.id}, step {step}: field 'available_actions' must be a non-empty list")
        for index, action in enumerate(listed):
            written = codec.format(concrete(action))
            require(codec.parse(written) is not None,
                    f"task {task.id}, step {step}: field 'available_actions[{index}]': {action!r} "
                    f"does not parse with the env's codec ({codec.syntax})")
        actions.append(concrete(rng.choice(listed)))
        log.append(record(actions[-1], checked_step(env, actions[-1])))
        if log[-1].terminated or log[-1].truncated:
            break
    return actions, log


def solution(env: Environment, task: Task) -> list[str] | None:
    """The env's scripted solution of `task`, if it offers one."""
    solve = getattr(env, "solution", None)
    return list(solve(task)) if callable(solve) else None


def check_episodes(env: Environment, task: Task, other: Task,
                   episodes: Sequence[tuple[list[str], list[Record] | None]],
                   factory: Factory | None = None) -> None:
    """Every check of the module docstring for each (actions, log of their first play
    or None) in `episodes`."""
    for actions, first in episodes:
        expected = play(env, task, actions)
        actions = [r.action for r in expected[1:]]  # those played before the episode ended
        if first is not None:
            compare(first, expected, task, "replaying the same actions")
        play(env, other, actions[:3])  # another episode in between
        compare(expected, play(env, task, actions), task, "replaying the same actions")
        if try_snapshot(env) is None:
            continue  # replay is what search and the runner do with this env: checked above
        for split in sorted({len(actions) // 2, max(len(actions) - 1, 0)}):
            _check_restore(env, task, other, actions, split, expected)
        if factory is not None:
            twin = factory()
            require([t.id for t in twin.tasks(task.split)] == [t.id for t in env.tasks(task.split)],
                    f"task {task.id}: a second instance: field 'tasks({task.split!r})' differs")
            compare(expected, play(twin, task, actions), task, "a second instance")


def _check_restore(env: Environment, task: Task, other: Task, actions: list[str], split: int,
                   expected: list[Record]) -> None:
    env.reset(task)
    replay(env, actions[:split])
    state = env.snapshot()
    for attempt in range(2):  # a snapshot must survive being restored more than once
        env.reset(other)  # and hold the whole episode, task included (one env, many episodes)
        replay(env, actions[:1])
        env.restore(state)
        what = f"restored (after step {split}) into an env that had reset task {other.id}"
        compare(expected[split + 1:], replay(env, actions[split:]), task, what, first_step=split + 1)


def check_processes(factory: Factory, plays: Sequence[tuple[Task, list[str]]],
                    logs: Sequence[list[Record]]) -> None:
    """Play each (task, actions) in a fresh spawned process; compare with `logs`."""
    try:
        pickle.dumps(factory)
    except Exception as error:  # a lambda or a local class cannot reach another process
        warnings.warn(f"check_env: the factory cannot be pickled ({error!r}): the two-process "
                      "check is skipped; pass a class or functools.partial of one", stacklevel=3)
        return
    jobs = [(task.split, task.id, actions) for task, actions in plays]
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        remote = pool.submit(_play_all, factory, jobs).result()
    for (task, _), expected, got in zip(plays, logs, remote, strict=True):
        require(got is not None, f"task {task.id}: another process: field 'tasks({task.split!r})' "
                                 f"has no task {task.id!r}")
        compare(expected, got, task, "another process")


def _play_all(factory: Factory, jobs: list[tuple[str, str, list[str]]]) -> list[list[Record] | None]:
    """In the child: build the env, find each task by id in its own task list, play it."""
    env = factory()
    out: list[list[Record] | None] = []
    for split, task_id, actions in jobs:
        task = next((t for t in env.tasks(split) if t.id == task_id), None)
        out.append(None if task is None else play(env, task, actions))
    return out
