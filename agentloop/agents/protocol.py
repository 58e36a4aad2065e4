"""The Agent protocol: propose K candidate actions for many states in one batched call.

An agent sees an `AgentState` (the task, what happened so far, the current
observation) and returns `Proposal`s: the generated text, the action parsed
from it, and the token ids and log-probs, under the generating policy, of the
tokens the trainer scores for that text (the off-policy reference for training).
`prompt(state)` gives the chat messages the agent reads, which is also the
prompt of the training data built from that state.

Example:
    >>> agent = ReActAgent(llm, system_prompt=env.system_prompt)
    >>> state = AgentState(instruction=task.instruction, observation=env.reset(task))
    >>> [p.action for p in agent.propose([state], k=4)[0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agentloop.llm.protocol import Sampling
from agentloop.records import Message


@dataclass(frozen=True)
class Turn:
    """One past exchange: the observation the agent saw and what it generated."""

    observation: str
    completion: str


@dataclass(frozen=True)
class AgentState:
    """Everything an agent may read to act: task, history, current observation, role."""

    instruction: str
    observation: str
    history: tuple[Turn, ...] = ()
    role: str = ""
    actions: tuple[str, ...] = ()
    """Every action since the start, all roles' (a search tree fills it; empty when unknown):
    what an agent that replays the env reads when `history` holds only its own turns. No
    prompt shows it."""

    def then(self, completion: str, observation: str) -> AgentState:
        """The state after acting with `completion` and seeing `observation`."""
        turn = Turn(self.observation, completion)
        return AgentState(self.instruction, observation, self.history + (turn,), self.role)


@dataclass(frozen=True)
class Proposal:
    """One candidate: generated text, the action parsed from it, and its log-probs.

    `action` is what goes to the environment; when nothing could be parsed it
    holds the text written as the action (after `Action:`; the environment then
    answers "invalid") and `parse_error` says what was wrong.

    `token_ids`/`logprobs` cover exactly what training scores for this turn:
    `completion` followed by the chat template's end-of-turn token, tokenised
    after the prompt (`agentloop.trainers.encoding.encode_continuation`), each
    token's log-prob under the policy that generated it. Empty when the agent
    could not score them (the trainer then computes the reference itself).
    """

    completion: str
    action: str
    token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] = ()
    parse_error: str | None = None

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))


def invalid_turn(proposal: Proposal, info: dict) -> bool:
    """The one definition of an invalid turn (the runner, MCTS and the builders agree):
    the action could not be parsed, or the environment flagged it (`info["invalid"]`)."""
    return proposal.parse_error is not None or bool(info.get("invalid"))


@runtime_checkable
class Agent(Protocol):
    """Proposes actions for states; one call serves many states and K samples each."""

    def propose(
        self, states: Sequence[AgentState], k: int = 1, sampling: Sampling | None = None
    ) -> list[list[Proposal]]:
        """`result[i]` holds the K proposals for `states[i]`."""
        ...

    def prompt(self, state: AgentState) -> list[Message]:
        """The chat messages the agent reads in `state`."""
        ...
