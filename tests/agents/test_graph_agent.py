"""A user's LangGraph graph named in the config (`agent.kind: graph`) is the agent of
agentloop's workflows: the config checks the target, build_env/build_agent give the
graph as a GraphEnv and its GraphAgent, the episode runner plays it with the graph's
own prompts, and `agentloop run` goes through collect, build, train and evaluate with
it (the example's graph, `examples/langgraph_agent.py:build_graph`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentloop.agents.graph_search import GraphAgent, GraphEnv
from agentloop.config import ConfigError, load_config
from agentloop.run.episodes import run_episodes
from agentloop.run.from_config import agent_sampling, build_agent, build_env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TARGET = "langgraph_agent:build_graph"


@pytest.fixture
def examples_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))


@pytest.mark.parametrize("overrides, message", [
    (["agent.kind=graph"], "needs agent.target"),
    (["agent.kind=graph", "agent.target=no_such_module:build"], "cannot import 'no_such_module'"),
    (["agent.target=langgraph_agent:build_graph"], "are for agent.kind 'graph'"),
])
def test_the_config_checks_the_graph_target(examples_on_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_a_configured_graph_plays_episodes_with_its_own_prompts(examples_on_path, tiny_model_dir):
    from agentloop.llm.transformers_backend import TransformersBackend

    config = load_config(None, ["agent.kind=graph", f"agent.target={TARGET}", "agent.max_new_tokens=4",
                                "env.num_products=500", "env.num_tasks=2", "env.max_steps=2"])
    env = build_env(config.env, config.agent)
    agent = build_agent(config.agent, TransformersBackend.from_pretrained(tiny_model_dir), env)
    assert isinstance(env, GraphEnv) and isinstance(agent, GraphAgent)
    trajectories = run_episodes(env, env.tasks("test")[:2], agent, max_steps=3, concurrency=2,
                                sampling=agent_sampling(config.agent, greedy=True), progress=False)
    assert len(trajectories) == 2
    for trajectory in trajectories:
        paused = [json.loads(step.observation) for step in trajectory.steps]
        assert [p["node"] for p in paused] == ["plan", "act", "act"]
        # The act prompt shows the plan the model wrote in the plan step of the same episode.
        assert f"Plan: {trajectory.steps[0].completion.strip()}" in paused[1]["prompt"][-1]["content"]
        assert trajectory.instruction in paused[1]["prompt"][-1]["content"]
        assert all(s.token_ids and len(s.token_ids) == len(s.logprobs) for s in trajectory.steps)


@pytest.mark.slow
def test_agentloop_run_trains_a_graph_agent_for_a_round(tmp_path, tiny_model_dir):
    config = tmp_path / "graph.yaml"
    config.write_text(
        "env: {kind: webshop, num_products: 500, num_tasks: 4, max_steps: 3}\n"
        f"llm: {{kind: transformers, model: {tiny_model_dir}}}\n"
        f"agent: {{kind: graph, target: '{TARGET}', max_steps: 4, max_new_tokens: 6}}\n"
        # A random model never buys: keep every best path, to train something.
        "build: {well_formed_only: false, best_min_reward: 0.0}\n")
    overrides = [f"loop.runs_dir={tmp_path}", "loop.name=g", "loop.rounds=1", "loop.train_tasks=2",
                 "loop.test_tasks=2", "loop.search_batch=2", "search.simulations=1", "search.k=2",
                 "search.max_depth=3", "search.max_new_tokens=6", "trainer.sft.progress=false"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "agentloop.cli", "run", str(config), *overrides],
                            capture_output=True, text=True, timeout=900, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    round_dir = tmp_path / "g" / "round-1"
    best = [json.loads(line) for line in (round_dir / "best.jsonl").read_text().splitlines()]
    assert best and best[0]["messages"][0]["content"].startswith("You plan a purchase")  # the graph's prompt
    assert (round_dir / "checkpoint" / "model.safetensors").is_file() and (round_dir / "eval.json").is_file()
