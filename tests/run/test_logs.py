"""`logs_to` sends everything written to descriptors 1 and 2 (Python loggers and prints,
raw writes, child processes) to the log file and keeps the terminal stream it yields
for the user; with echo the same lines also reach the terminal's stderr."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Runs in a subprocess: pytest's own capturing replaces sys.stdout/sys.stderr, which a
# user's process does not.
SCRIPT = r"""
import logging, os, subprocess, sys
from agentloop.run.logs import logs_to

logging.basicConfig(level=logging.INFO)  # a handler on sys.stderr, as libraries install them
with logs_to(sys.argv[1], echo=sys.argv[2] == "echo") as terminal:
    logging.getLogger("transformers.provoked").warning("WARNING from a library logger")
    print("INFO printed by Python")
    os.write(2, b"raw write to descriptor 2\n")
    subprocess.run([sys.executable, "-c",
                    "import os; os.write(2, b'child writes to descriptor 2\\n'); print('child prints')"],
                   check=True)
    print("for the user", file=terminal)
    if sys.argv[3] == "raise":
        raise RuntimeError("the work failed")
print("after the context")
"""

LIBRARY_LINES = ["WARNING from a library logger", "INFO printed by Python", "raw write to descriptor 2",
                 "child writes to descriptor 2", "child prints"]


def run_script(tmp_path, echo: bool = False, fail: bool = False) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "logs" / "engine.log"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(log), "echo" if echo else "quiet",
                             "raise" if fail else "ok"], capture_output=True, text=True, timeout=60)
    return result, log.read_text()


def test_library_output_goes_to_the_log_and_only_the_user_lines_to_the_terminal(tmp_path):
    result, log = run_script(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "for the user\nafter the context\n"
    assert result.stderr == ""
    for line in LIBRARY_LINES:
        assert line in log
    assert "for the user" not in log


def test_echo_also_shows_the_library_output(tmp_path):
    result, log = run_script(tmp_path, echo=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "for the user\nafter the context\n"
    for line in LIBRARY_LINES:
        assert line in log
        assert line in result.stderr


@pytest.mark.parametrize("echo", [False, True])
def test_a_failure_inside_reaches_the_terminal(tmp_path, echo):
    result, log = run_script(tmp_path, echo=echo, fail=True)
    assert result.returncode == 1
    assert "RuntimeError: the work failed" in result.stderr  # descriptors restored before the traceback
    assert "RuntimeError" not in log
    assert "after the context" not in result.stdout


def test_a_rerun_appends(tmp_path):
    run_script(tmp_path)
    _, log = run_script(tmp_path)
    assert log.count("WARNING from a library logger") == 2
