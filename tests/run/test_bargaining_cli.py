"""`agentloop selfplay` and `agentloop icl-aif` from examples/negotiation.yaml at a tiny
budget, on a tiny random model (its lines are noise, but every game and file comes out)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from agentloop.cli import app
from agentloop.jsonl import read_jsonl
from agentloop.records import Trajectory

TINY = ["llm.kind=transformers", "agent.max_new_tokens=8", "selfplay.games=3", "selfplay.max_turns=4",
        "selfplay.replays=2", "env.max_exchanges=2"]


@pytest.mark.slow
def test_selfplay_writes_both_roles_and_a_summary(tiny_model_dir, tmp_path):
    out = tmp_path / "sp"
    result = CliRunner().invoke(app, ["selfplay", "examples/negotiation.yaml", f"llm.model={tiny_model_dir}",
                                      *TINY, "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = read_jsonl(out / "games.jsonl", Trajectory)
    assert len(records) == 6
    assert sorted(r.role for r in records) == ["buyer"] * 3 + ["seller"] * 3
    assert all(step.role == r.role for r in records for step in r.steps)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["games"] == 3 and "deal_rate" in summary and "mean_price" in summary
    assert "deal rate" in result.output


@pytest.mark.slow
def test_icl_aif_runs_every_mode_and_prints_the_table(tiny_model_dir, tmp_path):
    out = tmp_path / "aif"
    result = CliRunner().invoke(app, ["icl-aif", "examples/negotiation.yaml", f"llm.model={tiny_model_dir}",
                                      *TINY, "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = json.loads((out / "icl-aif.json").read_text())
    assert set(table) == {"none", "constant", "ai"} and table["ai"][0]["played"] == 3
    assert (out / "icl-aif.sqlite").exists() and "| ai | 1 | 3 |" in result.output


def test_selfplay_refuses_another_environment(tmp_path):
    result = CliRunner().invoke(app, ["selfplay", "examples/default.yaml", "-o", str(tmp_path)])
    assert result.exit_code != 0 and "env.kind=negotiation" in result.output
