"""`agentloop report RUN`: the round table in the terminal, report.md and the plots rewritten."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from agentloop.cli import app

METRICS = [
    {"round": 0, "phase": "evaluate-greedy", "seconds": 60.0, "success_rate": 0.22,
     "success_ci95": [0.128, 0.352], "mean_reward": 0.25, "mean_steps": 5.6, "invalid_action_rate": 0.514},
    {"round": 1, "phase": "collect", "seconds": 240.0, "trees": 24, "tasks_solved_in_search": 16,
     "mean_tree_nodes": 17.9},
    {"round": 1, "phase": "build", "seconds": 0.1, "pairs": 19, "revisions": 0, "best": 40},
    {"round": 1, "phase": "train", "seconds": 120.0, "sft_examples": 40, "dpo_pairs": 19, "dpo_loss": 0.567},
    {"round": 1, "phase": "evaluate-greedy", "seconds": 30.0, "success_rate": 0.68,
     "success_ci95": [0.542, 0.792], "mean_reward": 0.72, "mean_steps": 3.7, "invalid_action_rate": 0.304},
]


def test_report_prints_every_round_and_rewrites_report_and_plots(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in METRICS))
    (tmp_path / "round-1").mkdir()
    (tmp_path / "round-1" / "train-dpo.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 0.69 - 0.02 * s, "margin": 0.03 * s}) + "\n" for s in (1, 2, 3)))
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| ") and "round" not in line]
    assert rows[0].startswith("| 0 | 22.0 (12.8-35.2) | 0.250 | 5.6 | 51.4 |")
    assert rows[1].startswith("| 1 | 68.0 (54.2-79.2) | 0.720 | 3.7 | 30.4 |  | 16/24 | 17.9 | 19 | 40 | 0.567 |")
    assert rows[1].endswith("| 6.5 |")  # minutes: all of round 1's phases
    assert "| 1 | 68.0" in (tmp_path / "report.md").read_text()
    assert all((tmp_path / "plots" / f"{name}.png").stat().st_size > 1000 for name in ("success", "dpo", "trees"))


def test_report_on_a_directory_without_metrics_says_so(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no metrics.jsonl" in result.output


def test_held_out_benchmarks_get_a_column_and_a_round_evaluates_once_in_its_minutes():
    from agentloop.run.report import round_table

    evaluate = {"seconds": 90.0, "success_ci95": [0.0, 0.1], "mean_reward": 0.0, "mean_steps": 4.0,
                "invalid_action_rate": 0.5}
    metrics = [{"round": 0, "phase": "evaluate-greedy", "success_rate": 0.2, **evaluate},
               {"round": 0, "phase": "evaluate-mcts", "success_rate": 0.3, **evaluate},
               {"round": 0, "phase": "evaluate-bfcl", "success_rate": 0.05, **evaluate}]
    header, _, row = round_table(metrics).splitlines()
    assert "| MCTS success % | bfcl success % | solved in search |" in header
    assert "| 30.0 | 5.0 |" in row
    assert row.endswith("| 1.5 |")  # the three entries share the evaluate phase's 90 s
