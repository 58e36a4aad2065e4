"""Context distillation of AI feedback: half the proposals read the critic's feedback, the
prompt the data is built under does not.

ICL-AIF (Fu et al. 2023) improves a player in context only: a critic reads its game and
gives three suggestions, and the player replays with them in its prompt. `FeedbackAgent`
turns that into training data for search: at every expansion half of the K candidates
come from the plain agent and half from the same agent with the feedback added to its
task instruction (one batched `propose` call for both), while `prompt(state)` stays the
plain prompt. The builders (`search.pairs.step_pairs`, revisions, best trajectories)
render through `prompt`, so a pair whose chosen move was found with the feedback teaches
the policy to make that move without having read it.

A proposal drawn under the feedback prompt carries log-probs of the wrong prompt, which
would be a wrong DPO reference. They are rescored under the plain prompt with the
backend's `score` (the same tokens `agentloop.trainers.encoding` trains: completion and
end-of-turn after the plain prompt), so `trainer.reference: recorded` stays exact. With
no backend to score with (or one without a tokenizer) they are cleared instead: the tree
edge then has no log-probs, `step_pairs` gives the pair a `None` reference, and
`trainers.dpo.reference_logps` computes it under the plain prompt before training.

`agentloop.run.game_feedback.game_feedback` makes the feedback: one greedy game per task
with the plain agent, then the same model as critic gives three suggestions on it.

Example:
    >>> feedback = game_feedback(llm, env, agent, env.tasks("train")[:32])
    >>> coached = FeedbackAgent(agent, feedback, llm)
    >>> trees = search_tasks(new_env, tasks, coached, critic, SearchConfig(k=4))
    >>> pairs = step_pairs(trees, coached.prompt)      # plain prompts, rescored references
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from agentloop.agents.protocol import Agent, AgentState, Proposal
from agentloop.llm.chat import end_of_turn
from agentloop.llm.protocol import LLM, Sampling
from agentloop.records import Message

FEEDBACK_HEADER = "Feedback on your previous game:"


def with_feedback(instruction: str, feedback: str) -> str:
    """The instruction the coached half reads (ICL-AIF's wording).

    Example:
        >>> with_feedback("Sell the lamp.", "Open high.")
        'Sell the lamp.\\n\\nFeedback on your previous game: Open high.'
    """
    return f"{instruction}\n\n{FEEDBACK_HEADER} {feedback}"


class FeedbackAgent:
    """`agent` with half of every K drawn under the critic's feedback; its prompt the plain one.

    Args:
        agent: the plain policy (any `Agent`; a `ReActAgent` puts the instruction in its
            first user message, so the feedback lands there).
        feedback: the critic's feedback per task instruction (what `AgentState.instruction`
            holds; `game_feedback` makes it). States whose instruction has none get K plain
            proposals.
        llm: the backend that rescores the coached proposals under the plain prompt
            (default: `agent.llm` when there is one). None, or a backend without a
            tokenizer: their log-probs are cleared and the trainer computes the reference.

    With odd K the plain agent draws the larger half; K=1 (rollouts, greedy play) is plain.
    """

    def __init__(self, agent: Agent, feedback: Mapping[str, str], llm: LLM | None = None):
        self.agent = agent
        self.feedback = {key: text for key, text in feedback.items() if text.strip()}
        self.llm = llm if llm is not None else getattr(agent, "llm", None)

    @property
    def response_prefix(self) -> str:
        """The plain agent's forced response prefix (what `select_hardest` scores after)."""
        return getattr(self.agent, "response_prefix", "")

    def prompt(self, state: AgentState) -> list[Message]:
        return self.agent.prompt(state)

    def coached(self, state: AgentState) -> AgentState | None:
        """`state` with its feedback in the instruction (None when it has none)."""
        text = self.feedback.get(state.instruction)
        return replace(state, instruction=with_feedback(state.instruction, text)) if text else None

    def propose(self, states: Sequence[AgentState], k: int = 1,
                sampling: Sampling | None = None) -> list[list[Proposal]]:
        states = list(states)
        coached = [self.coached(s) for s in states]
        half = k // 2
        if not half or not any(coached):
            return self.agent.propose(states, k, sampling)
        plain_k = k - half
        # One call: every state's first half plain, its second half coached (a state without
        # feedback asks twice: two rows of one call draw apart, two seeded calls might not).
        drawn = self.agent.propose(states + [c or s for c, s in zip(coached, states)], plain_k, sampling)
        rows = [list(row) for row in drawn[:len(states)]]
        seconds = [list(row)[:half] for row in drawn[len(states):]]
        fed_index = [i for i, c in enumerate(coached) if c is not None]
        fed = self._plain_logprobs([states[i] for i in fed_index], [seconds[i] for i in fed_index])
        for i, rescored in zip(fed_index, fed):
            seconds[i] = rescored
        return [row + second for row, second in zip(rows, seconds)]

    def _plain_logprobs(self, states: Sequence[AgentState],
                        rows: Sequence[Sequence[Proposal]]) -> list[list[Proposal]]:
        """`rows` with the log-probs of their trained tokens under the plain prompt of
        `states` (one batched `score` call), or with none when nothing can score them."""
        tokenizer = getattr(self.llm, "tokenizer", None)
        if tokenizer is None:
            return [[replace(p, token_ids=(), logprobs=()) for p in row] for row in rows]
        eot = end_of_turn(tokenizer)
        prompts = [self.agent.prompt(s) for s, row in zip(states, rows) for _ in row]
        scores = iter(self.llm.score(prompts, [p.completion + eot for row in rows for p in row]))
        out = []
        for row in rows:
            rescored = []
            for proposal in row:
                score = next(scores)
                ok = len(score.logprobs) == len(score.token_ids) > 0
                rescored.append(replace(proposal, token_ids=score.token_ids if ok else (),
                                        logprobs=score.logprobs if ok else ()))
            out.append(rescored)
        return out
