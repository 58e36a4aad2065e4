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


@dataclass
class _Layout:
    """One packed row as lists, before padding: tokens with their positions, segments and
    segments' parents, and where each counted token is predicted."""

    ids: list[int]
    positions: list[int]
    segments: list[int]
    parents: list[int]
    token_positions: list[int]
    token_targets: list[int]
    token_owner: list[int]
    continuations: int = 0


def _lay_out(prefix: Sequence[int], groups: Sequence[tuple[Sequence[int], Sequence[Continuation]]],
             owner: int) -> _Layout:
    """`prefix` once, then for each group the rest of its prompt (a segment that sees the
    prefix) and its continuations (each sees the prefix, that rest and itself), positioned
    as if each prompt + continuation stood alone; continuations numbered from `owner`."""
    n = len(prefix)
    row = _Layout(list(prefix), list(range(n)), [_PROMPT] * n, [_PROMPT] * n, [], [], [])
    segment = 0

    def add(tokens: Sequence[int], first_position: int, parent: int) -> int:
        nonlocal segment
        row.ids.extend(tokens)
        row.positions.extend(range(first_position, first_position + len(tokens)))
        row.segments.extend([segment] * len(tokens))
        row.parents.extend([parent] * len(tokens))
        segment += 1
        return segment - 1

    for rest, conts in groups:
        if not prefix and not rest:
            raise ValueError("a prompt needs at least one token to predict its continuation from")
        parent = add(rest, n, _PROMPT) if rest else _PROMPT
        last_prompt, first = len(row.ids) - 1, n + len(rest)
        for cont in conts:
            start = len(row.ids)
            add(cont.ids, first, parent)
            for j, (token, counted) in enumerate(zip(cont.ids, cont.mask)):
                if counted:
                    # token j is predicted by the previous token of the same
                    # continuation, or by the prompt's last token when j == 0
                    row.token_positions.append(start + j - 1 if j else last_prompt)
                    row.token_targets.append(token)
                    row.token_owner.append(owner)
            owner, row.continuations = owner + 1, row.continuations + 1
    return row


def _stack(rows: Sequence[_Layout], pad_id: int) -> PackedBatch:
    """The rows right-padded to the longest, as one batch."""
    width = max(len(row.ids) for row in rows)

    def grid(name: str, fill: int) -> Tensor:
        out = torch.full((len(rows), width), fill, dtype=torch.long)
        for r, row in enumerate(rows):
            values = getattr(row, name)
            out[r, :len(values)] = torch.tensor(values, dtype=torch.long)
        return out

    as_long = lambda xs: torch.tensor(xs, dtype=torch.long)  # noqa: E731
    flat = lambda name: as_long([x for row in rows for x in getattr(row, name)])  # noqa: E731
    token_rows = as_long([r for r, row in enumerate(rows) for _ in row.token_targets])
    return PackedBatch(grid("ids", pad_id), grid("positions", 0),
                       block_mask(grid("segments", _PAD), grid("parents", _PAD)), token_rows,
                       flat("token_positions"), flat("token_targets"), flat("token_owner"),
                       sum(row.continuations for row in rows))


def pack_rows(rows: Sequence[tuple[Sequence[int], Sequence[Continuation]]], pad_id: int) -> PackedBatch:
    """One row per (prompt ids, continuations) group, right-padded to the longest row."""
    layouts: list[_Layout] = []
    for prompt, conts in rows:
        layouts.append(_lay_out(prompt, [((), conts)], sum(row.continuations for row in layouts)))
    return _stack(layouts, pad_id)


def pack_shared(rows: Sequence[tuple[Sequence[int], Sequence[Continuation]]], pad_id: int) -> PackedBatch:
    """All rows as one: the prefix their prompts share, once, then for each row
    the rest of its prompt (a segment that sees the prefix) and its
    continuations (each sees the prefix, that rest and itself).

    Examples of one round share the system prompt and the worked example, most
    of their tokens, so this reads them once per batch instead of once per
    example; positions restart where each example's own tokens would stand
    alone, so log-probs, losses and gradients are those of `pack_rows`.
    Continuations are numbered as `pack_rows` numbers them.
    """
    shared = common_prefix_length([p for p, _ in rows])
    return _stack([_lay_out(rows[0][0][:shared], [(p[shared:], conts) for p, conts in rows], 0)], pad_id)


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
