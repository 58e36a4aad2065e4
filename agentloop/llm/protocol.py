"""The LLM protocol every backend implements, and the plain types it speaks.

A prompt is either raw text or a list of chat messages (the backend applies
the model's chat template, with the generation prompt). Backends return
plain Python types only: no torch, vLLM or OpenAI objects cross this line.

Example:
    >>> llm = TransformersBackend.from_pretrained(default_model_path())
    >>> [[c.text for c in cs] for cs in llm.generate(["Hi"], n=2, sampling=Sampling(max_new_tokens=8))]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, Union, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agentloop.records import Message

Prompt = Union[str, Sequence[Message]]


class Sampling(BaseModel):
    """How to sample. `temperature=0` means greedy decoding."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    temperature: float = Field(1.0, ge=0.0)
    """Softmax temperature; 0 picks the most likely token (greedy)."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    """Nucleus sampling: keep the smallest token set with this much probability."""
    max_new_tokens: int = Field(64, gt=0)
    """Most tokens to generate per completion."""
    stop: tuple[str, ...] = ()
    """Generation ends after the first of these strings; the text keeps it."""
    seed: int | None = None
    """Seed for this call; equal seeds and inputs give equal samples."""


@dataclass(frozen=True)
class Completion:
    """One generated continuation.

    `logprobs[i]` is the log-probability of `token_ids[i]` under the model's
    unmodified distribution (temperature 1, no top-p), which is what DPO's
    reference needs.
    """

    text: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    finish_reason: Literal["stop", "length"]

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


@dataclass(frozen=True)
class Score:
    """Log-probabilities of a given continuation, token by token."""

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...] = field(default=())

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


@runtime_checkable
class LLM(Protocol):
    """A language model that generates and scores in batches."""

    def generate(
        self, prompts: Sequence[Prompt], n: int = 1, sampling: Sampling | None = None
    ) -> list[list[Completion]]:
        """`n` completions for each prompt: `result[i][j]` is sample j of prompt i."""
        ...

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        """Log-probabilities of `continuations[i]` following `prompts[i]`."""
        ...

    def render(self, prompt: Prompt) -> str:
        """The prompt as the text the model reads (chat template applied)."""
        ...


def as_messages(prompt: Prompt) -> list[Message]:
    """A prompt as chat messages (raw text becomes one user message)."""
    if isinstance(prompt, str):
        return [Message(role="user", content=prompt)]
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in prompt]


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all `rows` share (backends share that prefix's prefill)."""
    length = min(len(row) for row in rows)
    for row in rows[1:]:
        i = 0
        while i < length and row[i] == rows[0][i]:
            i += 1
        length = i
    return length


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` just after the earliest stop string; say whether one was found."""
    cut = None
    for s in stop:
        index = text.find(s)
        if index != -1 and (cut is None or index + len(s) < cut):
            cut = index + len(s)
    return (text, False) if cut is None else (text[:cut], True)
