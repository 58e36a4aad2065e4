"""Turning a prompt (text or chat messages) into the exact text a model reads.

Every backend and trainer renders through `render_prompt`, so generation,
scoring and training see the same tokens for the same prompt.

Example:
    >>> render_prompt(tokenizer, [Message(role="user", content="hi")])
    '<|im_start|>system\\n...<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentloop.llm.protocol import Prompt, as_messages


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
