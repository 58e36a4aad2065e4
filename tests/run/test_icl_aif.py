"""ICL-AIF as a LangGraph graph: the seller replays with feedback, the unroll stops at the
paper's rule, the table per game index, and a SIGKILLed run resumes losing nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from icl_aif_script import ScriptedLLM

from agentloop.environments.negotiation import NegotiationEnv
from agentloop.run.icl_aif import CONSTANT_FEEDBACK, feedback_table, run_experiments

SCRIPT = Path(__file__).with_name("icl_aif_script.py")


def _tasks(n=2):
    env = NegotiationEnv(num_tasks=60)
    return [t for t in env.tasks("test") if t.data["low"] == 10.0][:n]


def test_feedback_modes_replay_the_seller_and_stop_by_the_papers_rule(tmp_path):
    results = asyncio.run(run_experiments(ScriptedLLM(), _tasks(), ["none", "constant", "ai"], 4,
                                          tmp_path / "aif.sqlite"))
    by_mode = {r["mode"]: r for r in results[::2]}
    # No feedback: greedy replays are identical games at $16.
    assert [g["price"] for g in by_mode["none"]["games"]] == [16.0] * 4
    # Told to beat $16 the seller holds at $17 and the buyer gives in; told to beat $17 it
    # holds at $18, the exchanges run out without a deal, and the unroll stops there.
    constant = by_mode["constant"]["games"]
    assert [g["price"] for g in constant] == [16.0, 17.0, None] and constant[0]["feedback"] == CONSTANT_FEEDBACK
    assert by_mode["ai"]["games"][0]["feedback"].startswith("1. Open high.")
    table = feedback_table(results, 4)
    assert [row["played"] for row in table["constant"]] == [2, 2, 2, 0]
    assert [row["mean_price"] for row in table["ai"][:3]] == [16.0, 17.0, None]
    assert table["none"][2]["mean_price"] == 16.0 and table["constant"][2]["deal_rate"] == 0.0


@pytest.mark.slow
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    whole = tmp_path / "whole.json"
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "whole.sqlite"), str(whole)],
                   check=True, env=env, timeout=120)
    database, resumed = tmp_path / "killed.sqlite", tmp_path / "resumed.json"
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(database), str(resumed), "0.05"], env=env)
    deadline = time.time() + 60
    while time.time() < deadline:  # kill once some checkpoints exist, mid-run
        time.sleep(0.2)
        if database.exists() and _checkpoints(database) > 40:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not resumed.exists() and _checkpoints(database) > 0
    subprocess.run([sys.executable, str(SCRIPT), str(database), str(resumed)], check=True, env=env,
                   timeout=120)
    assert json.loads(resumed.read_text()) == json.loads(whole.read_text())


def _checkpoints(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=1) as connection:
            return connection.execute("select count(*) from checkpoints").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
