"""Faster float32 linear layers for CPU inference: oneDNN with pre-packed weights.

PyTorch runs a float32 `nn.Linear` on CPU through MKL's sgemm. For the few-row
products of decoding (one row per sequence), oneDNN with its weight reordered
once into oneDNN's blocked layout is several times faster, and it is faster for
prefill-sized products too. Measured on the 2-core AMD EPYC development box,
SmolLM2-135M, float32 (see `benchmarks/bench_generate.py`):

    one decode step, 4 rows, cache of 300:  62 ms (MKL) -> 24 ms (packed oneDNN)
    prefill of 300 tokens:                   0.42 s     -> 0.23 s

This is the kernel `torch.compile` itself picks for a frozen CPU model
(`torch._inductor.config.freezing`); here it is used without compiling. Results
are float32 products with another summation order: they differ from MKL's by
rounding (about 1e-5 relative), and are deterministic.

The packed copy costs memory (one more copy of the linear weights) and is made
again when a weight changes (an optimizer step, `load_state_dict`), tracked by
the weight's version counter.
"""

from __future__ import annotations

import torch
from torch import nn


def onednn_usable(model: nn.Module) -> bool:
    """True when `model` runs in float32 on CPU and this PyTorch has oneDNN's linear."""
    weight = next(model.parameters())
    return (weight.device.type == "cpu" and weight.dtype == torch.float32
            and torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


class PackedLinears:
    """Within a `with` block, runs the `nn.Linear` layers of `model` through oneDNN
    with pre-packed weights; outside it the model is untouched. For inference only
    (no autograd through the packed weights). A no-op where oneDNN cannot be used
    (GPU, half precision, a PyTorch without oneDNN).

    Args:
        model: the model whose plain `nn.Linear` layers to run packed (subclasses,
            such as quantised or LoRA layers, keep their own forward).

    Example:
        >>> linears = PackedLinears(model)
        >>> with torch.inference_mode(), linears:
        ...     logits = model(input_ids).logits
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self._packed: dict[nn.Linear, tuple[tuple[int, int], torch.Tensor]] = {}
        self._patched: list[nn.Linear] = []

    def __enter__(self) -> PackedLinears:
        if onednn_usable(self.model):
            self._patched = [m for m in self.model.modules() if type(m) is nn.Linear and "forward" not in vars(m)]
            for linear in self._patched:
                linear.forward = self._forward_of(linear)
        return self

    def __exit__(self, *exc: object) -> None:
        for linear in self._patched:
            vars(linear).pop("forward", None)
        self._patched = []

    def _forward_of(self, linear: nn.Linear):
        def forward(x: torch.Tensor) -> torch.Tensor:
            return torch.ops.mkldnn._linear_pointwise(x, self._weight(linear), linear.bias, "none", [], "")

        return forward

    def _weight(self, linear: nn.Linear) -> torch.Tensor:
        """The packed weight of `linear`, packed again if the weight changed since."""
        weight = linear.weight
        key = (weight.data_ptr(), weight._version)
        cached = self._packed.get(linear)
        if cached is None or cached[0] != key:
            cached = key, torch.ops.mkldnn._reorder_linear_weight(weight.detach())
            self._packed[linear] = cached
        return cached[1]
