"""Any environment from the config: `env: {kind: import, target: ..., kwargs: ...}` is
built for every command, a wrong target is a clear error naming it before any model
starts, and `agentloop run` runs a tiny round on the example's own game."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agentloop.agents.scripted import RandomAgent, ScriptedCritic
from agentloop.cli import app
from agentloop.config import ConfigError, parse_config
from agentloop.environments.codec import codec_of
from agentloop.run.from_config import build_agent, build_env
from agentloop.search import SearchConfig, search_tasks

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TARGET = "custom_env:GuessEnv"


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


def import_config(target: str = TARGET, **kwargs):
    return parse_config({"env": {"kind": "import", "target": target, "kwargs": kwargs}})


def test_an_import_target_builds_the_env_with_its_codec_for_the_agent(examples_on_path):
    config = import_config(num_tasks=3, high=8)
    env = build_env(config.env)
    assert env.name == "guess" and env.high == 8 and len(env.tasks("train")) == 3
    agent = build_agent(config.agent, None, env)
    assert agent.codec is env.action_codec and agent.system_prompt == env.system_prompt
    # and search runs on it (scripted doubles, no model)
    make = lambda: build_env(config.env)  # noqa: E731
    (tree,) = search_tasks(make, env.tasks("train")[:1], RandomAgent(make(), seed=0), ScriptedCritic(),
                           SearchConfig(simulations=3, k=2, max_depth=3))
    actions = [tree.edge(n)["action"] for n in tree.graph.nodes if n != tree.root]
    assert actions and all(codec_of(env).parse(a) == a for a in actions)


@pytest.mark.parametrize("target,kwargs,says", [
    ("no_such_module_xyz:Env", {}, "cannot import 'no_such_module_xyz'"),
    ("custom_env:NoSuchEnv", {}, "has no attribute 'NoSuchEnv'"),
    ("custom_env", {}, "is not of the form 'package.module:Object'"),
    ("collections:OrderedDict", {}, "is not an Environment: it lacks tasks, reset, step, available_actions"),
])
def test_a_wrong_target_is_a_config_error_naming_it_at_load(examples_on_path, target, kwargs, says):
    with pytest.raises(ConfigError) as error:
        import_config(target, **kwargs)
    assert "env.target" in str(error.value) and target in str(error.value) and says in str(error.value)


def test_bad_keyword_arguments_or_a_non_env_result_are_named_when_built(examples_on_path):
    with pytest.raises(ConfigError, match=r"custom_env:GuessEnv.*calling it with \{'colour': 'red'\}"):
        build_env(import_config(colour="red").env)
    with pytest.raises(ConfigError, match=r"'os:getcwd' gave str, not an Environment: it lacks name"):
        build_env(import_config("os:getcwd").env)  # a function, so only its result can tell


def test_agentloop_run_rejects_a_wrong_target_before_any_model_starts(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"env": {"kind": "import", "target": "no_such_module_xyz:Env"},
                                    "llm": {"model": str(tmp_path / "no-model-here")}}))
    result = CliRunner().invoke(app, ["run", str(path), f"loop.runs_dir={tmp_path}"])
    assert result.exit_code == 2 and "no_such_module_xyz:Env" in result.output, result.output
    assert not (tmp_path / "default").exists()


@pytest.mark.slow
def test_agentloop_run_runs_a_tiny_round_on_an_env_named_by_import_path(tmp_path, tiny_model_dir,
                                                                           examples_on_path):
    config = {"env": {"kind": "import", "target": TARGET, "kwargs": {"num_tasks": 2}},
              "llm": {"kind": "transformers", "model": str(tiny_model_dir)},
              "agent": {"max_steps": 2, "max_new_tokens": 6},
              "search": {"simulations": 1, "k": 2, "max_depth": 2, "max_new_tokens": 6},
              "loop": {"name": "guess", "runs_dir": str(tmp_path), "rounds": 1, "train_tasks": 2,
                       "test_tasks": 2, "search_batch": 2},
              "trainer": {"sft": {"progress": False}, "dpo": {"progress": False}}}
    path = tmp_path / "guess.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "| 1 |" in result.output
    trees = list((tmp_path / "guess" / "round-1" / "trees").glob("*.json"))
    assert len(trees) == 2 and all("guess-train-" in t.name for t in trees)


@pytest.mark.slow
def test_the_custom_env_example_runs_with_tiny(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / "custom_env.py"), "--tiny"],
                            capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| 1 |" in result.stdout
