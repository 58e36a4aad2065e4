"""The action parser on what small models really write."""

from __future__ import annotations

import pytest

from agentloop.agents.parsing import parse_action

VERBS = ("search", "click")


@pytest.mark.parametrize("text,action", [
    ("Thought: find shoes.\nAction: search[red shoes]", "search[red shoes]"),
    ("Thought: find it.\n**Action:** `Search [red shoes`", "search[red shoes]"),
    ('Action: search["hair extension natural"]\nObservation: ...', "search[hair extension natural]"),
    ("Thought: I should click\nAction: click [B01234]]", "click[B01234]"),
    ("action: Click[< Prev]", "click[< Prev]"),
    ("Action: I think search[dress] is best", "search[dress]"),
    ("I will search. search[gluten free snacks]", "search[gluten free snacks]"),
    ("Thought: buy.\nAction 1: click[buy now]\nAction 2: click[next >]", "click[buy now]"),
    ("Thought: x\nAction:   search[  lots   of   space ]", "search[lots of space]"),
    ("Thought: the example says click[x] but\nAction: search[lamp]", "search[lamp]"),
    ("Thought: multi\nAction: search[line one\nline two]", "search[line one]"),
])
def test_tolerated_drifts(text, action):
    parsed = parse_action(text, VERBS)
    assert parsed.action == action and parsed.error is None


@pytest.mark.parametrize("text,error", [
    ("", "empty"),
    ("Thought: I am not sure what to do.", "no action"),
    ("Action: jump[high]", "no action"),
])
def test_failures_are_reported(text, error):
    parsed = parse_action(text, VERBS)
    assert parsed.action is None and error in parsed.error


def test_thought_is_kept():
    assert parse_action("Thought: look for lamps.\nAction: search[lamp]", VERBS).thought == "look for lamps."


def test_any_verb_without_a_verb_list():
    assert parse_action("Action: move[up]").action == "move[up]"
