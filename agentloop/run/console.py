"""What a command shows while it works: one live display per phase.

A phase's display is a header row (`round 1 · collect`, time elapsed and, once
it is over, what it produced) with one row under it for each progress bar the
library opens meanwhile (`agentloop.progress`): items done / total, elapsed,
time left, and the running facts the loop reports (greedy success so far,
trees solved, the loss). A bar opened inside another (the search waves of one
inference step) leaves when it closes; the others stay, so a finished phase
reads as its summary. The logs go elsewhere (`agentloop.run.logs`).

Example:
    >>> with RunDisplay(Console()) as display:
    ...     display.start("round 1 · collect")
    ...     trees = search_tasks(...)               # its bars become rows
    ...     display.finish("solved 9/24 trees")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from agentloop.progress import bars_to


class PhaseDisplay(Protocol):
    """What the round loop tells whoever watches it."""

    def start(self, title: str) -> None:
        """A phase begins (the previous one is over)."""

    def finish(self, summary: str) -> None:
        """The phase that began last is over; `summary` says what it produced."""


class NoDisplay:
    """Nobody watches: phases are not announced (library bars stay tqdm's)."""

    def start(self, title: str) -> None:
        pass

    def finish(self, summary: str) -> None:
        pass


def time_left(elapsed: float, done: float, remaining: float) -> float | None:
    """Seconds until the rest is done at the pace so far; None before anything is done."""
    if done <= 0:
        return None
    return elapsed / done * remaining


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _Bar(BarColumn):
    def render(self, task: Task) -> Any:
        return Text("") if task.fields["header"] else super().render(task)


class _Count(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.fields["header"] or task.total is None:
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)} {task.fields['unit']}")


def _seconds_left(task: Task) -> float | None:
    """Time left from this session's pace (a resumed bar's first items were done earlier)."""
    if task.fields["header"] or task.total is None or task.finished:
        return None
    return time_left(task.elapsed or 0.0, task.completed - task.fields["initial"], task.total - task.completed)


class _TimeLeft(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.fields["header"] or task.total is None or task.finished:
            return Text("")
        return Text(f"left {_clock(_seconds_left(task))}")


def _columns() -> list[ProgressColumn]:
    """Fixed widths, so that the rows of a phase, and the phases one under another, line up."""
    return [TextColumn("{task.description}", table_column=Column(width=20, no_wrap=True)),
            _Bar(bar_width=16, table_column=Column(width=16)),
            _Count(table_column=Column(width=13, no_wrap=True)),
            TimeElapsedColumn(),
            _TimeLeft(table_column=Column(width=12, no_wrap=True)),
            TextColumn("{task.fields[facts]}")]


class _Row:
    """A library progress bar, drawn as a row of the phase's display."""

    def __init__(self, display: RunDisplay, progress: Progress, task: TaskID):
        self.display, self.progress, self.task = display, progress, task

    def update(self, n: int = 1) -> None:
        self.progress.update(self.task, advance=n)
        self.display._heartbeat()

    def set_postfix(self, **facts: Any) -> None:
        text = "  ".join(f"{name.replace('_', ' ')} {value}" for name, value in facts.items())
        self.progress.update(self.task, facts=text)
        self.display._heartbeat()

    def close(self) -> None:
        self.display._close(self.progress, self.task)


class RunDisplay:
    """A command's console: one live `rich` display per phase, and nothing else.

    Args:
        console: where to draw (the terminal; under `logs_to`, the stream it yields).
        clock: seconds, for elapsed and time left (a test passes its own).

    Inside `with RunDisplay(...)`, `agentloop.progress` bars become rows of the
    current phase (a bar opened with no phase begun starts one named after it).
    A console that is no terminal (a log file, CI, `nohup`) cannot be redrawn,
    so there one line says where the phase is every `HEARTBEAT_S` seconds, also
    while no bar moves (a timer thread asks too); each phase's full display is
    printed when it ends.
    """

    HEARTBEAT_S = 60.0

    def __init__(self, console: Console | None = None, clock: Callable[[], float] = time.monotonic):
        self.console = console or Console()
        self.clock = clock
        self._progress: Progress | None = None
        self._header: TaskID | None = None
        self._open: list[TaskID] = []
        self._bars = None
        self._last_heartbeat = clock()
        self._lock = threading.RLock()  # the timer thread and the command's thread
        self._ended = threading.Event()

    def __enter__(self) -> RunDisplay:
        self._bars = bars_to(self.bar)
        self._bars.__enter__()
        if not self.console.is_terminal:
            threading.Thread(target=self._beat, name="console-heartbeat", daemon=True).start()
        return self

    def __exit__(self, *error: Any) -> None:
        self._ended.set()
        self._stop()
        self._bars.__exit__(*error)

    def start(self, title: str) -> None:
        with self._lock:
            self._stop()
            self._progress = Progress(*_columns(), console=self.console, get_time=self.clock,
                                      refresh_per_second=2)
            self._header = self._progress.add_task(f"[bold]{escape(title)}[/]", total=None, header=True,
                                                   unit="", initial=0, facts="")
            self._open = []
            self._progress.start()

    def finish(self, summary: str) -> None:
        if self._progress is None:
            return
        self._progress.update(self._header, total=1, completed=1, facts=summary)
        self._stop()

    def bar(self, total: int, desc: str, unit: str, initial: int = 0) -> _Row:
        """A row for a library progress bar (`agentloop.progress.BarFactory`)."""
        if self._progress is None:
            self.start(desc)
        task = self._progress.add_task(f"  {escape(desc)}", total=total, completed=initial, header=False,
                                       unit=unit, initial=initial, facts="")
        self._open.append(task)
        return _Row(self, self._progress, task)

    def rows(self) -> list[dict[str, Any]]:
        """The current phase's rows as shown: description, done, total, left (seconds), facts."""
        if self._progress is None:
            return []
        return [{"description": Text.from_markup(t.description).plain.strip(), "done": int(t.completed),
                 "total": None if t.total is None else int(t.total), "left": _seconds_left(t),
                 "facts": t.fields["facts"]} for t in self._progress.tasks]

    def _beat(self) -> None:
        """The timer thread: a heartbeat when no bar moved for `HEARTBEAT_S` seconds."""
        while not self._ended.wait(self.HEARTBEAT_S / 4):
            self._heartbeat()

    def _heartbeat(self) -> None:
        """On a console that is no terminal, one line of progress every `HEARTBEAT_S` seconds."""
        with self._lock:
            now = self.clock()
            if self.console.is_terminal or now - self._last_heartbeat < self.HEARTBEAT_S:
                return
            rows = self.rows()
            if not rows:  # between phases
                return
            self._last_heartbeat = now
            said = [f"{r['description']} {r['done']}/{r['total']}"
                    + ("" if r["left"] is None else f", {_clock(r['left'])} left")
                    + (f", {r['facts']}" if r["facts"] else "") for r in rows[1:]]
            self.console.print(escape(f"[{time.strftime('%H:%M:%S')}] {rows[0]['description']}: "
                                      + ("; ".join(said) or "working")), highlight=False, soft_wrap=True)

    def _close(self, progress: Progress, task: TaskID) -> None:
        if progress is not self._progress or task not in self._open:
            return  # its phase is over
        nested = self._open.index(task) > 0
        self._open.remove(task)
        if nested:
            self._progress.remove_task(task)  # an inner loop's bar (one step of many): gone when done
        else:
            self._progress.stop_task(task)

    def _stop(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
            self._progress, self._header, self._open = None, None, []


def summarize(metrics: Sequence[dict[str, Any]]) -> str:
    """A phase's metric entries (as in metrics.jsonl) said in a few words."""
    return "  ".join(filter(None, (_said(m) for m in metrics)))


def _said(metric: dict[str, Any]) -> str:
    phase = metric.get("phase", "")
    if phase == "collect":
        return f"solved in search {metric.get('tasks_solved_in_search')}/{metric.get('trees')} trees"
    if phase == "build":
        return ", ".join(f"{metric[k]} {k}" for k in ("pairs", "revisions", "best") if k in metric)
    if phase == "train":
        losses = [f"{k[:-5]} loss {metric[k]:.4f}" for k in ("sft_loss", "dpo_loss")
                  if metric.get(k) is not None]
        return ", ".join(losses) or "nothing to train on"
    if phase.startswith("evaluate-"):
        total, rate = metric.get("num_tasks", 0), metric.get("success_rate", 0.0)
        return f"{phase[len('evaluate-'):]} {round(rate * total)}/{total} ({rate:.0%})"
    return ""


VERBOSE_HELP = "Also show the engine and library logs on the console (they always go to the log file)."


@contextmanager
def quiet_console(log: Path, verbose: bool) -> Iterator:
    """The console of a command that starts a model: engine and library output to `log`
    (and to the console too when `verbose`); on the console, the live display."""
    import typer

    from agentloop.run.logs import logs_to

    try:
        with logs_to(log, echo=verbose) as terminal:
            # A file or pipe gets full rows, a terminal its own width. Beside --verbose's log
            # lines a redrawn display would overwrite them: each phase is then printed once, at its end.
            console = Console(file=terminal, width=None if terminal.isatty() else 120,
                              force_interactive=False if verbose else None)
            with RunDisplay(console) as display:
                yield display
    except typer.Exit:
        raise
    except Exception:
        typer.echo(f"(engine and library logs: {log})", err=True)
        raise
