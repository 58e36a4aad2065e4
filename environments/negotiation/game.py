"""The rules of the bargaining game (Fu et al. 2023, "Improving Language Model
Negotiation with Self-Play and In-Context Learning from AI Feedback").

A seller and a buyer bargain over one item. Prices are written as `$X`; the
deal price is the last price named in the dialogue (the paper's rule). The
moderator here is a rule, not a model: the paper's code asks an LLM "have the
seller and the buyer achieved a deal?" only once an utterance holds no number,
which misses "Deal at $16!". This moderator says a deal is struck when an
utterance accepts (an acceptance phrase, not negated) and either names no price
or names the price the other side offered last; a price the other side never
offered is a counter-offer, not an acceptance. A walk-away phrase ends the game
without a deal.

Example:
    >>> moderate([("seller", "It is $20."), ("buyer", "Would you take $15?"), ("seller", "Deal!")])
    Verdict(deal=True, price=15.0, ended=True)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ROLES = ("seller", "buyer")
PRICE = re.compile(r"\$\s*(\d+(?:\.\d+)?)")
ACCEPT = re.compile(r"\b(deal|accept(ed)?|agreed?|it'?s yours|sounds good|you got it|i'?ll take it|"
                    r"sold|ok(ay)?,? (then|fine)|fine by me)\b", re.IGNORECASE)
NEGATED = re.compile(r"\b(no|not|can'?t|cannot|won'?t|don'?t|never|isn'?t|unless|if)\b[^.!?]{0,20}"
                     r"\b(deal|accept|agree|take it|sold)", re.IGNORECASE)
WALK_AWAY = re.compile(r"\b(no deal|walk away|i'?m leaving|forget it|goodbye)\b", re.IGNORECASE)

Utterance = tuple[str, str]
"""(role, text) of one turn of the dialogue."""


@dataclass(frozen=True)
class Verdict:
    """The moderator's reading of a dialogue after its last utterance."""

    deal: bool
    price: float | None
    """The deal price (deal) or the last price named (no deal yet); None when none was named."""
    ended: bool
    """A deal was struck or a side walked away."""


def prices(text: str) -> list[float]:
    """The `$X` prices of a text, in order."""
    return [float(value) for value in PRICE.findall(text)]


def last_price(dialogue: Sequence[Utterance], role: str | None = None) -> float | None:
    """The last price named in the dialogue (by `role` only, when given)."""
    for speaker, text in reversed(dialogue):
        found = prices(text)
        if found and (role is None or speaker == role):
            return found[-1]
    return None


def other(role: str) -> str:
    """The other side of the bargain."""
    return ROLES[1 - ROLES.index(role)]


def accepts(text: str) -> bool:
    """Whether an utterance says yes (an acceptance phrase that is not negated)."""
    return bool(ACCEPT.search(text)) and not NEGATED.search(text)


def moderate(dialogue: Sequence[Utterance]) -> Verdict:
    """Judge the dialogue after its last utterance (see the module docstring for the rule)."""
    if not dialogue:
        return Verdict(False, None, False)
    speaker, text = dialogue[-1]
    offered = last_price(dialogue[:-1], other(speaker))
    named = prices(text)
    if accepts(text) and offered is not None and (not named or named[-1] == offered):
        return Verdict(True, offered, True)
    if WALK_AWAY.search(text):
        return Verdict(False, last_price(dialogue), True)
    return Verdict(False, last_price(dialogue), False)


def reward(role: str, verdict: Verdict, low: float, high: float) -> float:
    """The role's reward for a finished game: the seller's `(price - low) / (high - low)` for a
    deal inside [low, high] (the buyer's opening and the seller's opening), the buyer's mirrored;
    0 without a deal or at a price outside the range."""
    if not verdict.deal or verdict.price is None or not low <= verdict.price <= high:
        return 0.0
    share = (verdict.price - low) / (high - low)
    return share if role == "seller" else 1.0 - share
