"""`agentloop search`, `build` and `show-tree` end to end on the maze with a tiny random model."""

from __future__ import annotations

import pytest
import torch
from agentloop.search import load_trees
from typer.testing import CliRunner

from agentloop.agents.parsing import well_formed
from agentloop.cli import app
from agentloop.jsonl import read_jsonl
from agentloop.records import PreferencePair, RevisionTrajectory, Trajectory


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from agentloop.llm.model_path import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id))
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _overrides(tiny_dir, *extra):
    config = tiny_dir / "run.yaml"
    config.write_text("env:\n  kind: maze\n")
    return [str(config), "env.num_tasks=2", f"llm.model={tiny_dir}", "agent.max_new_tokens=8",
            "search.simulations=2", "search.k=2", "search.max_depth=2",
            "search.max_new_tokens=8", *extra]


def test_search_build_show(tiny_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "s"
    result = runner.invoke(app, ["search", *_overrides(tiny_dir), "--tasks", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "reward: " in result.output and "tasks solved" in result.output
    trees = load_trees(out / "trees")
    assert len(trees) == 2 and all(t.node(t.root)["visits"] == 2 for t in trees)
    assert len(read_jsonl(out / "trajectories.jsonl", Trajectory)) == sum(
        len(list(t.leaves())) for t in trees)

    data = tmp_path / "data"
    result = runner.invoke(app, ["build", str(out / "trees"), *_overrides(tiny_dir),
                                 "-o", str(data), "--threshold", "0.0", "--alpha", "0.0",
                                 "--beta", "0.0", "--min-reward", "0.0"])
    assert result.exit_code == 0, result.output
    read_jsonl(data / "pairs.jsonl", PreferencePair)
    # the tiny random model rarely writes the asked-for format; only such turns are trained
    best = read_jsonl(data / "best.jsonl", RevisionTrajectory)
    assert all(well_formed(m.content) for r in best for m, f in zip(r.messages, r.train) if f)
    read_jsonl(data / "revisions.jsonl", RevisionTrajectory)

    tree_file = sorted((out / "trees").glob("*.json"))[0]
    result = runner.invoke(app, ["show-tree", str(tree_file), "--png", str(tmp_path / "t.png"),
                                 "--html", str(tmp_path / "t.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.png").stat().st_size > 1000 and (tmp_path / "t.html").exists()
    assert runner.invoke(app, ["show-tree", str(tree_file)]).exit_code != 0


def test_search_at_inference_uses_the_critic(tiny_dir, tmp_path):
    result = CliRunner().invoke(app, ["search", *_overrides(tiny_dir, "search.value_source=critic"),
                                      "--split", "test", "--tasks", "1", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "critic: " in result.output and "tasks solved" in result.output
    (record,) = read_jsonl(tmp_path / "trajectories.jsonl", Trajectory)
    assert 1 <= record.num_steps <= 2
