"""Prefix sharing: score several continuations of one prompt in one forward pass.

Step-level pairs have a long prompt (the whole history) and short actions, and
every candidate of a search node shares that prompt. A generic DPO trainer
runs prompt + chosen and prompt + rejected as separate sequences, reading the
prompt twice per pair (and once more per pair for the reference model). Here
one row holds the prompt once followed by all its candidates,

    [ prompt | cand 1 | cand 2 | cand 3 | pad ]

with a block attention mask (each candidate sees the prompt and its own
earlier tokens, never another candidate) and position ids that restart at
len(prompt) for every candidate, so each candidate's log-probs are exactly
those of prompt + candidate scored alone. Logits are computed only at the
positions that predict a counted token, which also skips the output head
(vocabulary-sized) on the prompt.

Across prompts, `pack_shared` goes one level further: the examples of a
micro-batch share the system prompt and the worked example, so their common
prefix is read once and each prompt's rest becomes a segment that its own
continuations (and nothing else) see.

Example:
    >>> batch = pack_rows([(prompt_ids, [cont_a, cont_b])], pad_id=0)
    >>> logps, lengths = score_packed(model, batch)   # one entry per continuation
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from agentloop.llm.protocol import common_prefix_length
from agentloop.trainers.encoding import Continuation
from torch import Tensor

_PROMPT, _PAD = -1, -2


@dataclass
class PackedBatch:
    """Rows of `prompt | continuations...` and where each counted token is predicted.

    `token_rows[n]`, `token_positions[n]` locate the hidden state that predicts
    `token_targets[n]`, a counted token of continuation `token_owner[n]`
    (numbered across the batch in the order given to `pack_rows`).
    """

    input_ids: Tensor
    position_ids: Tensor
    attention_mask: Tensor
    token_rows: Tensor
    token_positions: Tensor
    token_targets: Tensor
    token_owner: Tensor
    num_continuations: int

    def to(self, device: torch.device | str) -> PackedBatch:
        moved = {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in self.__dict__.items()}
        return PackedBatch(**moved)


def block_mask(segments: Tensor, parents: Tensor | None = None) -> Tensor:
    """Boolean attention mask [B, 1, L, L] (True = may attend) from segment ids [B, L].

    Segment -1 is the shared prompt, k >= 0 is segment k, -2 is padding. A
    query attends causally to the prompt, to its own segment and to its
    segment's parent (`parents[b, i]`, the segment that token i's segment
    continues; -1 or None: the prompt alone); padding attends only to itself,
    so no row of the mask is empty (an empty row makes SDPA return NaN, which
    would leak into the gradients).
    """
    length = segments.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segments.device).tril()
    query, key = segments[:, :, None], segments[:, None, :]
    parent = (segments.new_full(segments.shape, _PROMPT) if parents is None else parents)[:, :, None]
    real = query != _PAD
    sees = (key == _PROMPT) | (key == query) | ((key == parent) & (parent != _PROMPT))
    diagonal = torch.eye(length, dtype=torch.bool, device=segments.device)
    return ((causal & sees & real) | diagonal)[:, None]


def pack_rows(rows: Sequence[tuple[Sequence[int], Sequence[Continuation]]], pad_id: int) -> PackedBatch:
    """One row per (prompt ids, continuations) group, right-padded to the longest row."""
    lengths = [len(p) + sum(len(c.ids) for c in conts) for p, conts in rows]
    width = max(lengths)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros((len(rows), width), dtype=torch.long)
    segments = torch.full((len(rows), width), _PAD, dtype=torch.long)
    token_rows, token_positions, token_targets, token_owner = [], [], [], []
    owner = 0
    for r, (prompt, conts) in enumerate(rows):
        if not prompt:
            raise ValueError("a prompt needs at least one token to predict its continuation from")
        n = len(prompt)
        input_ids[r, :n] = torch.tensor(prompt)
        position_ids[r, :n] = torch.arange(n)
        segments[r, :n] = _PROMPT
        start = n
        for k, cont in enumerate(conts):
            a = len(cont.ids)
            input_ids[r, start:start + a] = torch.tensor(cont.ids, dtype=torch.long)
            position_ids[r, start:start + a] = torch.arange(n, n + a)
            segments[r, start:start + a] = k
            for j, (token, counted) in enumerate(zip(cont.ids, cont.mask)):
                if counted:
                    # token j is predicted by the previous token of the same
                    # continuation, or by the last prompt token when j == 0
                    token_rows.append(r)
                    token_positions.append(start + j - 1 if j else n - 1)
                    token_targets.append(token)
                    token_owner.append(owner)
            start += a
            owner += 1
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)  # noqa: E731
    return PackedBatch(input_ids, position_ids, block_mask(segments), as_long(token_rows),
                       as_long(token_positions), as_long(token_targets), as_long(token_owner), owner)


def pack_shared(rows: Sequence[tuple[Sequence[int], Sequence[Continuation]]], pad_id: int) -> PackedBatch:
    """All rows as one: the prefix their prompts share, once, then for each row
    the rest of its prompt (a segment that sees the prefix) and its
    continuations (each sees the prefix, that rest and itself).

    Examples of one round share the system prompt and the worked example, most
    of their tokens, so this reads them once per batch instead of once per
    example; positions restart where each example's own tokens would stand
    alone, so log-probs, losses and gradients are those of `pack_rows`. Rows
    with no common prefix are packed by `pack_rows`. Continuations are
    numbered as `pack_rows` numbers them.
    """
    shared = common_prefix_length([p for p, _ in rows]) if rows else 0
    if shared == 0 or len(rows) == 1:
        return pack_rows(rows, pad_id)
    ids, positions = list(rows[0][0][:shared]), list(range(shared))
    segments, parents = [_PROMPT] * shared, [_PROMPT] * shared
    token_positions, token_targets, token_owner = [], [], []
    segment = owner = 0

    def add(tokens: Sequence[int], first_position: int, parent: int) -> None:
        ids.extend(tokens)
        positions.extend(range(first_position, first_position + len(tokens)))
        segments.extend([segment] * len(tokens))
        parents.extend([parent] * len(tokens))

    for prompt, conts in rows:
        rest, parent = list(prompt[shared:]), _PROMPT
        if rest:
            add(rest, shared, _PROMPT)
            parent, segment = segment, segment + 1
        last_prompt = len(ids) - 1  # predicts each continuation's first token
        for cont in conts:
            start = len(ids)
            add(cont.ids, len(prompt), parent)
            for j, (token, counted) in enumerate(zip(cont.ids, cont.mask)):
                if counted:
                    token_positions.append(start + j - 1 if j else last_prompt)
                    token_targets.append(token)
                    token_owner.append(owner)
            segment, owner = segment + 1, owner + 1
    as_row = lambda xs: torch.tensor([xs], dtype=torch.long)  # noqa: E731
    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)  # noqa: E731
    return PackedBatch(as_row(ids), as_row(positions), block_mask(as_row(segments), as_row(parents)),
                       torch.zeros(len(token_targets), dtype=torch.long), as_long(token_positions),
                       as_long(token_targets), as_long(token_owner), owner)


def pack(rows: Sequence[tuple[Sequence[int], Sequence[Continuation]]], pad_id: int,
         share_prefix: bool) -> PackedBatch:
    """`pack_shared` or `pack_rows`, as a trainer's `share_prefix` setting says."""
    return pack_shared(rows, pad_id) if share_prefix else pack_rows(rows, pad_id)


def _decoder_and_head(model: Any) -> tuple[Any, Any]:
    # A peft model wraps the transformers model; its LoRA layers are injected
    # in place, so the inner decoder and head already include the adapters.
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


def packed_logits(model: Any, batch: PackedBatch) -> tuple[Tensor, Tensor, Tensor]:
    """Float32 logits [N, vocab] at the positions that predict the counted tokens, their
    targets [N] and owning continuation [N]: the decoder runs once over the packed
    rows, the output head only on those positions."""
    decoder, head = _decoder_and_head(model)
    batch = batch.to(next(model.parameters()).device)
    hidden = decoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                     position_ids=batch.position_ids, use_cache=False).last_hidden_state
    logits = head(hidden[batch.token_rows, batch.token_positions]).float()
    return logits, batch.token_targets, batch.token_owner


def score_packed(model: Any, batch: PackedBatch) -> tuple[Tensor, Tensor]:
    """Summed log-probs of each continuation's counted tokens, and how many there are.

    Returns float32 tensors of shape [num_continuations].
    """
    logits, targets, owner = packed_logits(model, batch)
    token_logps = logits.log_softmax(-1).gather(1, targets[:, None]).squeeze(1)
    zeros = torch.zeros(batch.num_continuations, device=logits.device)
    return zeros.index_add(0, owner, token_logps), zeros.index_add(0, owner, torch.ones_like(token_logps))
