"""The live display: library bars become rows of the phase with done / total, time left
at the pace so far and the running facts; inner bars leave when they close; a finished
phase leaves its summary line. Without a display the library draws tqdm bars."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from agentloop.progress import progress_bar
from agentloop.run.console import RunDisplay, summarize, time_left


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def shown():
    """A display on an in-memory console with a clock the test moves."""
    clock, out = Clock(), io.StringIO()
    with RunDisplay(Console(file=out, width=120), clock=clock) as display:
        yield display, clock, out


def row(display: RunDisplay, description: str) -> dict:
    (found,) = [r for r in display.rows() if r["description"] == description]
    return found


def test_time_left_is_the_pace_so_far():
    assert time_left(elapsed=10.0, done=1, remaining=3) == 30.0
    assert time_left(elapsed=10.0, done=0, remaining=4) is None


def test_a_library_bar_is_a_row_with_count_time_left_and_facts(shown):
    display, clock, _ = shown
    display.start("round 1 · evaluate")
    bar = progress_bar(total=4, desc="episodes", unit="ep")
    clock.now = 10.0
    bar.update(1)
    bar.set_postfix(success="1/1")
    episodes = row(display, "episodes")
    assert (episodes["done"], episodes["total"], episodes["facts"]) == (1, 4, "success 1/1")
    assert episodes["left"] == pytest.approx(30.0)
    assert row(display, "round 1 · evaluate")["left"] is None  # the header has no count


def test_time_left_counts_only_this_sessions_pace(shown):
    display, clock, _ = shown
    display.start("round 1 · train")
    bar = progress_bar(total=10, desc="sft", unit="steps", initial=6)  # resumed at step 6
    clock.now = 20.0
    bar.update(2)
    assert row(display, "sft")["left"] == pytest.approx(20.0)  # 10 s a step, 2 to go


def test_an_inner_bar_leaves_when_it_closes_and_an_outer_one_stays(shown):
    display, _, _ = shown
    display.start("round 0 · evaluate")
    outer = progress_bar(total=2, desc="act with search", unit="tasks")
    inner = progress_bar(total=4, desc="search x2 trees", unit="waves")
    inner.update(4)
    inner.close()
    assert [r["description"] for r in display.rows()] == ["round 0 · evaluate", "act with search"]
    outer.update(2)
    outer.close()
    assert row(display, "act with search")["done"] == 2


def test_a_finished_phase_leaves_its_summary(shown):
    display, clock, out = shown
    display.start("round 1 · collect")
    bar = progress_bar(total=4, desc="search x24 trees", unit="waves")
    bar.update(4)
    bar.set_postfix(solved="9/24")
    bar.close()
    clock.now = 75.0
    display.finish("solved in search 9/24 trees")
    assert display.rows() == []  # over: the next phase starts a new display
    text = out.getvalue()
    assert "round 1 · collect" in text and "solved in search 9/24 trees" in text
    assert "4/4 waves" in text and "solved 9/24" in text and "0:01:15" in text


def test_a_bar_with_no_phase_begun_starts_one(shown):
    display, _, _ = shown
    bar = progress_bar(total=3, desc="episodes", unit="ep")
    bar.update(1)
    assert [r["description"] for r in display.rows()] == ["episodes", "episodes"]


def test_without_a_display_bars_are_tqdm_or_nothing():
    from tqdm.auto import tqdm

    bar = progress_bar(total=2, desc="episodes", unit="ep")
    try:
        assert isinstance(bar, tqdm)
    finally:
        bar.close()
    silent = progress_bar(total=2, desc="episodes", unit="ep", enabled=False)
    assert not isinstance(silent, tqdm)
    silent.update(1)  # draws nothing, anywhere


def test_disabled_bars_do_not_reach_the_display_either(shown):
    display, _, _ = shown
    display.start("round 1 · train")
    progress_bar(total=2, desc="sft", unit="steps", enabled=False).update(1)
    assert [r["description"] for r in display.rows()] == ["round 1 · train"]


def test_summaries_of_the_loops_metrics():
    assert summarize([{"phase": "collect", "trees": 24, "tasks_solved_in_search": 9}]) == \
        "solved in search 9/24 trees"
    assert summarize([{"phase": "evaluate-greedy", "num_tasks": 50, "success_rate": 0.22},
                      {"phase": "evaluate-mcts", "num_tasks": 50, "success_rate": 0.3}]) == \
        "greedy 11/50 (22%)  mcts 15/50 (30%)"
    assert summarize([{"phase": "train", "sft_loss": 0.51234, "dpo_loss": None}]) == "sft loss 0.5123"
    assert summarize([{"phase": "train"}]) == "nothing to train on"
    assert summarize([{"phase": "build", "pairs": 12, "revisions": 0, "best": 3}]) == \
        "12 pairs, 0 revisions, 3 best"


def test_a_console_that_is_no_terminal_gets_a_progress_line_every_minute(shown):
    display, clock, out = shown
    display.start("round 1 · collect")
    bar = progress_bar(total=16, desc="search waves", unit="wave")
    clock.now = 30.0
    bar.update(2)
    assert "search waves" not in out.getvalue()  # under a minute: nothing yet, the phase still runs
    clock.now = 80.0
    bar.update(2)
    bar.set_postfix(solved="3/24")
    clock.now = 150.0
    bar.set_postfix(solved="5/24")
    lines = [line for line in out.getvalue().splitlines() if "search waves" in line]
    assert len(lines) == 2
    assert "round 1 · collect: search waves 4/16, 0:04:00 left" in lines[0]
    assert lines[1].endswith("search waves 4/16, 0:07:30 left, solved 5/24")


def test_the_progress_line_comes_also_while_no_bar_moves():
    """A search wave can run for many minutes without a bar update: the timer thread speaks."""
    import time

    out = io.StringIO()
    display = RunDisplay(Console(file=out, width=120))
    display.HEARTBEAT_S = 0.05
    with display:
        display.start("round 1 · collect")
        progress_bar(total=4, desc="search waves", unit="wave").update(1)
        time.sleep(0.5)  # no update meanwhile
    lines = [line for line in out.getvalue().splitlines() if "search waves 1/4" in line]
    assert len(lines) >= 2
