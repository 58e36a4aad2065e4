"""The commands that only generate (`agentloop rollout`, `agentloop search`) work with
`llm.kind=openai` against a served model; the training loop refuses it at config load
(tests/test_config.py), since the server cannot load the loop's new checkpoints."""

from __future__ import annotations

import json

from serving_fixtures import MODEL_NAME, served, tiny_dir, tiny_llm  # noqa: F401 (fixtures)
from typer.testing import CliRunner

from agentloop.cli import app

MAZE = ["env.kind=maze", "env.size=5", "agent.max_steps=2", "agent.max_new_tokens=8"]


def test_rollout_and_search_with_a_served_model(served, tiny_dir, tmp_path):  # noqa: F811
    url, batcher = served
    llm = ["llm.kind=openai", f"llm.base_url={url}", f"llm.model={MODEL_NAME}", f"llm.tokenizer={tiny_dir}"]
    output = tmp_path / "rollouts.jsonl"
    result = CliRunner().invoke(app, ["rollout", *MAZE, *llm, "--tasks", "2", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "/2 succeeded" in result.output
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 2 and all(line["steps"] for line in lines)
    calls = batcher.calls
    trees = tmp_path / "trees"
    result = CliRunner().invoke(app, ["search", *MAZE, *llm, "search.simulations=2", "search.k=2",
                                      "search.max_depth=2", "search.max_new_tokens=8", "--tasks", "1",
                                      "--output", str(trees)])
    assert result.exit_code == 0, result.output
    assert any(trees.iterdir()) and batcher.calls > calls  # the trees came from the server


def test_serve_refuses_eager_for_a_backend_that_does_not_compile():
    result = CliRunner().invoke(app, ["serve", "default", "--backend", "transformers", "--eager"])
    assert result.exit_code != 0 and "only the vllm backend compiles" in result.output
