"""A seeded scripted LLM for the distributed tests and the scale benchmark: every
completion and score is a hash of (prompt, seed, sample index), so what a prompt gets
never depends on the other prompts of its batch.

The real backends do not promise that (the transformers backend draws all rows of a
call from one generator), so the test that a distributed collection equals a
one-process one uses this model: batches are composed differently when the tasks are
sharded over workers.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from agentloop.llm.protocol import Completion, Prompt, Sampling, Score, as_messages

DIRECTIONS = ("up", "down", "left", "right")


def _hash(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


class ScriptedLLM:
    """Maze moves in the ReAct format, chosen by hashing the prompt and the seed.

    Args:
        call_s: seconds every generate or score call takes, whatever its size (a stand-in
            for a GPU engine whose batched call costs about the same at any batch size).
    """

    def __init__(self, call_s: float = 0.0):
        self.call_s = call_s
        self.calls = 0

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return "".join(f"<{m.role}>{m.content}\n" for m in as_messages(prompt))

    def generate(self, prompts: Sequence[Prompt], n: int = 1,
                 sampling: Sampling | None = None) -> list[list[Completion]]:
        sampling = sampling or Sampling()
        self._wait()
        out = []
        for prompt in prompts:
            text = self.render(prompt)
            row = []
            for j in range(n):
                draw = _hash(text, sampling.seed, j) if sampling.temperature > 0 else _hash(text)
                move = DIRECTIONS[draw % 4]
                row.append(Completion(f" go {move}.\nAction: move[{move}]", (1 + draw % 7, 2),
                                      (-(draw % 5) / 4.0, -0.5), "stop"))
            out.append(row)
        return out

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        self._wait()
        return [Score((1,), (-(_hash(self.render(p), c) % 1000) / 250.0,))
                for p, c in zip(prompts, continuations, strict=True)]

    def _wait(self) -> None:
        self.calls += 1
        if self.call_s:
            time.sleep(self.call_s)


def scripted(model: str) -> ScriptedLLM:
    """An engine's LLM factory: the scripted model whatever the path."""
    return ScriptedLLM()


def stand_in(call_s: float, model: str) -> ScriptedLLM:
    """An engine's LLM factory for the scale benchmark: every call takes `call_s` seconds."""
    return ScriptedLLM(call_s)


class NamedLLM(ScriptedLLM):
    """The scripted model that says in `render` which model path it was built on, and
    whether it was released (as `VLLMBackend.release` puts an engine to sleep)."""

    def __init__(self, model: str):
        super().__init__()
        self.model, self.asleep = model, False

    def release(self) -> None:
        self.asleep = True

    def render(self, prompt: Prompt) -> str:
        return f"[{self.model}{' asleep' if self.asleep else ''}] " + super().render(prompt)
