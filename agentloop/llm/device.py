"""Which device a model runs on when the config does not say."""

from __future__ import annotations

import torch


def pick_device(device: str | None) -> str:
    """The configured device, or CUDA when available, else CPU."""
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"
