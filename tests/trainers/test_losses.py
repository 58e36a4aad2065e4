"""Losses against the numbers derived by hand in their docstrings, and DPO against TRL."""

from __future__ import annotations

import math

import pytest
import torch
from agentloop.trainers.losses import (
    DPOLoss,
    IPOLoss,
    MaskedNLLLoss,
    SimPOLoss,
    build_preference_loss,
)


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_dpo_matches_hand_derivation():
    out = DPOLoss(beta=0.1)(t(-1.0), t(-2.0), t(-1.5), t(-1.5))
    assert out.loss.item() == pytest.approx(math.log(1 + math.exp(-0.1)), abs=1e-6)
    assert out.loss.item() == pytest.approx(0.644397, abs=1e-6)
    assert out.chosen_rewards.item() == pytest.approx(0.05)
    assert out.rejected_rewards.item() == pytest.approx(-0.05)


def test_dpo_label_smoothing_mixes_both_directions():
    out = DPOLoss(beta=0.1, label_smoothing=0.2)(t(-1.0), t(-2.0), t(-1.5), t(-1.5))
    expected = 0.8 * math.log(1 + math.exp(-0.1)) + 0.2 * math.log(1 + math.exp(0.1))
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)


def test_ipo_matches_hand_derivation():
    out = IPOLoss(beta=0.1)(t(-1.0), t(-2.0), t(-1.5), t(-1.5))
    assert out.loss.item() == pytest.approx(16.0, abs=1e-5)


def test_simpo_matches_hand_derivation_and_ignores_reference():
    loss = SimPOLoss(beta=2.5, gamma=0.5)
    out = loss(t(-4.0), t(-6.0), None, None, t(4), t(3))
    assert out.loss.item() == pytest.approx(math.log(1 + math.exp(-2.0)), abs=1e-6)
    assert out.chosen_rewards.item() == pytest.approx(-2.5)
    assert out.rejected_rewards.item() == pytest.approx(-5.0)
    assert loss(t(-4.0), t(-6.0), t(9.0), t(-9.0), t(4), t(3)).loss.item() == pytest.approx(out.loss.item())


def test_masked_nll_matches_hand_derivation():
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0], [5.0, -5.0]]])
    targets = torch.tensor([[1, 0, 1]])
    mask = torch.tensor([[True, True, False]])
    value = MaskedNLLLoss()(logits, targets, mask)
    assert value.item() == pytest.approx((-math.log(0.75) + math.log(2.0)) / 2, abs=1e-6)
    assert value.item() == pytest.approx(0.490415, abs=1e-6)


def test_build_preference_loss_rejects_unknown():
    assert isinstance(build_preference_loss("ipo", 0.1), IPOLoss)
    with pytest.raises(ValueError):
        build_preference_loss("kto", 0.1)


def test_dpo_equals_trl_dpo_trainer_loss(tokenizer, make_tiny_model, tmp_path):
    """Our DPOLoss on the same batch as TRL's DPOTrainer gives TRL's loss (within 1e-4)."""
    from datasets import Dataset
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    policy, reference = make_tiny_model(0), make_tiny_model(1)
    rows = [{"prompt": [{"role": "user", "content": f"Buy item {i}"}],
             "chosen": [{"role": "assistant", "content": f"search[item {i}]"}],
             "rejected": [{"role": "assistant", "content": f"click[back {i}] now"}]} for i in range(4)]
    args = TRLDPOConfig(output_dir=str(tmp_path), beta=0.3, per_device_train_batch_size=4,
                        report_to=[], use_cpu=True, max_length=None)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args,
                         train_dataset=Dataset.from_list(rows), processing_class=tokenizer)
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    trl_loss = trainer.compute_loss(trainer.model, inputs).item()

    def logps(model) -> torch.Tensor:
        ids, mask = inputs["input_ids"], inputs["completion_mask"]
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=inputs["attention_mask"]).logits.float()
        token = out[:, :-1].log_softmax(-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        return (token * mask[:, 1:]).sum(-1)

    pc, pr = logps(trainer.model).chunk(2)
    rc, rr = logps(reference).chunk(2)
    ours = DPOLoss(beta=0.3)(pc, pr, rc, rr).loss.item()
    assert abs(ours - math.log(2)) > 1e-3  # policy and reference differ, so the check is not trivial
    assert ours == pytest.approx(trl_loss, abs=1e-4)
