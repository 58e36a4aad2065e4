"""Critics: the model judging its own actions (Agent Q's AI process supervision,
Agent-R's first-error search) and averages of several critics (multi-agent feedback).

A critic does three things, each batched over many states:

- `rank`: order the K candidate actions at a state. Agent Q (section 4.2) asks
  the model for the best candidate, removes it and asks again; the position
  becomes a score (reciprocal rank by default).
- `judge`: for each turn of a path, the probability that the turn was a
  mistake. Agent-R (section 3.2) takes the first turn the actor calls bad as
  the revision point t'.
- `value`: the probability that the task has been completed at a state; MCTS
  backs it up at inference, where the environment's reward must not be used.

`LLMCritic` asks an LLM. Each question is answered by scoring the allowed
answers (the candidate numbers, "good"/"bad", "yes"/"no") with `LLM.score`:
the same as greedy decoding restricted to valid answers, so a small model
never fails to parse and all answers of a call go to the backend in one batch.

Example:
    >>> critic = LLMCritic(llm)
    >>> critic.rank([state], [["search[red shoes]", "click[buy]"]])
    [[1.0, 0.5]]
    >>> MeanCritic([LLMCritic(llm), LLMCritic(llm, system_prompt=STRICT_PERSONA)]).value([state])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from agentloop.agents.protocol import AgentState
from agentloop.llm.protocol import LLM
from agentloop.records import Message

DEFAULT_PERSONA = (
    "You are a careful critic of an agent that acts in a text environment. "
    "You judge whether its actions make progress on its task."
)
STRICT_PERSONA = (
    "You are a strict reviewer of an agent's actions. You prefer actions that follow the task's "
    "instruction exactly and you distrust actions that guess or repeat themselves."
)


@runtime_checkable
class Critic(Protocol):
    """Scores candidate actions, judges the steps of a path, estimates success."""

    def rank(self, states: Sequence[AgentState],
             candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        """`result[i][j]` in [0, 1] scores candidate j at `states[i]`; higher is better."""
        ...

    def judge(self, paths: Sequence[AgentState]) -> list[list[float]]:
        """`result[i][t]`: probability that turn t of `paths[i].history` was a mistake."""
        ...

    def value(self, states: Sequence[AgentState]) -> list[float]:
        """Probability that the task of `states[i]` has been completed successfully."""
        ...


def rank_scores(ranks: Sequence[int], kind: Literal["reciprocal", "linear"]) -> list[float]:
    """Turn 1-based ranks into scores: reciprocal 1/rank, or linear (K-rank)/(K-1)."""
    if kind == "reciprocal":
        return [1.0 / r for r in ranks]
    size = len(ranks)
    return [1.0 if size == 1 else (size - r) / (size - 1) for r in ranks]


class LLMCritic:
    """An LLM as critic (usually the policy's own model: self-critique).

    Args:
        llm: the model that answers.
        system_prompt: the critic's persona; other personas give other critics.
        history_turns: how many past turns the critic reads.
        max_observation_chars: observations are cut to this length.
        rank_score: how a rank becomes a score.
    """

    def __init__(self, llm: LLM, system_prompt: str = DEFAULT_PERSONA, history_turns: int = 3,
                 max_observation_chars: int = 800,
                 rank_score: Literal["reciprocal", "linear"] = "reciprocal"):
        self.llm, self.system_prompt = llm, system_prompt
        self.history_turns, self.max_chars, self.rank_score = (
            history_turns, max_observation_chars, rank_score)

    def _cut(self, text: str) -> str:
        return text if len(text) <= self.max_chars else text[: self.max_chars] + " ..."

    def _context(self, state: AgentState) -> str:
        lines = [f"Task: {state.instruction}"]
        recent = state.history[-self.history_turns:] if self.history_turns else ()
        for turn in recent:
            lines += [f"Observation: {self._cut(turn.observation)}", f"Agent: {turn.completion.strip()}"]
        lines.append(f"Current observation: {self._cut(state.observation)}")
        return "\n".join(lines)

    def _ask(self, question: str) -> list[Message]:
        return [Message(role="system", content=self.system_prompt),
                Message(role="user", content=question)]

    def _best(self, states: Sequence[AgentState], options: Sequence[Sequence[str]]) -> list[int]:
        """Index of the option the model calls best, for every state, in one score call."""
        prompts, answers, owner = [], [], []
        for i, (state, choice) in enumerate(zip(states, options)):
            listing = "\n".join(f"{n}. {self._cut(text.strip())}" for n, text in enumerate(choice, 1))
            prompt = self._ask(f"{self._context(state)}\n\nCandidate next actions:\n{listing}\n\n"
                               "Which candidate is the best next action for the task? "
                               "Answer with its number only.")
            for n in range(1, len(choice) + 1):
                prompts.append(prompt)
                answers.append(str(n))
                owner.append(i)
        scores = self.llm.score(prompts, answers)
        best: list[tuple[float, int]] = [(-math.inf, 0)] * len(states)
        position = [0] * len(states)
        for i, score in zip(owner, scores):
            if score.logprob > best[i][0]:
                best[i] = (score.logprob, position[i])
            position[i] += 1
        return [index for _, index in best]

    def rank(self, states: Sequence[AgentState],
             candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        # Agent Q: ask for the best, remove it, ask again; one batched call per round.
        remaining = [list(range(len(c))) for c in candidates]
        ranks = [[0] * len(c) for c in candidates]
        place = 1
        while any(remaining):
            for i, left in enumerate(remaining):
                if len(left) == 1:
                    ranks[i][left.pop()] = place
            asking = [i for i, left in enumerate(remaining) if left]
            if not asking:
                break
            picks = self._best([states[i] for i in asking],
                               [[candidates[i][j] for j in remaining[i]] for i in asking])
            for i, pick in zip(asking, picks):
                ranks[i][remaining[i].pop(pick)] = place
            place += 1
        return [rank_scores(r, self.rank_score) for r in ranks]

    def _binary(self, prompts: list[list[Message]], yes: str, no: str) -> list[float]:
        """P(yes) renormalised over the two answers, for every prompt, in one score call."""
        scores = self.llm.score([p for p in prompts for _ in (0, 1)], [yes, no] * len(prompts))
        result = []
        for i in range(len(prompts)):
            a, b = scores[2 * i].logprob, scores[2 * i + 1].logprob
            result.append(1.0 / (1.0 + math.exp(min(b - a, 700.0))))
        return result

    def judge(self, paths: Sequence[AgentState]) -> list[list[float]]:
        prompts, sizes = [], []
        for path in paths:
            sizes.append(len(path.history))
            for t, turn in enumerate(path.history):
                state = AgentState(path.instruction, turn.observation, path.history[:t], path.role)
                prompts.append(self._ask(
                    f"{self._context(state)}\nAgent: {turn.completion.strip()}\n\n"
                    "Was the agent's last action a mistake for the task? Answer bad or good."))
        flat = self._binary(prompts, "bad", "good") if prompts else []
        out, start = [], 0
        for size in sizes:
            out.append(flat[start:start + size])
            start += size
        return out

    def value(self, states: Sequence[AgentState]) -> list[float]:
        prompts = [self._ask(f"{self._context(s)}\n\nHas the agent completed the task "
                             "successfully? Answer yes or no.") for s in states]
        return self._binary(prompts, "yes", "no") if prompts else []


class MeanCritic:
    """Several critics combined by averaging their answers (multi-agent feedback).

    Example:
        >>> MeanCritic([LLMCritic(policy_llm), LLMCritic(other_llm)], weights=[2, 1])
    """

    def __init__(self, critics: Sequence[Critic], weights: Sequence[float] | None = None):
        if not critics:
            raise ValueError("MeanCritic needs at least one critic")
        weights = [1.0] * len(critics) if weights is None else [float(w) for w in weights]
        if len(weights) != len(critics) or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError("weights must be one non-negative number per critic, not all zero")
        self.critics, self.weights = list(critics), [w / sum(weights) for w in weights]

    def _mean(self, answers: list[list[float]]) -> list[float]:
        return [sum(w * a for w, a in zip(self.weights, column)) for column in zip(*answers)]

    def rank(self, states: Sequence[AgentState],
             candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        answers = [c.rank(states, candidates) for c in self.critics]
        return [self._mean([a[i] for a in answers]) for i in range(len(states))]

    def judge(self, paths: Sequence[AgentState]) -> list[list[float]]:
        answers = [c.judge(paths) for c in self.critics]
        return [self._mean([a[i] for a in answers]) for i in range(len(paths))]

    def value(self, states: Sequence[AgentState]) -> list[float]:
        return self._mean([c.value(states) for c in self.critics])


class CriticConfig(BaseModel):
    """The self-critic: one LLM critic per persona, averaged when there are several."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    personas: tuple[str, ...] = Field((DEFAULT_PERSONA,), min_length=1)
    """System prompts of the critics; more than one averages them (multi-agent feedback)."""
    history_turns: int = Field(3, ge=0, le=100)
    """Past turns each critic reads."""
    max_observation_chars: int = Field(800, gt=0)
    """Observations are cut to this many characters in critic prompts."""
    rank_score: Literal["reciprocal", "linear"] = "reciprocal"
    """Rank -> score: 1/rank (Agent Q's choice) or (K-rank)/(K-1)."""


def build_critic(config: CriticConfig, llm: LLM) -> Critic:
    """The critic `config` describes, answering with `llm`."""
    critics = [LLMCritic(llm, persona, config.history_turns, config.max_observation_chars,
                         config.rank_score) for persona in config.personas]
    return critics[0] if len(critics) == 1 else MeanCritic(critics)
