"""Losses, DPO and SFT trainers, tokenisation with loss masks, checkpoints.

Modules: `config` (DPOConfig, SFTConfig, LoraSettings), `losses` (DPO, IPO,
SimPO, masked NLL), `encoding` (tokens with loss masks, matching generation),
`prefix` (one forward pass per prompt for all its candidates), `dpo`
(off-policy step/trajectory-level preference training), `sft` (masked SFT with
Agent-R mixing), `training` (optimiser, schedule, logs, resume), `checkpoint`
(Hugging Face directories and training state), `files` (our and TRL data files).

Example:
    >>> from agentloop.trainers import DPOConfig, train_dpo
    >>> result = train_dpo("default", pairs, DPOConfig(), "runs/x/round-1/checkpoint")
"""

from agentloop.trainers.config import DPOConfig, LoraSettings, SFTConfig, TrainConfig
from agentloop.trainers.dpo import train_dpo
from agentloop.trainers.sft import train_sft
from agentloop.trainers.training import TrainResult

__all__ = ["DPOConfig", "LoraSettings", "SFTConfig", "TrainConfig", "TrainResult", "train_dpo", "train_sft"]
