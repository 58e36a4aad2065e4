"""Reading training data files for `agentloop train`: our exports or TRL-format files.

Preference files: our `pairs.jsonl` (`PreferencePair` records), or any TRL
preference dataset in JSON Lines: `prompt`/`chosen`/`rejected` as message
lists (conversational) or strings (standard; a string prompt becomes one user
message, a string answer one assistant message), or the implicit-prompt form
where `chosen` and `rejected` are whole conversations sharing a prefix.
A TRL file's `ref_chosen_logps`/`ref_rejected_logps` columns are not read:
TRL sums them over the completion, the end-of-turn token and the "\n" the
chat template writes after it, one token more than this trainer scores, so
they are not its reference; such pairs are scored before training by the
model training starts from. Conversation files: our `revisions.jsonl`
(`RevisionTrajectory`), or TRL's `{"messages": [...]}` where every assistant
turn is trained.

`train_from_file` takes its settings from a `RunConfig` (the same dotted keys
as `agentloop run`: `trainer.dpo.lr=1e-5`, `trainer.reference=recompute`).

Example:
    >>> pairs = load_pairs("runs/x/round-1/pairs.jsonl")
    >>> records = load_conversations("trl_sft.jsonl")
    >>> train_from_file("pairs.jsonl", "ckpt", load_config(None, ["trainer.dpo.lr=1e-5"]))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agentloop.jsonl import JsonlError
from agentloop.records import Message, PreferencePair, RevisionTrajectory

if TYPE_CHECKING:  # agentloop.config imports the trainers' configs: no cycle at run time
    from agentloop.config import RunConfig


def _messages(value: Any, role: str) -> tuple[Message, ...]:
    if isinstance(value, str):
        return (Message(role=role, content=value),)  # type: ignore[arg-type]
    return tuple(Message(role=m["role"], content=m["content"]) for m in value)


def _trl_pair(row: dict[str, Any]) -> PreferencePair:
    if "prompt" in row:
        prompt = _messages(row["prompt"], "user")
        chosen, rejected = _messages(row["chosen"], "assistant"), _messages(row["rejected"], "assistant")
    else:  # implicit prompt: the shared prefix of the two conversations
        full_chosen, full_rejected = _messages(row["chosen"], "user"), _messages(row["rejected"], "user")
        shared = 0
        while (shared < min(len(full_chosen), len(full_rejected)) - 1
               and full_chosen[shared] == full_rejected[shared]):
            shared += 1
        prompt, chosen, rejected = full_chosen[:shared], full_chosen[shared:], full_rejected[shared:]
    return PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected)


def _rows(path: Path):
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise JsonlError(path, number, f"not JSON ({error.msg})") from None


def load_pairs(path: str | Path) -> list[PreferencePair]:
    """Preference pairs from our export or a TRL preference JSONL file."""
    path, pairs = Path(path), []
    for number, row in _rows(path):
        try:
            pairs.append(PreferencePair.model_validate(row) if "provenance" in row or "chosen_q" in row
                         else _trl_pair(row))
        except (ValidationError, KeyError, TypeError) as error:
            raise JsonlError(path, number, f"not a preference pair ({error})") from None
    return pairs


def load_conversations(path: str | Path) -> list[RevisionTrajectory]:
    """SFT conversations from our revisions export or TRL's `messages` format."""
    path, records = Path(path), []
    for number, row in _rows(path):
        try:
            if "train" in row:
                records.append(RevisionTrajectory.model_validate(row))
            else:
                messages = _messages(row["messages"], "user")
                records.append(RevisionTrajectory(messages=messages, kind="good",
                                                  train=tuple(m.role == "assistant" for m in messages)))
        except (ValidationError, KeyError, TypeError) as error:
            raise JsonlError(path, number, f"not a conversation ({error})") from None
    return records


def train_from_file(data: str | Path, output: str | Path, config: RunConfig, method: str | None = None,
                    model: str | None = None):
    """Train on the file `data` into `output` with the run config's `trainer` section; returns
    the TrainResult.

    `method`: "sft" (masked SFT, `trainer.sft`) or a preference loss "dpo", "ipo", "simpo"
    (`trainer.dpo` with that loss; None: `trainer.dpo.loss`). Pairs follow
    `trainer.reference`. `model`: None trains `llm.model`.
    """
    from agentloop.trainers.dpo import train_dpo, use_reference
    from agentloop.trainers.sft import train_sft

    model = model or config.llm.model
    if method == "sft":
        return train_sft(model, load_conversations(data), config.trainer.sft, output)
    if method not in (None, "dpo", "ipo", "simpo"):
        raise ValueError(f"method {method!r} is not one of dpo, ipo, simpo, sft")
    dpo = config.trainer.dpo if method is None else config.trainer.dpo.model_copy(update={"loss": method})
    return train_dpo(model, use_reference(load_pairs(data), config.trainer.reference), dpo, output)
