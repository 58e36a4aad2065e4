"""Masked SFT: only flagged assistant turns count; Agent-R mixing; a real step learns."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from agentloop.trainers.config import SFTConfig
from agentloop.trainers.encoding import encode_continuation, end_of_turn
from agentloop.trainers.prefix import pack_rows, pack_shared, packed_logits
from agentloop.trainers.sft import encode_record, mix_epoch, train_sft
from safetensors.torch import load_file

from agentloop.records import Message, RevisionTrajectory


def revision(i: int) -> RevisionTrajectory:
    """Task, a bad step (masked), the revision thought and the good continuation (trained)."""
    return RevisionTrajectory(
        messages=(Message(role="user", content=f"Task {i}: buy a lamp."),
                  Message(role="assistant", content="click[chair]"),
                  Message(role="user", content="You see a chair."),
                  Message(role="assistant", content="Thought: I realize my previous action was wrong. Action: wait"),
                  Message(role="user", content="ok."),
                  Message(role="assistant", content="search[lamp]")),
        train=(False, False, False, True, False, True), kind="revision")


def good(i: int) -> RevisionTrajectory:
    return RevisionTrajectory(messages=(Message(role="user", content=f"Task {i}: buy a lamp."),
                                        Message(role="assistant", content="search[lamp]")),
                              train=(False, True), kind="good")


def test_only_flagged_assistant_tokens_count(tokenizer):
    prompt, cont = encode_record(tokenizer, revision(0))
    eot = end_of_turn(tokenizer)
    trained = [t for t, m in zip(cont.ids, cont.mask) if m]
    expected = (tokenizer("Thought: I realize my previous action was wrong. Action: wait" + eot,
                          add_special_tokens=False).input_ids
                + tokenizer("search[lamp]" + eot, add_special_tokens=False).input_ids)
    assert trained == expected
    # the whole row is exactly the chat-template rendering of the conversation
    rendered = tokenizer.apply_chat_template([m.model_dump() for m in revision(0).messages], tokenize=False)
    assert tokenizer.decode(list(prompt) + list(cont.ids)) == rendered.rstrip("\n")


def test_masked_loss_equals_manual_nll_over_flagged_tokens(tokenizer, make_tiny_model):
    model = make_tiny_model(0)
    prompt, cont = encode_record(tokenizer, revision(1))
    logits, targets, _ = packed_logits(model, pack_rows([(prompt, [cont])], tokenizer.pad_token_id))
    ours = torch.nn.functional.cross_entropy(logits, targets).item()
    ids = torch.tensor([list(prompt) + list(cont.ids)])
    with torch.no_grad():
        full = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
    token = full.gather(1, ids[0, 1:, None]).squeeze(1)[len(prompt) - 1:]
    manual = -token[torch.tensor(cont.mask)].mean().item()
    assert ours == pytest.approx(manual, abs=1e-5)


def test_agent_r_mixing_ratio():
    kinds = ["revision"] * 10 + ["good"] * 4
    picked = mix_epoch(kinds, good_per_revision=0.5, seed=0)
    counts = Counter(kinds[i] for i in picked)
    assert counts == {"revision": 10, "good": 5} and len(set(i for i in picked if kinds[i] == "good")) == 4
    assert sorted(mix_epoch(kinds, None, seed=1)) == list(range(14))
    assert mix_epoch(kinds, 0.5, seed=0) == picked  # seeded


def test_sft_step_lowers_loss_and_changes_weights(tiny_model_dir, tmp_path):
    records = [revision(i) for i in range(4)] + [good(i) for i in range(4)]
    config = SFTConfig(lr=2e-3, warmup_ratio=0.0, schedule="constant", batch_size=8, epochs=4,
                       progress=False, device="cpu")
    result = train_sft(tiny_model_dir, records, config, tmp_path / "out")
    losses = [e["loss"] for e in result.logs]
    assert len(losses) == 4 and losses[-1] < losses[0]
    before = load_file(str(tiny_model_dir / "model.safetensors"))
    after = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert all(not torch.equal(before[n], after[n]) for n in before)


def test_untrained_turns_do_not_change_trained_targets(tokenizer):
    """Changing the masked bad step's text leaves the trained tokens unchanged."""
    a = encode_continuation(tokenizer, revision(0).messages[:1], revision(0).messages[1:], revision(0).train[1:])
    other = list(revision(0).messages)
    other[1] = Message(role="assistant", content="click[sofa]")
    b = encode_continuation(tokenizer, other[:1], other[1:], revision(0).train[1:])
    assert [t for t, m in zip(a.ids, a.mask) if m] == [t for t, m in zip(b.ids, b.mask) if m]


def test_shared_prefix_batch_gives_the_loss_and_gradients_of_separate_rows(tokenizer, make_tiny_model):
    # Records of one round: the same system prompt and worked example, then each its own task.
    system = Message(role="system", content="You shop online. Reply with Thought: and Action: lines. " * 6)
    example = (Message(role="user", content="Example task: buy socks."),
               Message(role="assistant", content="Thought: search.\nAction: search[socks]"))
    records = [RevisionTrajectory(messages=(system, *example, Message(role="user", content=f"Task {i}: a lamp."),
                                            Message(role="assistant", content=f"Action: search[lamp {i}]")),
                                  train=(False, False, False, False, True), kind="good") for i in range(4)]
    rows = [(prompt, [cont]) for prompt, cont in (encode_record(tokenizer, r) for r in records)]
    results = []
    for packed in (pack_rows(rows, tokenizer.pad_token_id), pack_shared(rows, tokenizer.pad_token_id)):
        model = make_tiny_model(2)
        logits, targets, _ = packed_logits(model, packed)
        loss = torch.nn.functional.cross_entropy(logits, targets)
        loss.backward()
        results.append((packed.input_ids.numel(), loss.item(), {n: p.grad for n, p in model.named_parameters()}))
    (separate_tokens, separate_loss, separate_grads), (shared_tokens, shared_loss, shared_grads) = results
    assert shared_tokens < separate_tokens / 2  # the prefix is most of each row, read once
    assert shared_loss == pytest.approx(separate_loss, abs=1e-5)
    for name, grad in separate_grads.items():
        assert torch.allclose(shared_grads[name], grad, atol=1e-5, rtol=0), name
