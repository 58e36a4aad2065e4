"""Checkpoints: the final Hugging Face model directory and the resumable training state.

The output directory of a training run ends up a plain Hugging Face model
directory (weights as safetensors, config, tokenizer, chat template) that
`AutoModelForCausalLM.from_pretrained`, `TransformersBackend`, `agentloop
serve` and vLLM load directly; LoRA adapters are merged into the weights
first. While training runs, `training_state/` inside it holds what a resumed
run needs (trainable weights, optimiser, schedule, RNG, step); every write goes
to a temporary name and is renamed, so a crash leaves the last complete state.
A model sharded over processes (`trainers.sharding`) is gathered into full
tensors first: `snapshot` is then collective and its result is on rank 0.

Example:
    >>> save_state(out / "training_state", step, snapshot(model, optimizer), scheduler)
    >>> step = load_state(out / "training_state", model, optimizer, scheduler)  # 0 if none
    >>> save_model_dir(model, tokenizer, out)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from agentloop.atomic import write_json_atomic
from agentloop.trainers.sharding import full_training_state, is_sharded, restore_training_state

_LATEST = "latest.json"


Snapshot = tuple[dict[str, torch.Tensor], dict[str, Any]]
"""Trainable weights (on the CPU) and the optimiser's state dict."""


def snapshot(model: Any, optimizer: torch.optim.Optimizer) -> Snapshot:
    """What `save_state` writes of the model and optimiser (collective when sharded)."""
    if is_sharded(model):
        return full_training_state(model, optimizer)
    weights = {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}
    return weights, optimizer.state_dict()


def save_state(state_dir: Path, step: int, state: Snapshot, scheduler: Any) -> Path:
    """Save everything needed to continue after optimiser step `step`, then drop older states."""
    weights, optimizer_state = state
    state_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".step-{step}.", dir=state_dir))
    save_file(weights, str(work / "trainable.safetensors"))
    torch.save({"optimizer": optimizer_state, "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
               work / "optimizer.pt")
    target = state_dir / f"step-{step}"
    shutil.rmtree(target, ignore_errors=True)
    os.replace(work, target)
    write_json_atomic(state_dir / _LATEST, {"step": step, "path": target.name})
    for old in state_dir.glob("step-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def load_state(state_dir: Path, model: Any, optimizer: torch.optim.Optimizer, scheduler: Any) -> int:
    """Restore the last saved state into the given objects; return its step (0 when none).
    Every process reads the files; a sharded model takes its shards of them."""
    latest = state_dir / _LATEST
    if not latest.is_file():
        return 0
    info = json.loads(latest.read_text(encoding="utf-8"))
    path = state_dir / info["path"]
    weights = load_file(str(path / "trainable.safetensors"))
    parameters = dict(model.named_parameters())
    missing = [n for n, p in parameters.items() if p.requires_grad and n not in weights]
    if missing:
        raise ValueError(f"saved state {path} lacks trainable weights {missing[:3]}")
    extra = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False)
    if is_sharded(model):
        restore_training_state(model, optimizer, weights, extra["optimizer"])
    else:
        with torch.no_grad():
            for name, value in weights.items():
                parameters[name].copy_(value.to(parameters[name].device))
        optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    torch.set_rng_state(extra["rng"])
    if extra.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(extra["cuda_rng"])
    return int(info["step"])


def merged_model(model: Any) -> Any:
    """The plain transformers model: LoRA adapters merged in, the peft wrapper removed."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def save_model_dir(model: Any, tokenizer: Any, directory: Path,
                   weights: dict[str, torch.Tensor] | None = None) -> Path:
    """Write `model` (adapters merged) and `tokenizer` as a Hugging Face directory;
    `weights` in place of the model's own (the full weights of a sharded model).

    Files are written to a temporary folder inside `directory` and moved into
    place one by one, so other files there (logs, training state) stay.
    """
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".model.", dir=directory))
    try:
        plain = merged_model(model)
        plain.save_pretrained(work, safe_serialization=True, state_dict=weights)
        tokenizer.save_pretrained(work)
        for item in work.iterdir():
            os.replace(item, directory / item.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return directory
