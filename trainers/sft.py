"""Masked SFT on conversations where only the model's own flagged turns count (Agent-R).

Agent-R (sec. 3.2) fine-tunes on revision trajectories (task, the bad steps
up to the first wrong one t', a revision thought, then the good path's
continuation) with the loss on the model's turns after the bad prefix, and
mixes them with good trajectories so the model keeps solving tasks directly.
`RevisionTrajectory.train` flags the counted assistant turns; user and
environment turns and unflagged assistant turns are context only.

Example:
    >>> result = train_sft("default", revisions + goods, SFTConfig(good_per_revision=1.0), out)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from agentloop.trainers.config import SFTConfig
from agentloop.trainers.encoding import (
    Continuation,
    encode_continuation,
    end_of_turn,
    prompt_ids,
)
from agentloop.trainers.losses import MaskedNLLLoss
from agentloop.trainers.prefix import pack, packed_logits
from agentloop.trainers.training import (
    TrainResult,
    finished_result,
    load_model,
    run_training,
)
from torch import Tensor

from agentloop.records import RevisionTrajectory


def encode_record(tokenizer, record: RevisionTrajectory, eot: str | None = None
                  ) -> tuple[tuple[int, ...], Continuation] | None:
    """Prompt ids (messages before the first assistant turn) and the masked rest; None if nothing is trained."""
    first = next((i for i, m in enumerate(record.messages) if m.role == "assistant"), None)
    if first is None or not any(record.train):
        return None
    cont = encode_continuation(tokenizer, record.messages[:first], record.messages[first:],
                               record.train[first:], eot=eot)
    return prompt_ids(tokenizer, record.messages[:first]), cont


def mix_epoch(kinds: Sequence[str], good_per_revision: float | None, seed: int) -> list[int]:
    """Record indices for one epoch, shuffled: all revisions plus good ones at the configured rate.

    With `good_per_revision` r and R revisions, round(r * R) good trajectories
    are drawn (without replacement while there are enough); None keeps all
    records. With no revisions at all, every good trajectory is used.
    """
    rng = random.Random(seed)
    revisions = [i for i, k in enumerate(kinds) if k == "revision"]
    goods = [i for i, k in enumerate(kinds) if k != "revision"]
    if good_per_revision is None or not revisions:
        chosen = revisions + goods
    else:
        wanted = round(good_per_revision * len(revisions))
        if wanted <= len(goods):
            picked = rng.sample(goods, wanted)
        else:
            picked = goods + (rng.choices(goods, k=wanted - len(goods)) if goods else [])
        chosen = revisions + picked
    rng.shuffle(chosen)
    return chosen


def train_sft(model_path: str | Path, records: Sequence[RevisionTrajectory], config: SFTConfig,
              output_dir: str | Path) -> TrainResult:
    """Fine-tune on the flagged assistant turns of `records`; write a HF checkpoint to `output_dir`.

    Resumable like `train_dpo`. Logs the token-mean NLL per optimiser step.
    """
    output_dir = Path(output_dir)
    if (done := finished_result(output_dir)) is not None:
        return done
    model, tokenizer = load_model(model_path, config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    eot = end_of_turn(tokenizer)
    encoded = [encode_record(tokenizer, r, eot) for r in records]
    usable = [i for i, e in enumerate(encoded) if e is not None and e[1].num_trained
              and (config.max_length is None or len(e[0]) + len(e[1].ids) <= config.max_length)]
    if not usable:
        raise ValueError("no record has a trained assistant turn (within max_length)")
    kinds = [records[i].kind for i in usable]
    nll = MaskedNLLLoss()

    def plan(epoch: int) -> list[list[int]]:
        order = [usable[j] for j in mix_epoch(kinds, config.good_per_revision, config.seed + epoch)]
        return [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]

    def step(batch: list[int]) -> tuple[Tensor, dict[str, Tensor]]:
        rows = [(encoded[i][0], [encoded[i][1]]) for i in batch]
        logits, targets, _ = packed_logits(model, pack(rows, pad_id, config.share_prefix))
        loss = nll(logits, targets)
        return loss, {"nll": loss.detach().reshape(1)}

    return run_training(model, tokenizer, plan, step, config, output_dir, examples=len)
