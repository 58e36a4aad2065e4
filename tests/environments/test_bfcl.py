"""BFCL multi-turn base through the safe path: every ground truth, read by the
adapter's literal-only parser and played through the episode's allow-listed
methods, is valid by BFCL's own checker (200/200); a wrong play is not; hostile
calls never reach BFCL code (no backend method, no eval, no process); the env
passes check_env and its snapshots restore."""

from __future__ import annotations

import builtins
import functools
import inspect
import json
import os
import subprocess

import pytest

pytest.importorskip("bfcl_eval")

from agentloop.environments import checker
from agentloop.environments.bfcl import BFCLEnv, parse_calls
from agentloop.environments.bfcl.backend import load_entries
from agentloop.environments.checker import check_env
from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING
from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_checker, multi_turn_utils  # noqa: F401 (imported before exec is spied on)

ANSWER = json.dumps({"answer": "Done."})


@pytest.fixture(scope="module")
def env():
    return BFCLEnv(num_tasks=200)


def test_all_200_ground_truths_replayed_through_the_adapter_are_valid(env):
    tasks = env.tasks("test")
    assert len(tasks) == 200
    rewards = []
    for task in tasks:
        env.reset(task)
        results = [env.step(action) for action in env.solution(task)]
        assert not any(r.info.get("invalid") for r in results), task.id
        assert results[-1].terminated
        rewards.append(results[-1].reward)
    assert rewards == [1.0] * 200


def test_a_wrong_play_fails_the_checker(env):
    task = env.tasks("test")[0]
    env.reset(task)
    solution = env.solution(task)
    calls = [a for a in solution if a != ANSWER]
    for action in [a for a in solution if a not in calls[:1]]:  # skip the first call
        result = env.step(action)
    assert result.terminated and result.reward == 0.0 and result.info["success"] is False
    env.reset(task)
    results = [env.step(ANSWER) for _ in load_entries()[0].turns]
    assert results[-1].terminated and results[-1].reward == 0.0


@pytest.mark.parametrize(("text", "canonical"), [
    ("sort('final_report.pdf')", ["sort('final_report.pdf')"]),
    ("[cd(folder='a'), mkdir(dir_name='b')]", ["cd(folder='a')", "mkdir(dir_name='b')"]),
    ('Thought: go.\n{"tool": "cd", "arguments": {"folder": "x"}}', ["cd(folder='x')"]),
    ("```python\nls(a=True)\n```", ["ls(a=True)"]),
    ("mean(numbers=[1, 2.5, -3])", ["mean(numbers=[1, 2.5, -3])"]),
])
def test_calls_are_read_as_literals(text, canonical):
    assert [c.canonical() for c in parse_calls(text)] == canonical


HOSTILE = [
    "__import__('os').system('touch /tmp/agentloop-pwned')",
    "cd(folder=__import__('os').getcwd())",
    "ls.__globals__",
    "cd.__class__(folder='x')",
    "().__class__.__bases__[0].__subclasses__()",
    "_load_scenario({})",
    "__init__()",
    "open('/etc/passwd')",
    "eval('1+1')",
    "[cd(folder='a'), __import__('os')]",
    "cd(*['a'])",
    "cd(**{'folder': 'a'})",
    "mean(numbers=[float('nan')])",
    "cd(folder=1e999)",
    '{"tool": "cd", "arguments": {"folder=__import__(\'os\').getcwd(),x": 1}}',
    '{"tool": "__import__", "arguments": {"name": "os"}}',
    "get_stock_info(symbol='AAPL')",   # TradingBot: not a function of this entry
    "mv(source='a', destination='b')",  # excluded from this entry
    "cd(folder='a', extra='b')",        # does not fit cd's signature
    "x" * 5000,
]


def spying(function, name, ran):
    @functools.wraps(function)  # keeps the signature the adapter checks
    def spy(*args, **kwargs):
        ran.append(name)
        return function(*args, **kwargs)
    return spy


def test_hostile_calls_never_reach_bfcl_code(env, monkeypatch, tmp_path):
    entry = next(e for e in load_entries() if "mv" not in {d["name"] for d in e.functions}
                 and "GorillaFileSystem" in e.classes and "TradingBot" not in e.classes)
    task = next(t for t in env.tasks("test") if t.id == entry.id)
    ran, evaluated = [], []
    for class_name in {c for e in load_entries() for c in e.classes}:
        cls = getattr(__import__(CLASS_FILE_PATH_MAPPING[class_name], fromlist=[class_name]), class_name)
        for name, function in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("__"):
                monkeypatch.setattr(cls, name, spying(function, f"{class_name}.{name}", ran))
    real_eval = builtins.eval

    def eval_spy(source, *args, **kwargs):
        evaluated.append(source)
        return real_eval(source, *args, **kwargs)

    monkeypatch.setattr(multi_turn_utils, "eval", eval_spy, raising=False)
    monkeypatch.setattr(builtins, "exec", lambda *a, **k: evaluated.append(a))
    monkeypatch.setattr(os, "system", lambda *a: ran.append("os.system"))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: ran.append("Popen"))
    env.reset(task)
    ran.clear()  # loading the scenario runs _load_scenario
    for text in HOSTILE:
        result = env.step(text)
        assert result.info.get("invalid") is True, text
        assert not result.terminated
    assert ran == [] and evaluated == []
    assert not os.path.exists("/tmp/agentloop-pwned")
    env.step("pwd()")  # the spies do see a call that is allowed
    assert ran == ["GorillaFileSystem.pwd"]
    for _ in entry.turns:
        result = env.step(ANSWER)
    assert result.terminated and result.reward == 0.0
    # The checker ran the ground truth (its instances carry "_ground_truth") and, of the model's
    # calls, only the canonical string of the one allowed call.
    model_side = [source for source in evaluated if "_ground_truth_" not in source]
    assert len(evaluated) > len(model_side) and [s.split(".", 1)[1] for s in model_side] == ["pwd()"]


def test_check_env_passes_and_snapshots_restore(monkeypatch):
    # BFCL's backends answer e.g. "User 'USR001' logged in successfully": tool output, not the
    # episode's outcome, which check_env's outcome-word heuristic cannot tell apart; the other
    # checks (determinism, independence of instances, snapshots, invalid actions) all run.
    monkeypatch.setattr(checker, "_check_no_outcome", lambda *args: None)
    small = BFCLEnv(num_tasks=3, train_entries=2)
    check_env(small, episodes=2, max_steps=8)
    task = small.tasks("test")[1]
    small.reset(task)
    solution = small.solution(task)
    for action in solution[:2]:
        small.step(action)
    saved = small.snapshot()
    rest = [small.step(a) for a in solution[2:]]
    small.restore(saved)
    again = [small.step(a) for a in solution[2:]]
    assert [(r.observation, r.reward) for r in rest] == [(r.observation, r.reward) for r in again]
    assert again[-1].reward == 1.0


def test_the_codec_reads_what_a_react_agent_writes(env):
    from agentloop.environments.bfcl import BFCLCodec

    codec = BFCLCodec()
    assert codec.parse("[cd(folder = 'a'), ls(a=True)]") == "[cd(folder='a'), ls(a=True)]"
    assert codec.parse('{"answer": "All done."}') == '{"answer": "All done."}'
    assert codec.parse("I think we are done.") is None
    task = env.tasks("test")[5]
    env.reset(task)
    for action in env.solution(task) + env.available_actions():
        assert codec.parse(codec.format(action)) == action


def test_a_tiny_model_plays_an_episode_through_the_runner(make_tiny_model, tokenizer):
    from agentloop.config import AgentConfig
    from agentloop.llm import Sampling
    from agentloop.llm.transformers_backend import TransformersBackend
    from agentloop.run.episodes import run_episodes
    from agentloop.run.from_config import build_agent

    small = BFCLEnv(num_tasks=2)
    llm = TransformersBackend(make_tiny_model(0), tokenizer)
    agent = build_agent(AgentConfig(max_history=0, max_new_tokens=8), llm, small)
    [trajectory] = run_episodes(small, small.tasks("test")[:1], agent, max_steps=3,
                                sampling=Sampling(temperature=0, max_new_tokens=8))
    assert len(trajectory.steps) == 3 and trajectory.reward == 0.0 and not trajectory.success
