"""Engine and library logs into a file, so that the console shows only agentloop's display.

vLLM, its engine-core process, Triton, torch and transformers write to stdout
and stderr from Python loggers, from C++ and from child processes; configuring
Python's `logging` reaches only the first. So `logs_to` redirects the file
descriptors 1 and 2 themselves (`os.dup2`) for as long as it is open: every
write of this process, and of every process it starts (they inherit the
descriptors), lands in the log file. What the user should see goes through the
stream it yields, a copy of the original stdout.

With `echo=True` (`--verbose`) the same lines also reach the original stderr:
the descriptors then point at a pipe that a thread copies to both.

Example:
    >>> with logs_to(Path("runs/demo/logs/engine.log")) as terminal:
    ...     llm = build_llm(config.llm)            # its logs go to the file
    ...     print("loaded", file=terminal)          # this reaches the terminal
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

LOG_NAME = "engine.log"
"""The file, in a command's log directory, that holds the engine and library output."""


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass  # closed or replaced by something without flush


def _copy(source: int, targets: list[int]) -> None:
    """Copy everything read from `source` to every target descriptor until end of
    file, then close them all (the descriptors are this thread's own)."""
    while chunk := os.read(source, 65536):
        for target in targets:
            try:
                os.write(target, chunk)
            except OSError:
                pass  # a closed terminal must not stop the log file
    for fd in (source, *targets):
        os.close(fd)


@contextmanager
def logs_to(path: str | os.PathLike, echo: bool = False) -> Iterator[TextIO]:
    """Send descriptors 1 and 2 (this process's and its children's) to `path`, appended.

    Yields a text stream on the original stdout for what the user should see.
    On exit both descriptors are restored, even when the body raises, so a
    traceback reaches the terminal.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _flush_python_streams()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(log, f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(sys.argv)}\n".encode())
    copier = None
    if echo:
        reader, writer = os.pipe()
        copier = threading.Thread(target=_copy, args=(reader, [os.dup(log), os.dup(saved[2])]), daemon=True)
        copier.start()
        target = writer
    else:
        target = log
    for fd in (1, 2):
        os.dup2(target, fd)
    if echo:
        os.close(writer)  # descriptors 1 and 2 hold the pipe now
    terminal = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        yield terminal
    finally:
        terminal.flush()
        _flush_python_streams()
        for fd in (1, 2):
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
        os.close(log)
        if copier is not None:
            # It ends once no process holds the pipe; a child still running keeps it open.
            copier.join(timeout=2.0)
        terminal.close()
