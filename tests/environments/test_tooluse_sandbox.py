"""Hostile tool calls: nothing a model writes runs. Imports, dunder attributes, huge numbers,
long inputs and fuzzed text all come back as an error observation, the episode goes on,
and no file is opened, no process spawned, nothing evaluated while they are handled."""

from __future__ import annotations

import builtins
import json
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentloop.environments.tooluse import JsonCallCodec, ToolUseEnv, dispatch
from agentloop.environments.tooluse.calculator import ToolError, evaluate
from agentloop.environments.tooluse.tasks import call
from agentloop.environments.tooluse.tools import World

HOSTILE_EXPRESSIONS = [
    "__import__('os').system('touch /tmp/agentloop-pwned')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('/etc/passwd').read()",
    "9 ** 9 ** 9", "10 ** 400", "2 ** -1074 ** 2", "1e308 * 10", "(" * 150 + "1" + ")" * 150,
    "1" * 300, "lambda: 0", "[x for x in range(10**9)]", "'a' * 10**9", "1 / 0", "True + 1",
    "(-8) ** 0.5", "exec('1')", "globals()", "x", "1 if 1 else 2", "{1: 2}", "",
]
HOSTILE_ACTIONS = [
    '__import__("os").system("touch /tmp/agentloop-pwned")',
    'os.system("ls")', 'eval(expression="1+1")', 'calculator(expression=__import__("os"))',
    '{"tool": "__import__", "arguments": {"name": "os"}}',
    '{"tool": "eval", "arguments": {"source": "1"}}',
    '{"tool": "calculator", "arguments": {"expression": "2", "__class__": 1}}',
    '{"tool": "calculator", "arguments": "2+2"}',
    '{"tool": "dispatch", "arguments": {}}', '{"tool": "TOOLS", "arguments": {}}',
    '{"tool": "calculator", "arguments": {"expression": "' + "9" * 5000 + '"}}',
    '{"tool": "add_to_cart", "arguments": {"item_id": "x", "quantity": true}}',
    '{"tool": "add_days", "arguments": {"date": "2026-01-01", "days": 1e300}}',
    "[" * 10000, "{" * 10000, '{"answer": {"x": 1}}', "calculator(**{'expression': '1'})",
]


@pytest.fixture
def no_host_access(monkeypatch):
    """Fail the test if anything opens a file, spawns a process or evaluates code (`compile`
    stays: `ast.parse` uses it to build a syntax tree, which runs nothing)."""
    def forbidden(name):
        def refuse(*args, **kwargs):
            raise AssertionError(f"{name} was called while a tool call was handled")
        return refuse
    for module, name in ((builtins, "open"), (builtins, "eval"), (builtins, "exec"),
                         (os, "system"), (os, "popen"), (os, "fork"), (os, "execv"), (os, "remove"),
                         (subprocess, "Popen")):
        monkeypatch.setattr(module, name, forbidden(f"{module.__name__}.{name}"))


@pytest.mark.parametrize("expression", HOSTILE_EXPRESSIONS)
def test_the_calculator_refuses_everything_but_arithmetic(expression):
    with pytest.raises(ToolError, match="calculator"):
        evaluate(expression)


def test_the_calculator_still_computes():
    assert evaluate("7 * 3.40 + 3 * 1.25") == 27.55 and evaluate("-(2 ** 10) // 3 % 7") == 1.0


def _episode():
    env = ToolUseEnv(difficulty="hard", num_tasks=5)
    env.reset(env.tasks("train")[0])
    return env


@pytest.mark.parametrize("action", HOSTILE_ACTIONS)
def test_hostile_actions_run_nothing_and_the_episode_goes_on(action, no_host_access):
    env = _episode()
    before = env.snapshot()
    result = env.step(action)
    assert result.info.get("invalid") and not result.terminated
    assert env.snapshot()[2:] == before[2:] and env.snapshot()[1] == before[1]
    assert not os.path.exists("/tmp/agentloop-pwned")
    assert env.step(env.solution(env.tasks("train")[0])[0]).info.get("invalid") is None


def test_tool_names_are_looked_up_only_in_the_allow_list():
    world = World()
    for name in ("__init__", "copy", "items", "_checkout", "evaluate", "dispatch"):
        with pytest.raises(ToolError, match="unknown tool"):
            dispatch(world, {"tool": name, "arguments": {}})
    with pytest.raises(ToolError, match="takes exactly"):
        dispatch(world, json.loads(call("weekday", date="2026-01-01", extra=1)))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(
    st.text(max_size=300),
    st.builds(lambda name, args: json.dumps({"tool": name, "arguments": args}),
              st.sampled_from(["calculator", "convert_units", "add_days", "weekday", "days_between", "search_items",
                               "add_to_cart", "checkout", "schedule_event", "get_weather", "translate", "__x__"]),
              st.dictionaries(st.sampled_from(["expression", "value", "from_unit", "to_unit", "date", "days",
                                               "query", "item_id", "quantity", "title", "city", "text", "x"]),
                              st.one_of(st.integers(-10**15, 10**15), st.floats(allow_nan=False), st.text(max_size=50),
                                        st.booleans(), st.none()), max_size=4)),
    st.builds(lambda e: json.dumps({"tool": "calculator", "arguments": {"expression": e}}),
              st.text(alphabet="0123456789+-*/%().e _abcxyz'", max_size=60)),
))
def test_fuzzed_actions_never_raise_and_touch_nothing(action):
    env = _episode()
    real_open, real_system, real_popen = builtins.open, os.system, subprocess.Popen
    calls = []
    builtins.open = lambda *a, **k: calls.append("open")  # noqa: E731
    os.system = lambda *a, **k: calls.append("system")  # noqa: E731
    subprocess.Popen = lambda *a, **k: calls.append("popen")  # noqa: E731
    try:
        result = env.step(action)
        env.step(action)
    finally:
        builtins.open, os.system, subprocess.Popen = real_open, real_system, real_popen
    assert not calls and isinstance(result.observation, str)
    assert len(result.observation) < 5000
    assert JsonCallCodec().parse(action) is None or isinstance(json.loads(JsonCallCodec().parse(action)), dict)
