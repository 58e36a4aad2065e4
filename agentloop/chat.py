"""Turning a prompt (text or chat messages) into the exact text a model reads.

Every backend and trainer renders through `render_prompt`, so generation,
scoring and training see the same tokens for the same prompt.

Example:
    >>> render_prompt(tokenizer, [Message(role="user", content="hi")])
    '<|im_start|>system\\n...<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\n'
"""

from __future__ import annotations

from typing import Any

from agentloop.llm import Prompt, as_messages


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
