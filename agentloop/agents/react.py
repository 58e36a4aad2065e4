"""`ReActAgent`: thought + action over any LLM backend (Yao et al. 2023, ReAct).

The conversation the model reads is: the environment's system prompt, its
worked example as chat turns (`demonstration`), the task and first observation
as a user message, then each past completion (assistant)
and the observation it led to (user). Older turns beyond `max_history` are
dropped (their count is stated) so prompts stay short on small models.

Example:
    >>> agent = ReActAgent(llm, system_prompt=env.system_prompt, verbs=("search", "click"),
    ...                    demonstration=env.demonstration)
    >>> proposals = agent.propose([state_a, state_b], k=4)   # one batched LLM call
    >>> proposals[0][0].action
    'search[red shoes]'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from agentloop.agents.parsing import parse_action
from agentloop.agents.protocol import AgentState, Proposal
from agentloop.agents.trained_logprobs import record_trained_logprobs
from agentloop.environments.codec import ActionCodec, BracketCodec, codec_of
from agentloop.llm.protocol import LLM, Sampling
from agentloop.records import Message

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent acting in a text environment. At each turn, write one line "
    "'Thought: <your reasoning>' and then one line 'Action: <action>'."
)
DEFAULT_SAMPLING = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=64, stop=("\nObservation",))
_VERB = re.compile(r"^\s*([A-Za-z_]\w*)\s*\[")


def system_prompt_of(env: object) -> str:
    """The env's `system_prompt`, else the default one naming the env's action syntax."""
    prompt = getattr(env, "system_prompt", None)
    return prompt if prompt else f"{DEFAULT_SYSTEM_PROMPT} Actions are written {codec_of(env).syntax}."


def verbs_of(actions: Sequence[str]) -> tuple[str, ...]:
    """The action verbs in a list such as `["search[...]", "click[buy now]"]`."""
    found = (_VERB.match(a) for a in actions)
    return tuple(sorted({m.group(1).lower() for m in found if m}))


class ReActAgent:
    """A ReAct agent: the LLM writes a thought and an action; the parser reads the action.

    Args:
        llm: any backend implementing the LLM protocol.
        system_prompt: how to act in the environment (environments provide
            `env.system_prompt`).
        demonstration: a worked example as alternating user/assistant messages,
            placed after the system prompt (environments may provide
            `env.demonstration`). Small models follow an example given as turns
            far better than one written inside the system prompt.
        verbs: the action verbs the default `verb[argument]` codec accepts (empty: any).
        codec: how the environment's actions are written (`env.action_codec`; None:
            `BracketCodec(verbs)`).
        max_history: most past turns kept in the prompt.
        sampling: default sampling for `propose`.
        response_prefix: text the assistant turn is started with before the
            model continues. "Thought:" keeps small models in the format: left
            alone they often echo the last observation instead of acting.
            The completion (and so the training data) includes it.

    Each proposal's `token_ids`/`logprobs` are those of exactly the tokens the
    trainer scores for it (`agentloop.trainers.encoding`): the completion (with
    the forced prefix, without the stop string) and the end-of-turn token, after
    the prompt. The generated tokens differ from those (the prefix was never
    sampled, the stop string is cut, generation may stop before the end of turn),
    so `propose` completes them with the same backend in one batched `score` call
    (`agentloop.agents.trained_logprobs`): the recorded sums are then the off-policy
    DPO reference with no reference forward at training time. A backend without a
    tokenizer (no end-of-turn text known) records none, and training computes them.
    With `record_trained=False` (evaluation, search at inference: nothing trains on
    them) proposals keep the generated tokens' own log-probs and that scoring pass,
    a whole-prompt prefill per state (on vLLM prompt log-probs skip the prefix cache),
    is not paid.
    """

    def __init__(
        self,
        llm: LLM,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        verbs: Sequence[str] = (),
        max_history: int = 6,
        sampling: Sampling = DEFAULT_SAMPLING,
        response_prefix: str = "Thought:",
        demonstration: Sequence[Message] = (),
        codec: ActionCodec | None = None,
        record_trained: bool = True,
    ):
        self.llm = llm
        self.record_trained = record_trained
        self.system_prompt = system_prompt
        self.verbs = tuple(verbs)
        self.max_history = max_history
        self.sampling = sampling
        self.response_prefix = response_prefix
        self.demonstration = tuple(demonstration)
        self.codec = codec or BracketCodec(verbs)

    def prompt(self, state: AgentState) -> list[Message]:
        turns = list(state.history) + [None]  # None marks the current observation
        first = state.history[0].observation if state.history else state.observation
        opening = first if state.instruction in first else f"Instruction: {state.instruction}\n\n{first}"
        messages = [Message(role="system", content=self.system_prompt), *self.demonstration]
        kept = turns[-(self.max_history + 1):]
        dropped = len(turns) - len(kept)
        if dropped:
            messages.append(Message(role="user", content=opening))
            plural = "s" if dropped > 1 else ""
            messages.append(Message(role="assistant", content=f"(I took {dropped} earlier step{plural}.)"))
        for index, turn in enumerate(kept):
            observation = turn.observation if turn else state.observation
            is_first = dropped == 0 and index == 0
            content = opening if is_first else f"Observation: {observation}"
            messages.append(Message(role="user", content=content))
            if turn:
                messages.append(Message(role="assistant", content=turn.completion))
        return messages

    def propose(
        self, states: Sequence[AgentState], k: int = 1, sampling: Sampling | None = None
    ) -> list[list[Proposal]]:
        if not states:
            return []
        messages = [self.prompt(s) for s in states]
        prompts = [self.llm.render(m) + self.response_prefix for m in messages]
        outputs = self.llm.generate(prompts, n=k, sampling=sampling or self.sampling)
        proposals = [[self._proposal(c.text) for c in completions] for completions in outputs]
        if not self.record_trained:
            return [[replace(p, token_ids=tuple(c.token_ids), logprobs=tuple(c.logprobs)) for p, c in zip(row, cs)]
                    for row, cs in zip(proposals, outputs)]
        return record_trained_logprobs(self.llm, messages, prompts, outputs, proposals, self.response_prefix)

    def _proposal(self, text: str) -> Proposal:
        completion = (self.response_prefix + text).split("\nObservation")[0].strip()
        parsed = parse_action(completion, codec=self.codec)
        # Unparsed: only what was written as the action goes to the environment (which
        # answers "invalid"), never the thought.
        action = parsed.action if parsed.action is not None else parsed.written
        return Proposal(completion, action, parse_error=parsed.error)
