"""Configuration of the DPO and SFT trainers.

`DPOConfig` and `SFTConfig` share the optimisation fields of `TrainConfig`
(optimiser, schedule, batching, precision, checkpoints, LoRA); each adds what
its loss needs. The round loop builds one from the run's YAML and passes it to
`train_dpo` / `train_sft`.

Example:
    >>> DPOConfig(loss="simpo", beta=2.5, gamma=0.5, lr=1e-6)
    >>> SFTConfig(epochs=2, lora=LoraSettings(r=16))
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LoraSettings(BaseModel):
    """Low-rank adapters (peft) instead of full fine-tuning; merged into the weights on save."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    r: int = Field(16, gt=0)
    """Rank of the adapter matrices."""
    alpha: float = Field(32.0, gt=0)
    """Scaling numerator: the update is scaled by alpha / r."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """Dropout on the adapter input."""
    target_modules: str | list[str] = "all-linear"
    """Modules that get adapters (peft's names; "all-linear" = every linear layer but the output head)."""


class TrainConfig(BaseModel):
    """What every trainer shares: optimiser, schedule, batching, precision, checkpoints."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    lr: float = Field(5e-6, gt=0)
    """Peak learning rate of AdamW."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW decoupled weight decay."""
    epochs: int = Field(1, gt=0)
    """Passes over the data."""
    batch_size: int = Field(8, gt=0)
    """Examples per micro-batch (pairs for DPO, conversations for SFT)."""
    grad_accum: int = Field(1, gt=0)
    """Micro-batches per optimiser step."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    """Fraction of the optimiser steps spent warming the learning rate up linearly from 0."""
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    """Decay after warm-up, down to 0 at the last step (constant keeps the peak)."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Clip the global gradient norm to this value (None: no clipping)."""
    max_length: int | None = Field(None, gt=0)
    """Drop examples whose prompt + continuation is longer than this many tokens (None: keep all)."""
    share_prefix: bool = True
    """Pack each micro-batch into one sequence that reads the prefix its prompts share (the
    system prompt, the worked example) once, with an attention mask that keeps every example
    to its own tokens: the same loss and gradients as one sequence per example
    (`trainers/prefix.py`), fewer tokens through the model. False: one row per prompt."""
    seed: int = 0
    """Seed for the data order, adapter initialisation and dropout."""
    bf16: bool | None = None
    """bfloat16 autocast; None means on when a CUDA GPU is used, off on CPU."""
    device: str | None = None
    """torch device ("cpu", "cuda"); None picks CUDA when available."""
    save_every: int = Field(50, gt=0)
    """Save the resumable training state every this many optimiser steps."""
    lora: LoraSettings | None = None
    """Train low-rank adapters instead of all weights (None: full fine-tuning)."""
    fsdp: bool = False
    """With several training processes (`scale.train_processes`, `accelerate launch`), shard
    the weights, gradients and optimiser state over them (torch FSDP2, one unit per decoder
    layer; `trainers/sharding.py`) instead of holding a full copy on each: for models that do
    not fit one device. The same updates as one process; one process ignores it."""
    progress: bool = True
    """Show a progress bar."""

    @model_validator(mode="after")
    def _fsdp_without_lora(self) -> TrainConfig:
        if self.fsdp and self.lora is not None:
            raise ValueError("fsdp with lora is not supported: the adapters are merged into the weights "
                             "on save, which needs the whole model in one process; train LoRA unsharded")
        return self


class DPOConfig(TrainConfig):
    """Preference optimisation over step-level or trajectory-level pairs.

    `loss` picks the objective: "dpo" (Rafailov et al. 2023, sigmoid),
    "ipo" (Azar et al. 2023) or "simpo" (Meng et al. 2024, reference-free,
    length-normalised; iTool uses beta 2.5, gamma 0.5).
    """

    loss: Literal["dpo", "ipo", "simpo"] = "dpo"
    """The preference objective."""
    beta: float = Field(0.1, gt=0)
    """DPO/SimPO inverse temperature; for IPO the regulariser tau (target margin 1/(2 tau))."""
    gamma: float = Field(0.5, ge=0)
    """SimPO's target reward margin (gamma in Meng et al. eq. 6); unused by DPO and IPO."""
    label_smoothing: float = Field(0.0, ge=0, lt=0.5)
    """Conservative DPO: probability that a label is flipped (0: plain DPO)."""
    reference_batch_size: int = Field(16, gt=0)
    """Pairs per no-grad batch when reference log-probs must be computed before training."""


class SFTConfig(TrainConfig):
    """Masked SFT on conversations (Agent-R revision trajectories mixed with good ones)."""

    lr: float = Field(1e-5, gt=0)
    """Peak learning rate of AdamW."""
    good_per_revision: float | None = Field(None, ge=0)
    """Agent-R mixing: good trajectories drawn per revision trajectory each epoch (with
    replacement when there are too few); None trains on all records as given."""
