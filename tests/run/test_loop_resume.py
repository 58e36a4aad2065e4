"""The round loop survives SIGKILL in every phase: resumed, it finishes with the same
trees, datasets and metrics as an uninterrupted run with the same seed; and a bad
config fails before any work starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CONFIG = {
    "env": {"kind": "maze", "size": 5, "num_tasks": 4},
    "loop": {"train_tasks": 4, "test_tasks": 2, "rounds": 1, "data": ["pairs", "best", "revisions"],
             "search_batch": 2},
    "search": {"simulations": 2, "k": 2, "max_depth": 2, "max_new_tokens": 6},
    "agent": {"max_steps": 2, "max_new_tokens": 6},
    # the walker writes a bare `move[...]`, not the ReAct format: imitate it anyway
    "build": {"best_min_reward": 0.0, "well_formed_only": False},
    "trainer": {"sft": {"epochs": 2, "batch_size": 2, "save_every": 1, "progress": False},
                "dpo": {"epochs": 2, "batch_size": 1, "save_every": 1, "progress": False}},
}

# Each entry patches one function of the running loop so that the process
# SIGKILLs itself in the middle of that phase, after some of its work is saved.
KILLS = {
    "collect": ("agentloop.run.rounds", "save_trees", 1),           # after the first tree group
    "build": ("agentloop.run.rounds", "write_jsonl", 2),            # after pairs.jsonl, before the rest
    "train": ("agentloop.trainers.training", "save_state", 1),    # after the first saved step
    "evaluate": ("agentloop.jsonl.JsonlWriter", "write", 1),  # after the first test episode
}

RUNNER = """
import os, signal, sys, importlib, yaml
from agentloop.config import parse_config
from agentloop.run.rounds import run_rounds
config = parse_config(yaml.safe_load(open(sys.argv[1])))
if len(sys.argv) > 2:
    module_name, name, after = sys.argv[2], sys.argv[3], int(sys.argv[4])
    try:
        owner = importlib.import_module(module_name)
    except ModuleNotFoundError:
        module_name, cls = module_name.rsplit(".", 1)
        owner = getattr(importlib.import_module(module_name), cls)
    original, calls = getattr(owner, name), []
    def dying(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(1)
        if len(calls) >= after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    setattr(owner, name, dying)
run_rounds(config)
"""


def run_loop(config_path: Path, kill: tuple[str, str, int] | None = None) -> int:
    args = [sys.executable, "-c", RUNNER, str(config_path)] + ([kill[0], kill[1], str(kill[2])] if kill else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=900).returncode


def same(a, b) -> bool:
    """Equal, floats within 1e-4: a resumed evaluation batches its remaining episodes
    differently, which moves log-probs in the 6th decimal, never the text."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-4
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def artefacts(root: Path) -> dict[str, object]:
    """Everything a run produced that must not depend on interruptions."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.suffix == ".json" and "/trees/" in f"/{relative}":
            found[relative] = json.loads(path.read_text())
        elif path.name in ("pairs.jsonl", "revisions.jsonl", "best.jsonl", "trajectories.jsonl",
                           "test-trajectories.jsonl"):
            found[relative] = [json.loads(line) for line in path.read_text().splitlines()]
        elif path.name == "eval.json":
            found[relative] = path.read_text()
    found["metrics"] = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                        for line in (root / "metrics.jsonl").read_text().splitlines()]
    found["done"] = json.loads((root / "state.json").read_text())["done"]
    return found


@pytest.fixture(scope="module")
def walker_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model taught to answer maze pages with `move[<direction>]`, up most
    often (40/30/20/10%: greedy decoding has a clear favourite, so it does not flip
    with the batch's padding).

    A random model's actions are all invalid, and the builders never imitate an
    invalid action, so the loop would have nothing to train on; the walker's
    moves are valid often enough to give step pairs and best paths."""
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentloop.agents.protocol import AgentState, Turn
    from agentloop.config import parse_config
    from agentloop.run.from_config import build_agent, build_env

    config = parse_config(CONFIG)
    env, rng = build_env(config.env), random.Random(0)
    agent = build_agent(config.agent, None, env)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    moves = [f"move[{d}]" for d in ("up", "down", "left", "right")]
    weights = dict(zip(moves, (1.6, 1.2, 0.8, 0.4)))  # proportions 40/30/20/10
    examples = []  # (a prompt and a move, the move's length in tokens, its weight)
    for task in env.tasks("train"):
        first = env.reset(task)
        second = env.step(rng.choice(moves)).observation
        for state in (AgentState(task.instruction, first),
                      AgentState(task.instruction, second, (Turn(first, rng.choice(moves)),))):
            prompt = tokenizer.apply_chat_template([m.model_dump() for m in agent.prompt(state)],
                                                   tokenize=False, add_generation_prompt=True)
            # the prompt ends as the agent's does; the move is tokenised apart, as generated
            prompt_ids = tokenizer(prompt + agent.response_prefix, add_special_tokens=False).input_ids
            for move in moves:
                move_ids = tokenizer(move + tokenizer.eos_token, add_special_tokens=False).input_ids
                ids = torch.tensor([prompt_ids + move_ids])
                examples.append((ids, len(move_ids), weights[move]))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        for ids, answer, weight in examples:
            logits = model(input_ids=ids, logits_to_keep=answer + 1).logits[0, :-1]
            (weight * torch.nn.functional.cross_entropy(logits, ids[0, -answer:])).backward()
        optimizer.step()
        optimizer.zero_grad()
    path = tmp_path_factory.mktemp("walker")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_config(directory: Path, model: Path, name: str) -> Path:
    """A config whose run lives in directory/name/run (same run name everywhere: it is in the records)."""
    config = json.loads(json.dumps(CONFIG))
    config["llm"] = {"model": str(model)}
    config["loop"].update(runs_dir=str(directory / name), name="run")
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_sigkill_in_each_phase_then_resume_equals_uninterrupted(tmp_path, walker_dir):
    reference = write_config(tmp_path, walker_dir, "reference")
    assert run_loop(reference) == 0
    expected = artefacts(tmp_path / "reference" / "run")
    assert any("/trees/" in f"/{k}" for k in expected) and expected["done"][-1] == "round-1/evaluate"
    assert expected["round-1/best.jsonl"] and expected["round-1/pairs.jsonl"]  # something to train on
    for phase, kill in KILLS.items():
        config = write_config(tmp_path, walker_dir, f"killed-{phase}")
        assert run_loop(config, kill) == -9, f"the run was not killed in {phase}"
        state = tmp_path / f"killed-{phase}" / "run" / "state.json"
        done = json.loads(state.read_text())["done"] if state.exists() else []
        assert f"round-1/{phase}" not in done
        assert run_loop(config) == 0
        assert same(artefacts(tmp_path / f"killed-{phase}" / "run"), expected), \
            f"resume after a kill in {phase} differs"


@pytest.mark.parametrize("override,message", [
    ("search.simulatoins=2", "unknown key 'search.simulatoins'"),
    ("search.k=many", "search.k"),
    ("llm.model=/no/such/model", "/no/such/model"),
    ("env.kind=atlantis", "atlantis"),
])
def test_bad_config_fails_before_any_work(tmp_path, override, message):
    from typer.testing import CliRunner

    from agentloop.cli import app

    result = CliRunner().invoke(app, ["run", override, f"loop.runs_dir={tmp_path}"])
    assert result.exit_code == 2
    assert message in result.output
    assert not any(tmp_path.iterdir()), "work started before the config was checked"
