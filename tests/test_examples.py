"""Every example runs as a subprocess at a tiny budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_one_round_recipe_runs_end_to_end(tmp_path, tiny_model_dir):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "one_round.py"), "--env", "maze", "--model", str(tiny_model_dir),
         "--train-tasks", "2", "--test-tasks", "2", "--simulations", "2", "--max-steps", "2",
         "--max-new-tokens", "6", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "before: success" in result.stdout and "after: success" in result.stdout
    assert (tmp_path / "run" / "pairs.jsonl").is_file() and any((tmp_path / "run" / "trees").iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("config", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_shipped_config_runs_at_a_tiny_budget(tmp_path, tiny_model_dir, config):
    # The model section is swapped for a tiny CPU model (a GPU config names a
    # bigger model and vLLM); everything else is the shipped config, shrunk.
    data = yaml.safe_load((EXAMPLES / config).read_text())
    data["llm"] = {"kind": "transformers", "model": str(tiny_model_dir), "dtype": "float32"}
    for held_out in data.get("loop", {}).get("held_out", []):
        held_out.update(tasks=1, max_steps=2)
    path = tmp_path / config
    path.write_text(yaml.safe_dump(data))
    overrides = [f"loop.runs_dir={tmp_path}", "loop.rounds=1", "loop.train_tasks=2", "loop.test_tasks=2",
                 "loop.search_batch=2", "loop.evaluate_mcts=false", "search.simulations=1", "search.k=2",
                 "search.max_depth=2", "search.max_new_tokens=6", "agent.max_steps=2", "agent.max_new_tokens=6",
                 "env.num_tasks=4", "trainer.sft.progress=false", "trainer.dpo.progress=false"]
    if "webshop" in (EXAMPLES / config).read_text():
        overrides.append("env.num_products=500")
    result = subprocess.run([sys.executable, "-m", "agentloop.cli", "run", str(path), *overrides],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| 1 |" in result.stdout  # the table of rounds ends the run
    for held_out in data.get("loop", {}).get("held_out", []):
        assert f"| {held_out['name']} success % |" in result.stdout


@pytest.mark.slow
def test_langgraph_agent_recipe_runs_at_a_tiny_budget(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / "langgraph_agent.py"), "--tiny", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "before: success" in result.stdout and "after: success" in result.stdout
    from agentloop.jsonl import read_jsonl
    from agentloop.records import Trajectory

    trajectories = read_jsonl(tmp_path / "trajectories.jsonl", Trajectory)
    assert len(trajectories) == 4  # 2 train tasks x 2 samples
    assert all(t.steps[0].role == "plan" and t.steps[1].role == "act" for t in trajectories)
    assert all(s.token_ids and len(s.token_ids) == len(s.logprobs) for t in trajectories for s in t.steps)
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file()
