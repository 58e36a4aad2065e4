"""The DPO trainer on a tiny random model: real steps, learning, references, resumption, LoRA."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from agentloop.trainers import training
from agentloop.trainers.config import DPOConfig, LoraSettings
from agentloop.trainers.dpo import reference_logps, score_pairs, train_dpo
from agentloop.trainers.encoding import encode_pairs
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from agentloop.records import Message, PreferencePair

COLOURS = ["red", "blue", "green", "black", "white", "pink", "grey", "brown"]
THINGS = ["shoes", "hat", "shirt", "bag", "lamp", "mug", "chair", "scarf"]


def shop_pairs(combos, logprobs: bool = False) -> list[PreferencePair]:
    """Pairs where `search[...]` is always preferred to `click[...]` for the same item."""
    pairs = []
    for colour, thing in combos:
        prompt = (Message(role="user", content=f"Find the {colour} {thing} in the shop."),)
        pairs.append(PreferencePair(
            prompt=prompt, chosen=(Message(role="assistant", content=f"search[{colour} {thing}]"),),
            rejected=(Message(role="assistant", content=f"click[{colour} {thing}]"),),
            chosen_logprob=-20.0 if logprobs else None, rejected_logprob=-20.0 if logprobs else None))
    return pairs


def fast(**overrides) -> DPOConfig:
    base = dict(lr=2e-3, warmup_ratio=0.0, schedule="constant", batch_size=8, beta=0.5,
                progress=False, device="cpu")
    return DPOConfig(**{**base, **overrides})


def weights(path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


def batch_loss(model, pairs, reference, beta=0.5) -> float:
    from agentloop.trainers.losses import DPOLoss

    encoded = encode_pairs(model.tokenizer, pairs)
    with torch.no_grad():
        chosen, rejected, _, _ = score_pairs(model, encoded, range(len(pairs)), 2)
    return DPOLoss(beta)(chosen, rejected, reference[:, 0], reference[:, 1]).loss.item()


@pytest.mark.parametrize("loss", ["dpo", "ipo", "simpo"])
def test_one_step_changes_every_parameter_and_lowers_loss(tiny_model_dir, tokenizer, tmp_path, loss):
    pairs = shop_pairs(list(itertools.product(COLOURS[:2], THINGS[:4])), logprobs=True)
    config = fast(loss=loss, lr=1e-3, batch_size=len(pairs), beta=2.5 if loss == "simpo" else 0.5)
    result = train_dpo(tiny_model_dir, pairs, config, tmp_path / "out")
    assert result.steps == 1 and len(result.logs) == 1
    before, after = weights(tiny_model_dir), weights(tmp_path / "out")
    unchanged = [n for n in before if torch.equal(before[n], after[n])]
    assert unchanged == []
    # the loss of the same batch after the step is lower than the logged loss before it
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    model.tokenizer = tokenizer
    encoded = encode_pairs(tokenizer, pairs)
    from agentloop.trainers.losses import build_preference_loss

    with torch.no_grad():
        chosen, rejected, lc, lr = score_pairs(model, encoded, range(len(pairs)), tokenizer.pad_token_id)
    reference = torch.tensor([[p.chosen_logprob, p.rejected_logprob] for p in pairs])
    after_loss = build_preference_loss(loss, config.beta, config.gamma)(
        chosen, rejected, reference[:, 0], reference[:, 1], lc, lr).loss.item()
    assert after_loss < result.logs[0]["loss"]


def test_training_raises_held_out_preference_accuracy(tiny_model_dir, tokenizer, tmp_path):
    combos = list(itertools.product(COLOURS, THINGS))
    held_out = combos[::5]
    train = [c for c in combos if c not in held_out]
    result = train_dpo(tiny_model_dir, shop_pairs(train), fast(epochs=3), tmp_path / "out")
    assert result.logs[-1]["accuracy"] > 0.9
    test_pairs = shop_pairs(held_out)
    encoded = encode_pairs(tokenizer, test_pairs)
    initial = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    reference = reference_logps(initial, test_pairs, encoded, fast(), tokenizer.pad_token_id)
    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        chosen, rejected, _, _ = score_pairs(trained, encoded, range(len(test_pairs)), tokenizer.pad_token_id)
    accuracy = ((chosen - reference[:, 0]) > (rejected - reference[:, 1])).float().mean().item()
    assert accuracy > 0.9


def test_reference_is_the_initial_model_and_cached(tokenizer, make_tiny_model, tmp_path):
    pairs = shop_pairs(list(itertools.product(COLOURS[:2], THINGS[:2])))
    pairs[0] = pairs[0].model_copy(update={"chosen_logprob": -1.5, "rejected_logprob": -2.5})
    encoded = encode_pairs(tokenizer, pairs)
    model = make_tiny_model(0)
    cache = tmp_path / "reference.json"
    values = reference_logps(model, pairs, encoded, fast(), tokenizer.pad_token_id, cache)
    assert values[0].tolist() == [-1.5, -2.5]  # recorded at generation time: used as is
    with torch.no_grad():
        chosen, rejected, _, _ = score_pairs(model, encoded, [1, 2, 3], tokenizer.pad_token_id)
    assert torch.allclose(values[1:, 0], chosen, atol=1e-5) and torch.allclose(values[1:, 1], rejected, atol=1e-5)
    # a moved model (as after a crash) reuses the cached initial values
    again = reference_logps(make_tiny_model(7), pairs, encoded, fast(), tokenizer.pad_token_id, cache)
    assert torch.equal(again, values)


def test_recorded_reference_matches_backend_scoring(tiny_model_dir):
    """Our token boundaries are those of generation: prompt ids, then content + end-of-turn."""
    from agentloop.llm.transformers_backend import TransformersBackend

    backend = TransformersBackend.from_pretrained(tiny_model_dir)
    pairs = shop_pairs([("red", "shoes"), ("blue", "hat")])
    encoded = encode_pairs(backend.tokenizer, pairs)
    ours = reference_logps(backend.model, pairs, encoded, fast(), backend.tokenizer.pad_token_id)
    scores = backend.score([p.prompt for p in pairs], [p.chosen[0].content + "<|im_end|>" for p in pairs])
    assert torch.allclose(ours[:, 0], torch.tensor([s.logprob for s in scores]), atol=1e-4)


def test_resumes_from_last_saved_step_after_crash(tiny_model_dir, tmp_path, monkeypatch):
    pairs = shop_pairs(list(itertools.product(COLOURS[:3], THINGS[:4])))
    config = fast(batch_size=2, save_every=2)  # 6 steps, states saved after steps 2 and 4
    reference_run = train_dpo(tiny_model_dir, pairs, config, tmp_path / "straight")

    real_save = training.save_state
    saves = []

    def crash_after_second_save(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(args[1])
        if len(saves) == 2:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(training, "save_state", crash_after_second_save)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_dpo(tiny_model_dir, pairs, config, tmp_path / "crashed")
    monkeypatch.setattr(training, "save_state", real_save)
    assert json.loads((tmp_path / "crashed/training_state/latest.json").read_text())["step"] == 4
    resumed = train_dpo(tiny_model_dir, pairs, config, tmp_path / "crashed")
    assert resumed.resumed_from == 4 and resumed.steps == 6
    assert [e["step"] for e in resumed.logs] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(reference_run.logs, resumed.logs):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    straight, crashed = weights(tmp_path / "straight"), weights(tmp_path / "crashed")
    assert all(torch.allclose(straight[n], crashed[n], atol=1e-6) for n in straight)
    assert not (tmp_path / "crashed/training_state").exists()
    # a finished run is not redone
    assert train_dpo(tiny_model_dir, pairs, config, tmp_path / "crashed").logs == resumed.logs


def test_lora_is_merged_into_a_plain_checkpoint(tiny_model_dir, tmp_path):
    pairs = shop_pairs(list(itertools.product(COLOURS[:2], THINGS[:2])))
    result = train_dpo(tiny_model_dir, pairs, fast(lora=LoraSettings(r=4, alpha=8)), tmp_path / "out")
    out = tmp_path / "out"
    assert result.steps == 1
    assert not (out / "adapter_config.json").exists()
    assert (out / "chat_template.jinja").is_file() or "chat_template" in (out / "tokenizer_config.json").read_text()
    lines = (out / "train_log.jsonl").read_text().splitlines()
    assert {"loss", "margin", "accuracy", "chosen_reward", "rejected_reward"} <= set(json.loads(lines[0]))
    before, after = weights(tiny_model_dir), weights(out)
    assert set(before) == set(after)
    changed = [n for n in before if not torch.equal(before[n], after[n])]
    assert changed and all("proj" in n for n in changed)  # adapters sit on the linear layers only
    AutoModelForCausalLM.from_pretrained(out)


def test_gradient_accumulation_equals_the_larger_batch(tiny_model_dir, tmp_path):
    pairs = shop_pairs(list(itertools.product(COLOURS[:2], THINGS[:4])), logprobs=True)
    big = train_dpo(tiny_model_dir, pairs, fast(batch_size=8), tmp_path / "big").logs[0]
    accumulated = train_dpo(tiny_model_dir, pairs, fast(batch_size=4, grad_accum=2), tmp_path / "acc").logs[0]
    assert accumulated["examples"] == 8
    # the same gradient: equal norm before clipping (a missing 1/grad_accum would double it)
    # (weights are not compared: Adam's first step is lr * sign(g), which flips on rounding
    # noise wherever g is ~0)
    assert accumulated["grad_norm"] == pytest.approx(big["grad_norm"], rel=1e-5)
    assert accumulated["loss"] == pytest.approx(big["loss"], abs=1e-6)
    assert accumulated["accuracy"] == big["accuracy"]


@pytest.mark.slow
def test_default_model_generation_logprobs_are_the_reference(tmp_path):
    """The real SmolLM2-135M: log-probs recorded at generation time equal the trainer's own
    scoring of the same text (same tokens), so a LoRA DPO step on them starts at log 2;
    the checkpoint then generates."""
    from agentloop.llm import Sampling
    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.transformers_backend import TransformersBackend

    backend = TransformersBackend.from_pretrained(resolve_model("default"))
    prompt = (Message(role="user", content="Say hello."),)
    samples = backend.generate([prompt], n=4, sampling=Sampling(max_new_tokens=60, temperature=0.7, seed=3))[0]
    finished = [c for c in samples if c.finish_reason == "stop"]  # ended with the end-of-turn token
    assert len(finished) >= 2
    pairs = [PreferencePair(prompt=prompt, chosen=(Message(role="assistant", content=finished[0].text),),
                            rejected=(Message(role="assistant", content=other.text),),
                            chosen_logprob=finished[0].logprob, rejected_logprob=other.logprob)
             for other in finished[1:]]
    encoded = encode_pairs(backend.tokenizer, pairs)
    assert [list(c.ids) for _, c in encoded.candidates] == [list(c.token_ids) for c in finished]
    unrecorded = [p.model_copy(update={"chosen_logprob": None, "rejected_logprob": None}) for p in pairs]
    ours = reference_logps(backend.model, unrecorded, encoded, fast(), backend.tokenizer.pad_token_id)
    recorded = torch.tensor([[p.chosen_logprob, p.rejected_logprob] for p in pairs], dtype=torch.float32)
    assert torch.allclose(ours, recorded, atol=1e-3)
    result = train_dpo("default", pairs, fast(lr=1e-4, lora=LoraSettings(r=8)), tmp_path / "out")
    assert result.logs[0]["loss"] == pytest.approx(0.693147, abs=1e-3)
    out = TransformersBackend.from_pretrained(tmp_path / "out").generate(
        [prompt], sampling=Sampling(max_new_tokens=8, temperature=0))
    assert out[0][0].token_ids
