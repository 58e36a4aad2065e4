"""Tokenisation with loss masks: prompts, actions and multi-turn continuations.

The prompt is the chat-template text with the assistant generation prompt
(`agentloop.llm.chat.render_prompt`), tokenised on its own without added
special tokens (as every backend does), and each assistant turn is its content
followed by the template's end-of-turn token (`agentloop.llm.chat.end_of_turn`),
tokenised on its own. These are not the tokens the model generated: the agent
forces a `Thought:` prefix, cuts a stop string, strips whitespace, and may have
stopped before the end-of-turn token. So `ReActAgent` records the log-probs of
exactly these tokens (it scores `completion + end_of_turn` after the prompt with
the generating backend, which tokenises the same way): a `PreferencePair`'s
recorded sum is what this trainer would compute with the generating model.

TRL's `DPOTrainer` scores one more token per turn, the "\n" the template puts
after the end-of-turn token (it tokenises prompt + completion rendered whole),
so its `ref_chosen_logps` are a different quantity (`trainers/files.py`).

Only assistant turns are trained; environment/user turns between them are
context (mask False), as are untrained assistant turns (Agent-R's bad prefix).

Example:
    >>> end_of_turn(tokenizer)
    '<|im_end|>'
    >>> enc = encode_continuation(tokenizer, prompt, [Message(role="assistant", content="click[buy]")])
    >>> enc.ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>"), all(enc.mask)
    (True, True)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentloop.llm.chat import end_of_turn, render_prompt
from agentloop.records import Message, PreferencePair


@dataclass(frozen=True)
class Continuation:
    """Token ids after a prompt and which of them count in the loss."""

    ids: tuple[int, ...]
    mask: tuple[bool, ...]

    @property
    def num_trained(self) -> int:
        return sum(self.mask)


@dataclass(frozen=True)
class EncodedPairs:
    """Preference pairs as token ids, with shared prompts and candidates stored once.

    `prompts[p]` are prompt ids; `candidates[c] = (p, continuation)`;
    `pairs[i] = (chosen c, rejected c)` for the i-th input pair.
    """

    prompts: list[tuple[int, ...]]
    candidates: list[tuple[int, Continuation]]
    pairs: list[tuple[int, int]]


def _tokens(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids if text else []


def prompt_ids(tokenizer: Any, prompt: Sequence[Message] | str) -> tuple[int, ...]:
    """Token ids of a prompt with the assistant generation prompt, as a backend feeds it."""
    return tuple(_tokens(tokenizer, render_prompt(tokenizer, prompt)))


def encode_continuation(tokenizer: Any, prompt: Sequence[Message], continuation: Sequence[Message],
                        train: Sequence[bool] | None = None, eot: str | None = None) -> Continuation:
    """The tokens of `continuation` (one or more turns) after `prompt`, with loss mask.

    `continuation` must start with an assistant turn; `train[i]` (default: all
    True) says whether assistant message i counts. Turns after the last
    assistant message are dropped (nothing to learn after them). `eot` is
    `end_of_turn(tokenizer)`, computed when not given.

    Raises ValueError when the chat template does not render a longer
    conversation as an extension of a shorter one (then turn boundaries are
    ambiguous and training would not match generation).
    """
    continuation = list(continuation)
    train = [True] * len(continuation) if train is None else list(train)
    if not continuation or continuation[0].role != "assistant":
        raise ValueError("a continuation starts with an assistant message")
    eot = end_of_turn(tokenizer) if eot is None else eot
    history = list(prompt)
    covered = render_prompt(tokenizer, history)
    ids: list[int] = []
    mask: list[bool] = []
    for message, flag in zip(continuation, train):
        if message.role == "assistant":
            header = render_prompt(tokenizer, history)
            if not header.startswith(covered):
                raise ValueError(
                    "the chat template does not render the conversation as an extension of its "
                    f"prefix; cannot place turn boundaries (expected prefix {covered[-80:]!r})")
            glue = _tokens(tokenizer, header[len(covered):])
            action = _tokens(tokenizer, message.content + eot)
            ids += glue + action
            mask += [False] * len(glue) + [bool(flag)] * len(action)
            covered = header + message.content + eot
        history.append(message)
    return Continuation(tuple(ids), tuple(mask))


def _key(messages: Sequence[Message]) -> str:
    return json.dumps([[m.role, m.content] for m in messages])


def encode_pairs(tokenizer: Any, pairs: Sequence[PreferencePair]) -> EncodedPairs:
    """Tokenise `pairs`, storing each distinct prompt and each distinct candidate once.

    Pairs from the same search node share their prompt, and a candidate can be
    the chosen side of one pair and the rejected side of another; both are
    encoded (and later scored) once.
    """
    prompt_index: dict[str, int] = {}
    candidate_index: dict[tuple[int, str], int] = {}
    prompts: list[tuple[int, ...]] = []
    candidates: list[tuple[int, Continuation]] = []
    out: list[tuple[int, int]] = []
    eot = end_of_turn(tokenizer)
    for pair in pairs:
        key = _key(pair.prompt)
        if key not in prompt_index:
            prompt_index[key] = len(prompts)
            prompts.append(prompt_ids(tokenizer, pair.prompt))
        p = prompt_index[key]
        sides = []
        for side in (pair.chosen, pair.rejected):
            ckey = (p, _key(side))
            if ckey not in candidate_index:
                candidate_index[ckey] = len(candidates)
                candidates.append((p, encode_continuation(tokenizer, pair.prompt, side, eot=eot)))
            sides.append(candidate_index[ckey])
        out.append((sides[0], sides[1]))
    return EncodedPairs(prompts, candidates, out)
