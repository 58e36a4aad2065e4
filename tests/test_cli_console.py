"""What a user sees of `agentloop run` and `agentloop rollout`: the phases and the final
table; the engine and library output (a library logger's warning, a child process's raw
write to stderr, both provoked inside a phase) lands in the log file, and on the
console too with --verbose."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# Runs the CLI with every phase provoking library output the way the engines do it.
RUNNER = r"""
import logging, subprocess, sys
import agentloop.run.rounds as rounds
from agentloop.cli import app

original = rounds.build_agent
def provoking(*args, **kwargs):  # evaluate, collect and build build an agent
    logging.getLogger("transformers").warning("provoked WARNING inside a phase")
    subprocess.run([sys.executable, "-c", "import os; os.write(2, b'provoked raw write from a child\\n')"],
                   check=True)
    return original(*args, **kwargs)
rounds.build_agent = provoking
app(sys.argv[1:])
"""

PROVOKED = ["provoked WARNING inside a phase", "provoked raw write from a child"]
LIBRARY_LINE = re.compile(r"^(INFO|WARNING|DEBUG|ERROR)\b|transformers|torch|vllm|Loading weights", re.I | re.M)


def tiny_config(tmp_path: Path, model: Path) -> Path:
    config = {
        "env": {"kind": "maze", "size": 5, "num_tasks": 4},
        "llm": {"kind": "transformers", "model": str(model)},
        "loop": {"train_tasks": 2, "test_tasks": 2, "rounds": 1, "data": ["pairs", "best"],
                 "search_batch": 2, "runs_dir": str(tmp_path / "runs"), "name": "quiet"},
        "search": {"simulations": 2, "k": 2, "max_depth": 2, "max_new_tokens": 4},
        "agent": {"max_steps": 2, "max_new_tokens": 4},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def agentloop(*args: str, provoke: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", RUNNER] if provoke else [sys.executable, "-m", "agentloop.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_run_shows_the_phases_and_the_table_and_logs_the_rest(tmp_path, tiny_model_dir):
    config = tiny_config(tmp_path, tiny_model_dir)
    result = agentloop("run", str(config), provoke=True)
    console = result.stdout + result.stderr
    assert result.returncode == 0, console
    for line in PROVOKED:
        assert line not in console
    assert not LIBRARY_LINE.search(console), console
    for phase in ("round 0 · evaluate", "round 1 · collect", "round 1 · build", "round 1 · train",
                  "round 1 · evaluate"):
        assert phase in console
    assert "| round |" in console and "greedy 0/2" in console
    log = (tmp_path / "runs" / "quiet" / "logs" / "engine.log").read_text()
    for line in PROVOKED:
        assert log.count(line) == 4  # once per phase that builds an agent (not train)
    assert len(console.splitlines()) < 30


@pytest.mark.slow
def test_verbose_run_shows_the_logs_too(tmp_path, tiny_model_dir):
    config = tiny_config(tmp_path, tiny_model_dir)
    result = agentloop("run", str(config), "--verbose", provoke=True)
    console = result.stdout + result.stderr
    assert result.returncode == 0, console
    for line in PROVOKED:
        assert line in console
    assert "| round |" in console
    log = (tmp_path / "runs" / "quiet" / "logs" / "engine.log").read_text()
    assert all(line in log for line in PROVOKED)


@pytest.mark.slow
def test_rollout_is_quiet_and_says_where_its_log_is(tmp_path, tiny_model_dir):
    config = tiny_config(tmp_path, tiny_model_dir)
    output = tmp_path / "played.jsonl"
    result = agentloop("rollout", str(config), "--tasks", "2", "-o", str(output))
    console = result.stdout + result.stderr
    assert result.returncode == 0, console
    assert not LIBRARY_LINE.search(console), console
    assert "0/2 succeeded" in console and str(tmp_path / "played.log") in console
    assert (tmp_path / "played.log").read_text().strip()
