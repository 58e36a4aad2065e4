"""The tool world: the contract (check_env), scripted solutions pass every check, rewards
come from the world state and the answers' values, validation errors, follow-ups, and
tool calls read as data."""

from __future__ import annotations

import json

import pytest

from agentloop.agents.parsing import parse_action
from agentloop.environments import check_env
from agentloop.environments.protocol import Task
from agentloop.environments.tooluse import JsonCallCodec, ToolUseEnv
from agentloop.environments.tooluse.env import DEMONSTRATION_REQUEST
from agentloop.environments.tooluse.tasks import answer, call


@pytest.fixture(scope="module", params=["easy", "medium", "hard"])
def env(request):
    return ToolUseEnv(difficulty=request.param, num_tasks=20)


def test_check_env_passes(env):
    check_env(env)


def test_every_scripted_solution_passes_every_check(env):
    for task in env.tasks("train") + env.tasks("test"):
        env.reset(task)
        results = [env.step(action) for action in env.solution(task)]
        assert not any(r.info.get("invalid") for r in results)
        assert results[-1].terminated and results[-1].reward == 1.0 and results[-1].info["success"]


def test_splits_are_disjoint_and_the_kinds_of_each_difficulty_appear():
    for difficulty, kinds in {"easy": {"arithmetic", "direct", "weekday"}, "medium": {"conversion", "shopping"},
                              "hard": {"shopping_followup", "schedule"}}.items():
        env = ToolUseEnv(difficulty=difficulty, num_tasks=20)
        train, test = env.tasks("train"), env.tasks("test")
        assert not {t.instruction for t in train} & {t.instruction for t in test}
        assert {t.data["kind"] for t in train} == kinds


def _task(env, kind):
    return next(t for t in env.tasks("train") if t.data["kind"] == kind)


def test_a_wrong_answer_scores_only_what_the_world_shows():
    env = ToolUseEnv(difficulty="medium", num_tasks=20)
    task = _task(env, "shopping")
    env.reset(task)
    for action in env.solution(task)[:-1]:
        env.step(action)
    result = env.step(answer("It cost about 3 dollars"))
    assert result.terminated and result.reward == 0.5 and not result.info["success"]  # the order is right
    env.reset(task)
    result = env.step(answer(json.loads(env.solution(task)[-1])["answer"]))  # the total, but no order
    assert result.reward == 0.5


def test_calling_a_tool_fails_a_task_that_needs_none():
    env = ToolUseEnv(difficulty="easy", num_tasks=20)
    task = _task(env, "direct")
    env.reset(task)
    env.step(call("get_weather", city="Oslo"))
    result = env.step(env.solution(task)[-1])
    assert result.reward == 0.5 and not result.info["success"]


def test_too_little_stock_is_a_real_validation_error_and_the_follow_up_comes_after_the_answer():
    env = ToolUseEnv(difficulty="hard", num_tasks=20)
    task = _task(env, "shopping_followup")
    env.reset(task)
    scarce = next(row for row in task.data["items"] if row[3] == 1)
    before = env.snapshot()
    result = env.step(call("add_to_cart", item_id=scarce[0], quantity=3))
    assert result.info["invalid"] and "only 1 of" in result.observation
    assert env.snapshot()[1] == before[1] and env.snapshot()[2:] == before[2:]
    solution = env.solution(task)
    for action in solution[:4]:
        result = env.step(action)
    assert not result.terminated and task.data["requests"][1] in result.observation


def test_json_arguments_with_nested_brackets_are_read_whole():
    codec = JsonCallCodec()
    text = 'Thought: x\nAction: {"tool": "translate", "arguments": {"text": "a [b] {c} ]", "language": "fr"}}'
    parsed = parse_action(text, codec=codec)
    assert json.loads(parsed.action)["arguments"]["text"] == "a [b] {c} ]"
    assert codec.parse("add_days(date='2026-01-01', days=3)") == call("add_days", date="2026-01-01", days=3)
    assert codec.parse("Action: I am not sure") is None


def test_observations_are_self_contained_and_name_every_call():
    env = ToolUseEnv(difficulty="medium", num_tasks=20)
    task = _task(env, "conversion")
    env.reset(task)
    first, second = env.solution(task)[:2]
    env.step(first)
    observation = env.step(second).observation
    assert task.data["requests"][0] in observation and "convert_units" in observation and "calculator" in observation


def test_the_worked_example_is_an_episode_the_real_tools_play_out():
    # The prompt's example must show what the tools really return, or the model learns to
    # expect results it will never see.
    env = ToolUseEnv()
    request = DEMONSTRATION_REQUEST
    task = Task("worked-example", request, data={
        "requests": [request], "items": [], "solution": [],
        "checks": [{"type": "number", "turn": 0, "value": 7.4}]})
    shown = [m.content for m in env.demonstration if m.role == "user"]
    written = [m.content for m in env.demonstration if m.role == "assistant"]
    observations = [env.reset(task)]
    for completion in written:
        result = env.step(parse_action(completion, codec=env.action_codec).action)
        assert not result.info.get("invalid"), result.observation
        observations.append(result.observation)
    assert observations[:-1] == shown
    assert result.terminated and result.info["success"]
    assert '"tool"' in written[0] and '"answer"' in written[-1]  # a call, then the answer
