"""Prefix sharing: one forward over prompt + all candidates equals scoring each pair alone."""

from __future__ import annotations

import pytest
import torch
from agentloop.trainers.dpo import score_pairs
from agentloop.trainers.encoding import encode_pairs
from agentloop.trainers.losses import DPOLoss
from agentloop.trainers.prefix import block_mask, pack_rows, pack_shared

from agentloop.records import Message, PreferencePair


def user(text: str) -> tuple[Message, ...]:
    return (Message(role="user", content=text),)


def act(*texts: str) -> tuple[Message, ...]:
    return tuple(Message(role="assistant" if i % 2 == 0 else "user", content=t) for i, t in enumerate(texts))


def node_pairs() -> list[PreferencePair]:
    """Two nodes with three candidates each (three pairs per node), and one trajectory-level pair."""
    pairs = []
    for prompt, cands in [("You are in a shop. Buy red shoes under $50.", ["search[red shoes]", "click[next]", "buy"]),
                          ("Observation: results page 1 of 3", ["click[item 2]", "click[back to search]", "think"])]:
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            pairs.append(PreferencePair(prompt=user(prompt), chosen=act(cands[a]), rejected=act(cands[b]),
                                        chosen_logprob=-3.0 - a, rejected_logprob=-4.0 - b))
    pairs.append(PreferencePair(prompt=user("multi"), chosen=act("look", "you see a door", "open door"),
                                rejected=act("sleep"), chosen_logprob=-9.0, rejected_logprob=-2.0))
    return pairs


def separate_logps(model, encoded, batch):
    """Reference implementation: every side of every pair as its own full sequence."""
    chosen, rejected = [], []
    for i in batch:
        for c, out in zip(encoded.pairs[i], (chosen, rejected)):
            prompt_index, cont = encoded.candidates[c]
            prompt = list(encoded.prompts[prompt_index])
            ids = torch.tensor([prompt + list(cont.ids)])
            logits = model(input_ids=ids).logits[0, :-1].float()
            token = logits.log_softmax(-1).gather(1, ids[0, 1:, None]).squeeze(1)[len(prompt) - 1:]
            out.append(token[torch.tensor(cont.mask)].sum())
    return torch.stack(chosen), torch.stack(rejected)


def test_block_mask_isolates_candidates():
    segments = torch.tensor([[-1, -1, 0, 0, 1, -2]])
    mask = block_mask(segments)[0, 0]
    assert mask[2, :3].all() and not mask[2, 3:].any()  # first candidate token: prompt + itself
    assert mask[4, :2].all() and not mask[4, 2:4].any() and mask[4, 4]  # candidate 1 never sees candidate 0
    assert mask[5].tolist() == [False] * 5 + [True]  # padding sees only itself
    assert not mask[0, 1]  # causal inside the prompt


def test_block_mask_lets_a_segment_see_its_parent_only():
    # prefix | rest of prompt A (0) | A's candidate (1) | rest of B (2) | B's candidate (3)
    segments = torch.tensor([[-1, -1, 0, 1, 1, 2, 3]])
    parents = torch.tensor([[-1, -1, -1, 0, 0, -1, 2]])
    mask = block_mask(segments, parents)[0, 0]
    assert mask[4].tolist() == [True] * 5 + [False] * 2  # A's candidate: prefix, A's rest, itself
    assert mask[6].tolist() == [True, True, False, False, False, True, True]  # B's never sees A's
    assert mask[5].tolist() == [True, True] + [False] * 3 + [True, False]  # B's rest: prefix, itself


def test_pack_shared_reads_the_common_prefix_once(tokenizer):
    encoded = encode_pairs(tokenizer, node_pairs())
    rows = [(prompt, [c for p, c in encoded.candidates if p == i]) for i, prompt in enumerate(encoded.prompts)]
    separate, shared = pack_rows(rows, pad_id=0), pack_shared(rows, pad_id=0)
    tokens = sum(len(p) + sum(len(c.ids) for c in cs) for p, cs in rows)
    common = min(len(p) for p, _ in rows)
    while len({tuple(p[:common]) for p, _ in rows}) > 1:
        common -= 1
    assert common > 5  # the chat template's opening is shared
    assert shared.input_ids.shape == (1, tokens - 2 * common)
    assert shared.num_continuations == separate.num_continuations
    assert shared.token_targets.tolist() == separate.token_targets.tolist()
    assert shared.token_owner.tolist() == separate.token_owner.tolist()


def test_pack_rows_writes_prompt_once(tokenizer):
    encoded = encode_pairs(tokenizer, node_pairs())
    assert len(encoded.prompts) == 3 and len(encoded.candidates) == 8
    rows = [(encoded.prompts[0], [c for p, c in encoded.candidates if p == 0])]
    batch = pack_rows(rows, pad_id=0)
    prompt_len = len(encoded.prompts[0])
    assert batch.input_ids.shape[1] == prompt_len + sum(len(c.ids) for c in rows[0][1])
    assert batch.position_ids[0, prompt_len].item() == prompt_len  # every candidate restarts here
    second = prompt_len + len(rows[0][1][0].ids)
    assert batch.position_ids[0, second].item() == prompt_len


@pytest.mark.parametrize("share_prefix", [True, False])
def test_shared_prefix_equals_separate_scoring_loss_and_gradients(tokenizer, make_tiny_model, share_prefix):
    pairs = node_pairs()
    encoded = encode_pairs(tokenizer, pairs)
    batch = list(range(len(pairs)))
    reference = torch.tensor([[p.chosen_logprob, p.rejected_logprob] for p in pairs])
    loss_fn = DPOLoss(beta=0.5)
    results = []
    for shared in (True, False):
        model = make_tiny_model(3)
        model.train()
        if shared:
            chosen, rejected, _, _ = score_pairs(model, encoded, batch, tokenizer.pad_token_id, share_prefix)
        else:
            chosen, rejected = separate_logps(model, encoded, batch)
        loss = loss_fn(chosen, rejected, reference[:, 0], reference[:, 1]).loss
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        results.append((loss.item(), chosen.detach(), rejected.detach(), grads))
    (loss_a, ca, ra, ga), (loss_b, cb, rb, gb) = results
    assert abs(loss_a - loss_b) < 1e-5
    assert torch.allclose(ca, cb, atol=1e-5) and torch.allclose(ra, rb, atol=1e-5)
    for name in ga:
        assert torch.allclose(ga[name], gb[name], atol=1e-5, rtol=0), name
    assert max(g.abs().max().item() for g in ga.values()) > 1e-4  # gradients are not all zero
