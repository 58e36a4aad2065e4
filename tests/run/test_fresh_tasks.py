"""Each round searches train tasks no earlier round searched (issue: round 2 added nothing
when it searched round 1's tasks again)."""

from __future__ import annotations

import pytest

from agentloop.config import ConfigError, load_config
from agentloop.run.rounds import Session


def _session(tmp_path, *overrides):
    config = load_config(None, ["env.kind=maze", "env.num_tasks=12", "loop.train_tasks=4",
                                f"loop.runs_dir={tmp_path}", *overrides])
    return Session(config, run=None)


def test_rounds_search_disjoint_slices_of_the_train_split(tmp_path):
    session = _session(tmp_path, "loop.rounds=3")
    slices = [[t.id for t in session.train_tasks(k)] for k in (1, 2, 3)]
    assert all(len(ids) == 4 for ids in slices)
    assert len({i for ids in slices for i in ids}) == 12
    assert slices[0] == [t.id for t in session.all_train_tasks[:4]]


def test_without_fresh_tasks_every_round_searches_the_first_slice(tmp_path):
    session = _session(tmp_path, "loop.rounds=3", "loop.fresh_tasks=false")
    assert [t.id for t in session.train_tasks(3)] == [t.id for t in session.train_tasks(1)]


def test_too_few_train_tasks_for_fresh_rounds_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="need 16 train tasks, the environment has 12"):
        _session(tmp_path, "loop.rounds=4")
