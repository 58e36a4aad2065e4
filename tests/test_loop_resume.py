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
    "build": {"best_min_reward": 0.0},
    "trainer": {"sft": {"epochs": 2, "batch_size": 2, "save_every": 1, "progress": False},
                "dpo": {"epochs": 2, "batch_size": 1, "save_every": 1, "progress": False}},
}

# Each entry patches one function of the running loop so that the process
# SIGKILLs itself in the middle of that phase, after some of its work is saved.
KILLS = {
    "collect": ("agentloop.loop", "save_trees", 1),           # after the first tree group
    "build": ("agentloop.loop", "write_jsonl", 2),            # after pairs.jsonl, before the rest
    "train": ("agentloop.trainers.loop", "save_state", 1),    # after the first saved step
    "evaluate": ("agentloop.jsonl.JsonlWriter", "write", 1),  # after the first test episode
}

RUNNER = """
import os, signal, sys, importlib, yaml
from agentloop.config import parse_config
from agentloop.loop import run_rounds
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


def artefacts(root: Path) -> dict[str, object]:
    """Everything a run produced that must not depend on interruptions."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.suffix == ".json" and "/trees/" in f"/{relative}":
            found[relative] = json.loads(path.read_text())
        elif path.name in ("pairs.jsonl", "revisions.jsonl", "best.jsonl", "trajectories.jsonl",
                           "test-trajectories.jsonl", "eval.json"):
            found[relative] = path.read_text()
    found["metrics"] = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                        for line in (root / "metrics.jsonl").read_text().splitlines()]
    found["done"] = json.loads((root / "state.json").read_text())["done"]
    return found


def write_config(directory: Path, model: Path, name: str) -> Path:
    """A config whose run lives in directory/name/run (same run name everywhere: it is in the records)."""
    config = json.loads(json.dumps(CONFIG))
    config["llm"] = {"model": str(model)}
    config["loop"].update(runs_dir=str(directory / name), name="run")
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_sigkill_in_each_phase_then_resume_equals_uninterrupted(tmp_path, tiny_model_dir):
    reference = write_config(tmp_path, tiny_model_dir, "reference")
    assert run_loop(reference) == 0
    expected = artefacts(tmp_path / "reference" / "run")
    assert any("/trees/" in f"/{k}" for k in expected) and expected["done"][-1] == "round-1/evaluate"
    for phase, kill in KILLS.items():
        config = write_config(tmp_path, tiny_model_dir, f"killed-{phase}")
        assert run_loop(config, kill) == -9, f"the run was not killed in {phase}"
        state = tmp_path / f"killed-{phase}" / "run" / "state.json"
        done = json.loads(state.read_text())["done"] if state.exists() else []
        assert f"round-1/{phase}" not in done
        assert run_loop(config) == 0
        assert artefacts(tmp_path / f"killed-{phase}" / "run") == expected, f"resume after a kill in {phase} differs"


@pytest.mark.parametrize("override,message", [
    ("search.simulatoins=2", "unknown key 'search.simulatoins'"),
    ("search.k=many", "search.k"),
    ("llm.model=/no/such/model", "/no/such/model"),
    ("env.kind=atlantis", "atlantis"),
])
def test_bad_config_fails_before_any_work(tmp_path, override, message):
    result = subprocess.run([sys.executable, "-m", "agentloop.cli", "run", override,
                             f"loop.runs_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert not any(tmp_path.iterdir()), "work started before the config was checked"
