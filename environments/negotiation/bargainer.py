"""The other side of the bargain: anything that answers a dialogue with one sentence.

The environment asks its `Bargainer` for the rival's reply inside `step`, so
search branches over one player's moves only. A reply depends on the task and
the dialogue alone (a seed is drawn from their text), so `restore` followed by
the same action gives the same reply, in any process.

- `ScriptedBargainer`: concedes a fixed share of the gap each turn from its
  opening towards its reservation price (the buyer's budget, the seller's
  floor) and accepts an offer at or beyond the one it would make next.
- `LLMBargainer`: a language model in the role (a frozen copy of a model, or the
  current policy for self-play), prompted like the paper's players.

Example:
    >>> ScriptedBargainer().reply(task, "buyer", [("seller", "It is $20."), ("buyer", "$10?"),
    ...                                           ("seller", "I can do $18.")])
    'Would you take $13?'
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agentloop.environments.negotiation.game import Utterance, last_price, other
from agentloop.environments.protocol import Task
from agentloop.llm.protocol import LLM, Sampling
from agentloop.records import Message


def dialogue_seed(task: Task, dialogue: Sequence[Utterance]) -> int:
    """A seed that depends only on the task and the dialogue's text (stable across processes)."""
    text = task.id + "\n" + "\n".join(f"{role}: {said}" for role, said in dialogue)
    return zlib.crc32(text.encode("utf-8"))


@runtime_checkable
class Bargainer(Protocol):
    """Answers the dialogue so far in `role` with one short sentence."""

    def reply(self, task: Task, role: str, dialogue: Sequence[Utterance]) -> str:
        ...


class ScriptedBargainer:
    """A rule bargainer: concede `concession` of the remaining gap per turn, accept a
    price at or beyond the next offer it would make.

    Args:
        concession: share of the gap between its last price and its reservation price
            given up each turn (jittered by up to a third, seeded by the dialogue).
    """

    def __init__(self, concession: float = 0.35):
        if not 0.0 < concession <= 1.0:
            raise ValueError(f"concession must be in (0, 1], got {concession}")
        self.concession = concession

    def reply(self, task: Task, role: str, dialogue: Sequence[Utterance]) -> str:
        rng = random.Random(dialogue_seed(task, dialogue))
        data = task.data
        reservation = data["budget"] if role == "buyer" else data["floor"]
        mine = last_price(dialogue, role)
        if mine is None:
            mine = data["low"] if role == "buyer" else data["high"]
        theirs = last_price(dialogue, other(role))
        step = (reservation - mine) * self.concession * rng.uniform(0.67, 1.33)
        # Whole dollars, rounded towards the reservation price so a small gap still closes.
        offer = float(min(math.ceil(mine + step), reservation) if role == "buyer"
                      else max(math.floor(mine + step), reservation))
        if theirs is not None and (theirs <= offer if role == "buyer" else theirs >= offer):
            return rng.choice(["Deal!", "Okay then, deal.", f"Deal, ${theirs:g} it is."])
        if offer == mine:
            return rng.choice([f"${offer:g} is my final offer.", f"I cannot go past ${offer:g}."])
        templates = ([f"Would you take ${offer:g}?", f"I could pay ${offer:g}.", f"How about ${offer:g}?"]
                     if role == "buyer" else
                     [f"I can do ${offer:g}.", f"How about ${offer:g}?", f"${offer:g} is a fair price."])
        return rng.choice(templates)


class LLMBargainer:
    """A model in the role: its system prompt is the role's briefing, the dialogue its chat
    (its own lines as assistant turns), one sentence per reply, sampled with a seed drawn
    from the dialogue (greedy by default).

    Args:
        llm: any agentloop backend.
        briefing: `briefing(task, role)` -> the system prompt (see `env.briefing`).
        sampling: how replies are sampled; its seed is replaced by the dialogue's.
    """

    def __init__(self, llm: LLM, briefing, sampling: Sampling | None = None):
        self.llm, self.briefing = llm, briefing
        self.sampling = sampling or Sampling(temperature=0.0, max_new_tokens=40, stop=("\n",))

    def prompt(self, task: Task, role: str, dialogue: Sequence[Utterance]) -> list[Message]:
        messages = [Message(role="system", content=self.briefing(task, role))]
        for speaker, said in dialogue:
            messages.append(Message(role="assistant" if speaker == role else "user", content=said))
        return messages

    def reply(self, task: Task, role: str, dialogue: Sequence[Utterance]) -> str:
        sampling = self.sampling.model_copy(update={"seed": dialogue_seed(task, dialogue)})
        (completions,) = self.llm.generate([self.prompt(task, role, dialogue)], n=1, sampling=sampling)
        text = completions[0].text.strip().splitlines()
        return (text[0] if text else "").strip()[:300] or "..."
