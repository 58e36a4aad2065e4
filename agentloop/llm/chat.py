"""Turning a prompt (text or chat messages) into the exact text a model reads.

Every backend and trainer renders through `render_prompt`, so generation,
scoring and training see the same tokens for the same prompt; `end_of_turn`
is the text that closes an assistant turn, which the trainer appends to every
trained turn and the agent scores with it (so recorded log-probs cover the
trained tokens).

Example:
    >>> render_prompt(tokenizer, [Message(role="user", content="hi")])
    '<|im_start|>system\\n...<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentloop.llm.protocol import Prompt, as_messages

_SENTINEL = "\x00agentloop-sentinel\x00"


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """Raw text stays as it is; messages go through the chat template with the
    assistant generation prompt appended (plain "role: content" lines when the
    tokenizer has no template)."""
    if isinstance(prompt, str):
        return prompt
    messages = [m.model_dump() for m in as_messages(prompt)]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant: "


def encode_prompts(tokenizer: Any, prompts: Sequence[Prompt], n: int) -> list[list[int]]:
    """Token ids of each rendered prompt (no special tokens added: templates carry
    their own), checking what every backend's `generate` requires."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ids = [tokenizer(render_prompt(tokenizer, p), add_special_tokens=False).input_ids for p in prompts]
    for index, row in enumerate(ids):
        if not row:
            raise ValueError(f"prompt {index} is empty")
    return ids


def end_of_turn(tokenizer: Any) -> str:
    """The text the chat template closes an assistant turn with, e.g. '<|im_end|>'.

    Rendered from the template itself (a sentinel assistant message, then what
    follows it up to the first whitespace), falling back to the EOS token when
    the tokenizer has no chat template.

    Example:
        >>> end_of_turn(tokenizer)   # SmolLM2
        '<|im_end|>'
    """
    eos = tokenizer.eos_token or ""
    if not getattr(tokenizer, "chat_template", None):
        return eos
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": _SENTINEL}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    tail = text[text.index(_SENTINEL) + len(_SENTINEL):]
    marker = tail.split()[0] if tail.strip() else ""
    return marker or eos
