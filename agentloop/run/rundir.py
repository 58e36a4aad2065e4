"""The run directory: where a run's artefacts live and which phases are finished.

    runs/NAME/config.yaml        resolved config
    runs/NAME/state.json         finished phases and the model of each round
    runs/NAME/round-K/...        trees/, trajectories.jsonl, pairs.jsonl, revisions.jsonl,
                                 best.jsonl, checkpoint/, eval.json
    runs/NAME/metrics.jsonl  report.md  plots/*.png

Every phase writes under a temporary name (`X.partial`) and renames it on
success; `state.json` is rewritten (atomically) last. A phase listed in
`state.json` is never run again; a `.partial` left by a crash is where the
phase resumes.

Example:
    >>> run = RunDir.open(config)   # refuses a changed config unless allowed
    >>> if not run.done("round-1/collect"): ...; run.mark_done("round-1/collect")
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from agentloop.atomic import write_atomic
from agentloop.config import RunConfig, dump_config, parse_config


class ConfigChangedError(RuntimeError):
    """The run directory was made with another config."""


def changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [k for key in keys for k in changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [prefix.rstrip(".")]


class RunDir:
    """A run directory and its `state.json`."""

    def __init__(self, root: Path, config: RunConfig):
        self.root = root
        self.config = config
        self.state: dict[str, Any] = {"done": [], "models": {}, "metrics": []}
        if (root / "state.json").is_file():
            self.state = json.loads((root / "state.json").read_text())

    @classmethod
    def open(cls, config: RunConfig, allow_changed: bool = False) -> RunDir:
        """Create the run directory of `config`, or reopen it to resume.

        Resuming with a different config raises `ConfigChangedError` naming the
        changed keys, unless `allow_changed` (the new config is then saved).
        """
        root = Path(config.loop.runs_dir) / config.loop.name
        saved = root / "config.yaml"
        if saved.is_file():
            old = parse_config(yaml.safe_load(saved.read_text())).model_dump(mode="json")
            changes = changed_keys(old, config.model_dump(mode="json"))
            if changes and not allow_changed:
                raise ConfigChangedError(
                    f"{root} was started with another config; changed: {', '.join(changes)}. "
                    "Use the same config to resume, another loop.name for a new run, "
                    "or --allow-changed-config to continue with the new values.")
        root.mkdir(parents=True, exist_ok=True)
        write_atomic(saved, dump_config(config))
        return cls(root, config)

    def round_dir(self, round: int) -> Path:
        return self.root / f"round-{round}"

    def done(self, phase: str) -> bool:
        return phase in self.state["done"]

    def mark_done(self, phase: str, metrics: list[dict[str, Any]] = ()) -> None:
        """Record `phase` as finished with its metrics: the last writes of every phase.

        metrics.jsonl is rewritten from the state, so a phase re-run after a
        crash never leaves a duplicate line.
        """
        self.state["done"].append(phase)
        self.state["metrics"].extend(metrics)
        write_atomic(self.root / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in self.state["metrics"]))
        write_atomic(self.root / "state.json", json.dumps(self.state, indent=2))

    def partial(self, final: Path) -> Path:
        """The temporary path a phase writes before renaming it to `final`."""
        return final.with_name(final.name + ".partial")

    def commit(self, final: Path) -> Path:
        """Rename the phase output `final.partial` to `final` (replacing a stale one)."""
        partial = self.partial(final)
        if final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        os.replace(partial, final)
        return final

    def model_of(self, round: int) -> str | None:
        """The model directory that round `round` ended with (round 0: the starting model)."""
        return self.state["models"].get(str(round))

    def set_model(self, round: int, model: str) -> None:
        """Note the model of round `round` (saved with the next `mark_done`)."""
        self.state["models"][str(round)] = model
