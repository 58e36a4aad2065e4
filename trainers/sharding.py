"""Fully sharded data parallel training (torch FSDP2, `fully_shard`): for models whose
weights, gradients and optimiser state do not fit one device.

With `trainer.*.fsdp` and more than one training process, each decoder layer and
then the whole model are sharded over the processes: every rank holds 1/W of the
weights and of AdamW's state, gathers a layer's full weights for its forward and
backward, and reduce-scatters the gradients. The gradients are summed, not
averaged (the losses are already divided by the step's micro-batch count, as in
`trainers.parallel`), so W sharded processes make the same update as one process.
Checkpoints and resumable states are gathered into full tensors first (every rank
takes part; the main process writes them), so they load into any number of
processes, sharded or not.

Example:
    >>> model = shard(model, parallel.world_size)      # under `accelerate launch`
    >>> weights = full_model_state(model)             # every rank calls; full on rank 0
"""

from __future__ import annotations

from typing import Any

import torch


def shard(model: Any, world_size: int) -> Any:
    """Shard `model` in place over the `world_size` processes of the default process group:
    one FSDP unit per decoder layer (the classes transformers will not split,
    `_no_split_modules`), one for the rest (embeddings, final norm, head)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import FSDPModule, fully_shard

    device = next(model.parameters()).device
    mesh = init_device_mesh(device.type, (world_size,))
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    layers = set(getattr(base, "_no_split_modules", None) or ())
    if not layers:
        raise ValueError(f"{type(base).__name__} names no decoder layer class (_no_split_modules) to shard by")
    for module in list(model.modules()):
        if type(module).__name__ in layers:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    for module in model.modules():
        if isinstance(module, FSDPModule):
            # sum the ranks' gradients (gloo has no averaging or pre-scaled sum)
            module.set_gradient_divide_factor(1.0)
            module.set_force_sum_reduction_for_comms(True)
    return model


def is_sharded(model: Any) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def full_tensor(value: torch.Tensor) -> torch.Tensor:
    """A sharded (DTensor) value as one plain tensor; a plain tensor as it is."""
    return value.full_tensor() if hasattr(value, "full_tensor") else value


_FULL = dict(full_state_dict=True, cpu_offload=True)


def _unique_names(model: Any) -> set[str]:
    """Parameter and buffer names once each: a tied head shares the embedding's tensor and
    is left out, as `save_pretrained` leaves it out of an unsharded model."""
    return {name for name, _ in model.named_parameters()} | {name for name, _ in model.named_buffers()}


def full_model_state(model: Any) -> dict[str, torch.Tensor]:
    """The whole model's weights on the CPU (on rank 0; the other ranks get {}). Collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(**_FULL))
    keep = _unique_names(model)
    return {name: value for name, value in state.items() if name in keep}


def full_training_state(model: Any, optimizer: torch.optim.Optimizer
                        ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Trainable weights and optimiser state, full, on the CPU (on rank 0). Collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

    weights, optimizer_state = get_state_dict(model, optimizer, options=StateDictOptions(**_FULL))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    return {name: value for name, value in weights.items() if name in trainable}, optimizer_state


def restore_training_state(model: Any, optimizer: torch.optim.Optimizer, weights: dict[str, torch.Tensor],
                           optimizer_state: dict[str, Any]) -> None:
    """Load full states (as `full_training_state` returned them, read by every rank) into the
    sharded model and its optimiser. Collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

    set_state_dict(model, optimizer, model_state_dict=dict(weights), optim_state_dict=optimizer_state,
                   options=StateDictOptions(full_state_dict=True, strict=False))
