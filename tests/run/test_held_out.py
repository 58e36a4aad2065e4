"""`loop.held_out`: every round's model is also evaluated greedily on other benchmarks (for
example BFCL after training on the tool world), each written beside the run's own test
episodes and reported in its own column."""

from __future__ import annotations

import json

import pytest
from scripted_llm import ScriptedLLM

from agentloop.config import ConfigError, load_config
from agentloop.run.evaluate import evaluate_greedy
from agentloop.run.from_config import agent_sampling, build_agent, build_env
from agentloop.run.rounds import Session, evaluate_phase
from agentloop.run.rundir import RunDir

HELD_OUT = "loop.held_out=[{name: big-maze, env: {kind: maze, size: 9, num_tasks: 6}, tasks: 5, max_steps: 12}]"


def test_each_round_evaluates_the_held_out_benchmark_on_its_own_env(tmp_path):
    config = load_config(None, ["env.kind=maze", "env.size=5", "env.num_tasks=8", "loop.train_tasks=4",
                                "loop.test_tasks=4", "agent.max_steps=6", f"loop.runs_dir={tmp_path}", HELD_OUT])
    run = RunDir.open(config, False)
    run.set_model(0, "scripted")
    session = Session(config, run)
    session._llm, session._model = ScriptedLLM(), "scripted"

    evaluate_phase(session, 0)

    played = [json.loads(line) for line in (run.round_dir(0) / "test-trajectories-big-maze.jsonl").open()]
    assert len(played) == 5
    assert all(len(t["steps"]) <= 12 for t in played) and max(len(t["steps"]) for t in played) > 6
    saved = json.loads((run.round_dir(0) / "eval.json").read_text())
    assert set(saved) == {"greedy", "big-maze"}
    # The same figures as a greedy evaluation of that env by hand: the 9x9 maze, not the run's.
    big = build_env(config.loop.held_out[0].env, config.agent)
    expected = evaluate_greedy(big, big.tasks("test")[:5], build_agent(config.agent, ScriptedLLM(), big, False),
                               12, agent_sampling(config.agent, greedy=True))
    assert saved["big-maze"]["mean_reward"] == pytest.approx(expected.mean_reward)
    assert saved["big-maze"]["mean_steps"] == pytest.approx(expected.mean_steps)
    assert saved["big-maze"]["mean_steps"] != pytest.approx(saved["greedy"]["mean_steps"])
    phases = [json.loads(line)["phase"] for line in (run.root / "metrics.jsonl").open()]
    assert phases == ["evaluate-greedy", "evaluate-big-maze"]


@pytest.mark.parametrize(("held_out", "message"), [
    ("[{name: greedy, env: {kind: maze}}]", "names the run's own evaluation"),
    ("[{name: a, env: {kind: maze}}, {name: a, env: {kind: maze, size: 9}}]", "names must differ"),
    ("[{name: 'Big Maze', env: {kind: maze}}]", "string should match pattern"),
    ("[{name: b, env: {kind: nowhere}}]", "nowhere"),
])
def test_bad_held_out_entries_are_config_errors(held_out, message):
    with pytest.raises(ConfigError, match=f"(?i){message}"):
        load_config(None, ["env.kind=maze", f"loop.held_out={held_out}"])
