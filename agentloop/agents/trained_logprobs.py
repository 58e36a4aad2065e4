"""Recording, at generation, the log-probs of exactly the tokens the DPO trainer scores.

The trainer (`agentloop.trainers.encoding`) scores a turn as the prompt's
tokens, then `completion + end_of_turn` tokenised on its own. The agent
generated something close but not always equal: it forced a response prefix
("Thought:") into the prompt, so those tokens were never sampled; it cut a
stop string and stripped whitespace; and generation may have stopped by length,
before the end-of-turn token that training appends.

So each proposal gets the log-probs of its trained tokens, from the generating
backend, as cheaply as exactness allows:

- When the trained tokens are the prefix's tokens followed by exactly the
  generated tokens (the model ended its turn itself and nothing was cut), the
  generated log-probs are reused and only the prefix is scored: once per state,
  shared by its K proposals (the prefix's log-prob depends on the prompt only).
- Otherwise the whole trained continuation is scored.

Both kinds go to the backend in one batched `score` call. A backend without a
tokenizer (no end-of-turn text known) gets nothing recorded, and training then
computes the reference itself.

Example:
    >>> proposals = record_trained_logprobs(llm, messages, prompts, outputs, proposals, "Thought:")
    >>> proposals[0][0].token_ids[-1] == llm.tokenizer.convert_tokens_to_ids("<|im_end|>")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from agentloop.agents.protocol import Proposal
from agentloop.llm.chat import end_of_turn
from agentloop.llm.protocol import LLM, Completion
from agentloop.records import Message


def record_trained_logprobs(llm: LLM, messages: Sequence[Sequence[Message]], prompts: Sequence[str],
                            outputs: Sequence[Sequence[Completion]], proposals: Sequence[Sequence[Proposal]],
                            prefix: str) -> list[list[Proposal]]:
    """`proposals[i][j]` (made from `outputs[i][j]`, generated after `prompts[i]`, which is
    `messages[i]` rendered plus `prefix`) with the token ids and log-probs of its trained tokens."""
    tokenizer = getattr(llm, "tokenizer", None)
    if tokenizer is None:
        return [list(row) for row in proposals]

    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False).input_ids if text else []

    eot = end_of_turn(tokenizer)
    prefix_ids = encode(prefix)
    requests: list[tuple[Sequence[Message], str]] = []
    plans: list[list[tuple[int | None, tuple[int, ...], tuple[float, ...]]]] = []
    for turn, prompt, completions, row in zip(messages, prompts, outputs, proposals):
        # The generation read the prompt's tokens then the prefix's, as the trainer does.
        prompt_splits = encode(prompt) == encode(llm.render(turn)) + prefix_ids
        prefix_request: int | None = None
        plan = []
        for completion, proposal in zip(completions, row):
            trained = encode(proposal.completion + eot)
            generated = list(completion.token_ids)
            if prompt_splits and len(completion.logprobs) == len(generated) and trained == prefix_ids + generated:
                if prefix_request is None and prefix_ids:
                    prefix_request = len(requests)
                    requests.append((turn, prefix))
                plan.append((prefix_request, tuple(generated), tuple(completion.logprobs)))
            else:
                plan.append((len(requests), (), ()))
                requests.append((turn, proposal.completion + eot))
        plans.append(plan)
    scores = llm.score([m for m, _ in requests], [c for _, c in requests]) if requests else []
    out = []
    for plan, row in zip(plans, proposals):
        recorded = []
        for (request, tail_ids, tail_logprobs), proposal in zip(plan, row):
            head = scores[request] if request is not None else None
            ids = (head.token_ids if head else ()) + tail_ids
            logprobs = (head.logprobs if head else ()) + tail_logprobs
            if len(logprobs) != len(ids):  # the backend could not score (e.g. an empty prompt)
                ids, logprobs = (), ()
            recorded.append(replace(proposal, token_ids=ids, logprobs=logprobs))
        out.append(recorded)
    return out
