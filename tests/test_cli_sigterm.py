"""SIGTERM ends an `agentloop` command as Ctrl-C does: cleanup runs (so a vLLM engine's
processes stop with it), and the exit status says it was terminated."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import sys, time
from pathlib import Path
from agentloop.cli import app

@app.command()
def work(marker: str) -> None:
    try:
        Path(marker + ".started").write_text("")
        time.sleep(60)
    finally:
        Path(marker).write_text("cleaned up")

app(["work", sys.argv[1]])
"""


def test_sigterm_runs_the_commands_cleanup_and_exits_143(tmp_path: Path):
    marker = tmp_path / "marker"
    process = subprocess.Popen([sys.executable, "-c", SCRIPT, str(marker)])
    deadline = time.monotonic() + 60
    while not (tmp_path / "marker.started").exists():
        assert time.monotonic() < deadline and process.poll() is None, "the command did not start"
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert marker.read_text() == "cleaned up"
