"""Reading training data files for `agentloop train`: our exports or TRL-format files.

Preference files: our `pairs.jsonl` (`PreferencePair` records), or any TRL
preference dataset in JSON Lines: `prompt`/`chosen`/`rejected` as message
lists (conversational) or strings (standard; a string prompt becomes one user
message, a string answer one assistant message), or the implicit-prompt form
where `chosen` and `rejected` are whole conversations sharing a prefix.
`ref_chosen_logps`/`ref_rejected_logps` columns, when present, become the
off-policy reference. Conversation files: our `revisions.jsonl`
(`RevisionTrajectory`), or TRL's `{"messages": [...]}` where every assistant
turn is trained.

Example:
    >>> pairs = load_pairs("runs/x/round-1/pairs.jsonl")
    >>> records = load_conversations("trl_sft.jsonl")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agentloop.jsonl import JsonlError
from agentloop.records import Message, PreferencePair, RevisionTrajectory


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
    return PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected,
                          chosen_logprob=row.get("ref_chosen_logps"),
                          rejected_logprob=row.get("ref_rejected_logps"))


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


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["lr=1e-5", "lora.r=16"]` -> `{"lr": 1e-5, "lora": {"r": 16}}` (values read as YAML)."""
    import yaml

    settings: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not KEY=VALUE")
        *parents, leaf = key.split(".")
        node = settings
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return settings


def train_from_file(data: str | Path, output: str | Path, model: str = "default", method: str = "dpo",
                    overrides: list[str] | None = None):
    """Train `model` on the file `data` with `method` (dpo, ipo, simpo or sft); returns the TrainResult."""
    from agentloop.trainers.config import DPOConfig, SFTConfig
    from agentloop.trainers.dpo import train_dpo
    from agentloop.trainers.sft import train_sft

    settings = parse_overrides(overrides or [])
    if method == "sft":
        return train_sft(model, load_conversations(data), SFTConfig(**settings), output)
    if method in ("dpo", "ipo", "simpo"):
        return train_dpo(model, load_pairs(data), DPOConfig(**{"loss": method, **settings}), output)
    raise ValueError(f"method {method!r} is not one of dpo, ipo, simpo, sft")
