"""Data-parallel training over several processes (`accelerate launch`, `torchrun`).

When a launcher started more than one process (`WORLD_SIZE` > 1 in the
environment), accelerate sets up the process group (NCCL on GPUs, gloo on
CPU) and each process takes the GPU of its local rank. Every optimiser step
of the deterministic plan holds `grad_accum` micro-batches; rank r runs
micro-batches r, r+W, r+2W, ... of it, each loss divided by the step's whole
micro-batch count as in one process, and the gradients are summed over the
ranks before clipping. So W processes compute the same update as one process
over the same global batch (to float rounding), a resumed run sees the same
batches, and any `grad_accum` works (a rank with no micro-batch in a step
adds zeros). Only the main process writes logs, states and the checkpoint.
With `fsdp` each rank holds a shard of the model instead of a copy
(`trainers/sharding.py`); the step's arithmetic is the same.

One process (CPU or one GPU) takes none of these paths: `world_size` is 1.

Example:
    $ accelerate launch --num_processes 2 --cpu train.py     # or --multi_gpu on GPUs
    >>> parallel = DataParallel.from_environment()
    >>> mine = parallel.share(micro_batches)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch


class DataParallel:
    """This process's place among the training processes.

    Args:
        world_size: processes training together.
        rank: this process's index (0 is the main process).
        state: accelerate's `PartialState` when `world_size` > 1.
    """

    def __init__(self, world_size: int = 1, rank: int = 0, state: Any = None):
        self.world_size, self.rank, self.state = world_size, rank, state

    @classmethod
    def from_environment(cls, device: str | None = None) -> DataParallel:
        """One process unless a launcher set `WORLD_SIZE` > 1; then join its process group."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        from accelerate import PartialState

        cpu = device == "cpu" or not torch.cuda.is_available()
        state = PartialState(cpu=cpu)
        return cls(state.num_processes, state.process_index, state)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, default: torch.device) -> torch.device:
        """The device this rank trains on: its local GPU when several share a node."""
        return self.state.device if self.state is not None and default.type == "cuda" else default

    def share(self, micro: Sequence[Any]) -> list[Any]:
        """This rank's micro-batches of one optimiser step."""
        return list(micro[self.rank::self.world_size])

    def idle(self, micro: Sequence[Any]) -> list[Any]:
        """Micro-batches this rank runs with its loss times 0 so that every rank makes as many
        forward and backward passes per step as the busiest one (sharded training, whose
        passes gather and reduce across the ranks); [] when the step divides evenly."""
        passes = -(-len(micro) // self.world_size)
        return [micro[0]] * (passes - len(self.share(micro)))

    def sum_gradients(self, parameters: Sequence[torch.nn.Parameter]) -> None:
        """Sum every gradient over the ranks, in one flat all-reduce."""
        if self.world_size == 1:
            return
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in parameters])
        torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM)
        start = 0
        for p in parameters:
            p.grad.copy_(flat[start:start + p.numel()].view_as(p.grad))
            start += p.numel()

    def gather(self, item: Any) -> list[Any]:
        """Every rank's `item` (picklable), in rank order."""
        if self.world_size == 1:
            return [item]
        items: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(items, item)
        return items

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()


def train_in_processes(kind: str, model: str, records: Sequence[Any], config: Any, output_dir: Path,
                       processes: int) -> Any:
    """`train_sft` or `train_dpo` (`kind` "sft" / "dpo") in `processes` processes started by
    `accelerate launch` on this node (one per GPU, or gloo on CPU), for the round loop that
    itself runs in one process. Records and config travel as JSON files in `output_dir`;
    the result is read back from it, so a rerun resumes by step as in one process.

    Example:
        >>> train_in_processes("sft", "default", records, SFTConfig(), Path("out"), processes=2)
    """
    import shutil
    import subprocess
    import sys

    from agentloop.trainers.training import finished_result

    output_dir.mkdir(parents=True, exist_ok=True)
    data, settings = output_dir / f"{kind}-records.jsonl", output_dir / f"{kind}-config.json"
    data.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    settings.write_text(config.model_dump_json(), encoding="utf-8")
    launcher = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
    if launcher is None:
        raise RuntimeError("training in several processes needs accelerate's launcher on PATH")
    where = ["--multi_gpu"] if torch.cuda.is_available() and config.device != "cpu" else ["--cpu"]
    subprocess.run([launcher, "launch", "--num_processes", str(processes), "--num_machines", "1", *where,
                    "--mixed_precision", "no", "--dynamo_backend", "no",
                    "-m", "agentloop.trainers.launched", kind, str(model), str(data), str(settings),
                    str(output_dir)], check=True)
    result = finished_result(output_dir)
    if result is None:
        raise RuntimeError(f"the {processes} training processes ended without a checkpoint in {output_dir}")
    return result
