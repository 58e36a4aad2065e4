"""Off-policy step-level (and trajectory-level) DPO, IPO and SimPO with prefix sharing.

Agent Q trains on preference pairs between sibling actions of a search node;
the reference log-probs are those of the policy that generated the actions,
recorded at generation time, so no reference model is held during training
(Putta et al. 2024, sec. 4). The agent records them for exactly the tokens
scored here (`agentloop.trainers.encoding`), so a recorded sum equals what
this trainer computes with the generating model. When a pair lacks them (a
TRL file, or `use_reference(pairs, "recompute")`) they are computed once,
before the first step, with the model training starts from (no grad,
batched) and cached in the training state, so a resumed run uses the same
reference.

Every micro-batch is scored with one forward pass in which each prompt
appears once followed by all its candidates (`trainers/prefix.py`); only
action tokens (assistant turns) count. Multi-message `chosen`/`rejected`
(trajectory-level DPO) work the same way: environment turns inside them are
context, not loss.

Example:
    >>> result = train_dpo("default", pairs, DPOConfig(beta=0.1, epochs=2), "runs/x/round-1/checkpoint")
    >>> result.logs[-1]["accuracy"]
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from agentloop.trainers.config import DPOConfig
from agentloop.trainers.encoding import EncodedPairs, encode_pairs
from agentloop.trainers.losses import build_preference_loss
from agentloop.trainers.prefix import pack, score_packed
from agentloop.trainers.training import (
    STATE_DIR,
    TrainResult,
    finished_result,
    load_model,
    run_training,
)
from torch import Tensor

from agentloop.records import PreferencePair


def use_reference(pairs: Sequence[PreferencePair],
                  reference: Literal["recorded", "recompute"]) -> list[PreferencePair]:
    """`pairs` as the `trainer.reference` setting says: "recorded" keeps their recorded
    log-probs (the generating policy's; missing ones are computed before training),
    "recompute" drops them, so the model DPO starts from scores every pair.

    Every entry point (the round loop, `agentloop train`, `examples/one_round.py`)
    passes its pairs through here before `train_dpo`.

    Example:
        >>> use_reference(pairs, "recompute")[0].chosen_logprob is None
        True
    """
    if reference == "recorded":
        return list(pairs)
    if reference == "recompute":
        return [p.model_copy(update={"chosen_logprob": None, "rejected_logprob": None}) for p in pairs]
    raise ValueError(f"reference must be 'recorded' or 'recompute', got {reference!r}")


def plan_batches(encoded: EncodedPairs, indices: Sequence[int], batch_size: int, seed: int) -> list[list[int]]:
    """Micro-batches of `batch_size` pair indices, pairs of one prompt kept together.

    The order of prompts is shuffled with `seed`; consecutive pairs share their
    prompt, so most prompts land in one micro-batch and are read once.
    """
    by_prompt: dict[int, list[int]] = {}
    for i in indices:
        by_prompt.setdefault(encoded.candidates[encoded.pairs[i][0]][0], []).append(i)
    groups = list(by_prompt.values())
    rng = random.Random(seed)
    rng.shuffle(groups)
    order = [i for group in groups for i in group]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def score_pairs(model: Any, encoded: EncodedPairs, batch: Sequence[int],
                pad_id: int, share_prefix: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Policy log-probs and lengths of the chosen and rejected side of each pair in `batch`.

    The distinct candidates of the batch are packed one row per prompt (with
    `share_prefix`, one row in all, the prompts' common prefix read once) and
    scored in one forward pass.
    """
    needed: dict[int, list[int]] = {}
    for i in batch:
        for c in encoded.pairs[i]:
            members = needed.setdefault(encoded.candidates[c][0], [])
            if c not in members:
                members.append(c)
    order = [c for members in needed.values() for c in members]
    rows = [(encoded.prompts[p], [encoded.candidates[c][1] for c in members]) for p, members in needed.items()]
    logps, lengths = score_packed(model, pack(rows, pad_id, share_prefix))
    slot = {c: k for k, c in enumerate(order)}
    chosen = torch.tensor([slot[encoded.pairs[i][0]] for i in batch], device=logps.device)
    rejected = torch.tensor([slot[encoded.pairs[i][1]] for i in batch], device=logps.device)
    return logps[chosen], logps[rejected], lengths[chosen], lengths[rejected]


def reference_logps(model: Any, pairs: Sequence[PreferencePair], encoded: EncodedPairs, config: DPOConfig,
                    pad_id: int, cache: Path | None = None) -> Tensor:
    """[num_pairs, 2] reference log-probs: recorded ones where present, else those of
    `model` as training starts (the same tokens, scored by `score_pairs`).

    Computed values are cached in `cache` (JSON) so that a resumed run, whose
    model has already moved, reuses the initial model's numbers.
    """
    recorded = [(p.chosen_logprob, p.rejected_logprob) for p in pairs]
    missing = [i for i, (c, r) in enumerate(recorded) if c is None or r is None]
    values = torch.tensor([[c or 0.0, r or 0.0] for c, r in recorded], dtype=torch.float32)
    if not missing or config.loss == "simpo":  # SimPO has no reference term
        return values
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored["pairs"] == len(pairs):
            return torch.tensor(stored["values"], dtype=torch.float32)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(missing), config.reference_batch_size):
            batch = missing[start:start + config.reference_batch_size]
            chosen, rejected, _, _ = score_pairs(model, encoded, batch, pad_id, config.share_prefix)
            values[batch] = torch.stack([chosen, rejected], dim=1).float().cpu()
    model.train(was_training)
    if cache is not None:
        from agentloop.atomic import write_json_atomic

        write_json_atomic(cache, {"pairs": len(pairs), "values": values.tolist()})
    return values


def _fits(encoded: EncodedPairs, i: int, max_length: int | None) -> bool:
    if max_length is None:
        return True
    return all(len(encoded.prompts[encoded.candidates[c][0]]) + len(encoded.candidates[c][1].ids) <= max_length
               for c in encoded.pairs[i])


def train_dpo(model_path: str | Path, pairs: Sequence[PreferencePair], config: DPOConfig,
              output_dir: str | Path) -> TrainResult:
    """Train the model at `model_path` on preference `pairs`; write a HF checkpoint to `output_dir`.

    Calling it again with the same `output_dir` after a crash resumes from the
    last saved step; after a finished run it returns that run's result.
    Per-step logs (loss, rewards, margin, accuracy) are in `train_log.jsonl`.
    """
    output_dir = Path(output_dir)
    if (done := finished_result(output_dir)) is not None:
        return done
    if not pairs:
        raise ValueError("no preference pairs to train on")
    model, tokenizer = load_model(model_path, config)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = encode_pairs(tokenizer, pairs)
    kept = [i for i in range(len(pairs)) if _fits(encoded, i, config.max_length)]
    if not kept:
        raise ValueError(f"every pair is longer than max_length={config.max_length} tokens")
    reference = reference_logps(model, pairs, encoded, config, pad_id,
                                output_dir / STATE_DIR / "reference.json")
    loss_fn = build_preference_loss(config.loss, config.beta, config.gamma, config.label_smoothing)

    def step(batch: list[int]) -> tuple[Tensor, dict[str, Tensor]]:
        chosen, rejected, chosen_len, rejected_len = score_pairs(model, encoded, batch, pad_id,
                                                                 config.share_prefix)
        ref = reference[batch].to(chosen.device)
        out = loss_fn(chosen, rejected, ref[:, 0], ref[:, 1], chosen_len, rejected_len)
        margin = out.chosen_rewards - out.rejected_rewards
        return out.loss, {"chosen_reward": out.chosen_rewards, "rejected_reward": out.rejected_rewards,
                          "margin": margin, "accuracy": (margin > 0).float()}

    return run_training(model, tokenizer, lambda epoch: plan_batches(encoded, kept, config.batch_size,
                                                                      config.seed + epoch),
                        step, config, output_dir, examples=len)
