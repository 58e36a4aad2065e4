"""Each rule `check_env` checks beyond types is caught on an adapter that breaks exactly
that rule, with a message naming the task, the step and the field that differed."""

from __future__ import annotations

import re
from functools import partial

import pytest
from checker_envs import (
    BoxesEnv,
    DiffersPerInstance,
    DiffersPerProcess,
    ListsUnparsable,
    NoSnapshots,
    NoSnapshotsStickyReset,
    SnapshotForgetsTask,
)

from agentloop.environments import check_env, make_env
from agentloop.environments.checker import EnvCheckError
from agentloop.environments.maze import MazeEnv

NAMED = re.compile(r"task boxes-train-\d, step \d+\b.*field '[\w\[\]/]+'")


def caught(env_class, **options) -> str:
    with pytest.raises(EnvCheckError) as error:
        check_env(env_class(), **options)
    message = str(error.value)
    assert NAMED.search(message), message
    return message


def test_the_well_behaved_env_passes_every_check():
    check_env(BoxesEnv(), factory=BoxesEnv)


class ForgetsTaskNoSolution(SnapshotForgetsTask):
    solution = None


def test_a_snapshot_without_the_task_is_caught_by_playing_the_solution_after_another_reset():
    message = caught(SnapshotForgetsTask)
    assert "restored" in message and "reset task boxes-train-" in message and "'observation'" in message
    # One random step rarely reaches the end, where the task decides what happens;
    # the env's scripted solution does.
    check_env(ForgetsTaskNoSolution(), max_steps=1)
    message = caught(SnapshotForgetsTask, max_steps=1)
    assert "step 1 ('open[" in message and "restored (after step 0)" in message


def test_two_instances_that_differ_are_caught():
    message = caught(DiffersPerInstance, factory=DiffersPerInstance)
    assert "a second instance" in message and "step 0 (reset)" in message and "'observation'" in message


def test_two_processes_that_differ_are_caught():
    check_env(DiffersPerProcess())  # one process: nothing to see
    message = caught(DiffersPerProcess, factory=DiffersPerProcess)
    assert "another process" in message and "step 0 (reset)" in message and "'observation'" in message


def test_listed_actions_must_parse_with_the_envs_codec():
    message = caught(ListsUnparsable)
    assert "'open box 1'" in message and "available_actions[" in message and "open[argument]" not in message


def test_an_env_without_snapshots_is_checked_through_replay_not_crashed_on():
    check_env(NoSnapshots(), factory=NoSnapshots)
    message = caught(NoSnapshotsStickyReset)
    assert "replaying the same actions" in message


def test_the_shipped_maze_passes_across_instances_and_processes():
    target = "agentloop.environments.maze:MazeEnv"
    check_env(make_env(target, size=5), factory=partial(make_env, target, size=5))
    check_env(MazeEnv(size=5), factory=partial(MazeEnv, size=5))
