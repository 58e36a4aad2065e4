"""PackedLinears: oneDNN linear layers give the model's own outputs (to float32
rounding), only inside the block, and follow weight updates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from agentloop.llm.packed_linear import PackedLinears, onednn_usable

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch without oneDNN")


def logits(model, ids):
    with torch.inference_mode():
        return model(ids).logits


def test_same_logits_inside_and_model_untouched_outside(make_tiny_model):
    model = make_tiny_model()
    ids = torch.tensor([[1, 5, 9, 200, 3000, 7]])
    plain = logits(model, ids)
    linears = PackedLinears(model)
    with linears:
        assert all("forward" in vars(m) for m in model.modules() if type(m) is nn.Linear)
        packed = logits(model, ids)
    assert torch.allclose(packed, plain, atol=1e-5)
    assert not any("forward" in vars(m) for m in model.modules())


def test_a_changed_weight_is_packed_again(make_tiny_model):
    model = make_tiny_model()
    ids = torch.tensor([[1, 5, 9, 200]])
    linears = PackedLinears(model)
    with linears:
        before = logits(model, ids)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.mul_(3.0)  # as an optimizer step does, in place
    with linears:
        after = logits(model, ids)
    assert not torch.allclose(after, before, atol=1e-3)
    assert torch.allclose(after, logits(model, ids), atol=1e-5)


def test_no_op_off_float32(make_tiny_model):
    model = make_tiny_model().to(torch.bfloat16)
    assert not onednn_usable(model)
    with PackedLinears(model):
        assert not any("forward" in vars(m) for m in model.modules())
