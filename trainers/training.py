"""The training loop both trainers share: AdamW, warm-up and decay, gradient
accumulation and clipping, bf16 autocast, per-step logs, a progress bar, and
resumption from the last saved step.

A trainer supplies the model, a deterministic plan of micro-batches per epoch
(so a resumed run sees the same batches) and a `step_fn(batch) -> (loss,
metrics)`; metrics are per-example tensors (reward margins, accuracy) that are
averaged over the optimiser step and logged.

Example:
    >>> result = run_training(model, tokenizer, plan, step_fn, config, out)
    >>> result.logs[-1]["loss"]
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from agentloop.trainers.checkpoint import load_state, save_model_dir, save_state, snapshot
from agentloop.trainers.config import TrainConfig
from agentloop.trainers.parallel import DataParallel
from agentloop.trainers.sharding import full_model_state, full_tensor, is_sharded, shard
from torch import Tensor

from agentloop.atomic import write_json_atomic
from agentloop.llm.device import pick_device
from agentloop.progress import progress_bar

LOG_FILE = "train_log.jsonl"
RESULT_FILE = "train_result.json"
STATE_DIR = "training_state"

StepFn = Callable[[Any], tuple[Tensor, dict[str, Tensor]]]


@dataclass(frozen=True)
class TrainResult:
    """What a finished training run produced: the checkpoint and one log entry per optimiser step."""

    output_dir: Path
    steps: int
    logs: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0
    """Optimiser step the run continued from (0: it started fresh)."""

    @property
    def final_loss(self) -> float | None:
        return self.logs[-1]["loss"] if self.logs else None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def load_model(model_path: str | Path, config: TrainConfig) -> tuple[Any, Any]:
    """The model to train (float32 master weights, LoRA-wrapped when configured, sharded over
    the training processes with `config.fsdp`) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from agentloop.llm.model_path import resolve_model

    path = resolve_model(model_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    # SDPA accepts the block attention masks of prefix sharing (trainers/prefix.py)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    model.config.use_cache = False
    if config.lora is not None:
        from peft import LoraConfig, get_peft_model

        seed_everything(config.seed)  # adapter initialisation is random
        lora = config.lora
        model = get_peft_model(model, LoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
            target_modules=lora.target_modules, task_type="CAUSAL_LM"))
    parallel = DataParallel.from_environment(config.device)
    model = model.to(parallel.device(torch.device(pick_device(config.device))))
    if config.fsdp and parallel.world_size > 1:
        model = shard(model, parallel.world_size)
    return model, tokenizer


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> Any:
    """Linear warm-up over `warmup_ratio` of the steps, then cosine/linear decay to 0 (or constant)."""
    warmup = int(config.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        if config.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _read_logs(path: Path, up_to: int) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    logs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [entry for entry in logs if entry["step"] <= up_to]


def _write_logs(path: Path, logs: list[dict[str, float]]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(json.dumps(e) + "\n" for e in logs), encoding="utf-8")
    temporary.replace(path)


def finished_result(output_dir: Path) -> TrainResult | None:
    """The result of an already finished run in `output_dir`, if there is one."""
    marker = output_dir / RESULT_FILE
    if not marker.is_file():
        return None
    info = json.loads(marker.read_text(encoding="utf-8"))
    return TrainResult(output_dir, info["steps"], _read_logs(output_dir / LOG_FILE, info["steps"]),
                       info.get("resumed_from", 0))


def run_training(model: Any, tokenizer: Any, plan: Callable[[int], Sequence[Any]], step_fn: StepFn,
                 config: TrainConfig, output_dir: Path, examples: Callable[[Any], int]) -> TrainResult:
    """Train `model` on `plan(epoch)` micro-batches for `config.epochs` epochs, saving to `output_dir`.

    `examples(batch)` counts the examples in a micro-batch (for throughput).
    Resumes from `output_dir/training_state` when a saved state is there. Under a
    multi-process launcher each rank runs its share of every step (`trainers.parallel`),
    on its shard of the model when `load_model` sharded it (`trainers.sharding`).
    """
    device = next(model.parameters()).device
    parallel = DataParallel.from_environment(device.type)
    sharded = is_sharded(model)
    use_bf16 = config.bf16 if config.bf16 is not None else device.type == "cuda"
    steps_by_epoch = []
    for epoch in range(config.epochs):
        batches = list(plan(epoch))
        steps_by_epoch += [(epoch, batches[i:i + config.grad_accum])
                           for i in range(0, len(batches), config.grad_accum)]
    total = len(steps_by_epoch)
    parameters = [p for p in model.parameters() if p.requires_grad]
    # the fused kernel (one pass over all tensors) is what HF Trainer uses by default too
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type in ("cpu", "cuda"))
    scheduler = build_scheduler(optimizer, config, total)
    state_dir, log_path = output_dir / STATE_DIR, output_dir / LOG_FILE
    output_dir.mkdir(parents=True, exist_ok=True)
    start = load_state(state_dir, model, optimizer, scheduler)
    logs = _read_logs(log_path, start)
    if parallel.is_main:
        _write_logs(log_path, logs)  # drop entries logged after the state we resumed from
    if start == 0:
        seed_everything(config.seed)

    # "sft" or "dpo" (the config's class says which trainer this is), "train" for a plain TrainConfig
    name = type(config).__name__.removesuffix("Config").lower()
    bar = progress_bar(total=total, initial=start, enabled=config.progress and parallel.is_main, desc=name,
                       unit="steps")
    model.train()
    with log_path.open("a", encoding="utf-8") if parallel.is_main else open(os.devnull, "w") as log_file:
        for step in range(start + 1, total + 1):
            epoch, micro = steps_by_epoch[step - 1]
            began, began_cpu = time.perf_counter(), time.process_time()
            losses, metrics, count = [], {}, 0
            # A sharded rank with fewer micro-batches than the busiest makes zero-weighted passes
            # too: every pass gathers and reduces across the ranks (and sums the gradients).
            idle = parallel.idle(micro) if sharded else []
            for batch, counted in [(b, True) for b in parallel.share(micro)] + [(b, False) for b in idle]:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    loss, values = step_fn(batch)
                (loss / len(micro) if counted else loss * 0.0).backward()
                if not counted:
                    continue
                losses.append(float(loss.detach()))
                for name, value in values.items():
                    metrics.setdefault(name, []).append(value.detach().float().cpu())
                count += examples(batch)
            if not sharded:
                parallel.sum_gradients(parameters)
            losses, metrics, count = _merge(parallel.gather((losses, metrics, count)))
            norm = torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm or float("inf"))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            entry = {"step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0],
                     "loss": sum(losses) / len(losses), "grad_norm": float(full_tensor(norm)),
                     **{k: float(torch.cat([v.reshape(-1) for v in vs]).mean()) for k, vs in metrics.items()},
                     "examples": count, "seconds": time.perf_counter() - began,
                     "cpu_seconds": time.process_time() - began_cpu}
            logs.append(entry)
            log_file.write(json.dumps(entry) + "\n")
            log_file.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{entry['loss']:.4f}")
            if step % config.save_every == 0 and step < total:
                state = snapshot(model, optimizer)  # every rank takes part when sharded
                if parallel.is_main:
                    save_state(state_dir, step, state, scheduler)
    bar.close()
    weights = full_model_state(model) if sharded else None
    if parallel.is_main:  # the ranks hold the same weights: one writes them
        save_model_dir(model, tokenizer, output_dir, weights)
        write_json_atomic(output_dir / RESULT_FILE, {"steps": total, "resumed_from": start})
        # the finished checkpoint supersedes the (large) optimiser state
        shutil.rmtree(state_dir, ignore_errors=True)
    parallel.barrier()
    return TrainResult(output_dir, total, logs, start)


def _merge(shares: list[tuple[list[float], dict[str, list[Tensor]], int]]
           ) -> tuple[list[float], dict[str, list[Tensor]], int]:
    """The ranks' losses, metrics and example counts of one step, as one process has them."""
    losses = [loss for share, _, _ in shares for loss in share]
    metrics: dict[str, list[Tensor]] = {}
    for _, values, _ in shares:
        for name, value in values.items():
            metrics.setdefault(name, []).extend(value)
    return losses, metrics, sum(count for _, _, count in shares)
