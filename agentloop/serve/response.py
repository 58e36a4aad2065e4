"""The response side of `agentloop.serve.server`: OpenAI's completion and chat choices
(with vLLM's extra fields) built from agentloop `Completion`s.

Example:
    >>> chat_choice(0, completion, ChatRequest(messages=[...], logprobs=True), Tokens(tokenizer, False))
    {'index': 0, 'message': {'role': 'assistant', 'content': ...}, 'logprobs': {'content': [...]}, ...}
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentloop.llm.protocol import Completion
from agentloop.serve.schema import ChatRequest, CompletionRequest

# JSON has no -inf; OpenAI and vLLM send this floor instead.
LOGPROB_FLOOR = -9999.0


class Tokens:
    """Token ids as the strings OpenAI responses show: the token's text, or
    "token_id:<id>" when asked (vLLM's `return_tokens_as_token_ids`) or when the
    server has no tokenizer."""

    def __init__(self, tokenizer: Any | None, as_ids: bool) -> None:
        self.tokenizer = tokenizer
        self.as_ids = as_ids or tokenizer is None

    def text(self, token_id: int) -> str:
        if self.as_ids:
            return f"token_id:{token_id}"
        return self.tokenizer.decode([token_id])

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return 0
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


@dataclass
class Echo:
    """An echoed prompt's token ids and their log-probs."""

    token_ids: list[int]
    logprobs: list[float | None]


def logprob(value: float | None) -> float | None:
    """A log-prob that JSON can carry (-inf becomes the floor)."""
    return None if value is None else max(float(value), LOGPROB_FLOOR)


def visible_text(completion: Completion, stop: Sequence[str], keep_stop: bool) -> tuple[str, str | None]:
    """The completion's text as the client asked for it, and the stop string that ended it."""
    text = completion.text
    matched = [s for s in stop if text.endswith(s)] if completion.finish_reason == "stop" else []
    if not matched:
        return text, None
    stop_string = max(matched, key=len)
    return (text if keep_stop else text[: -len(stop_string)]), stop_string


def completion_logprobs(ids: Sequence[int], values: Sequence[float | None], tokens: Tokens) -> dict[str, Any]:
    strings = [tokens.text(i) for i in ids]
    offsets, position = [], 0
    for string in strings:
        offsets.append(position)
        position += len(string)
    return {
        "tokens": strings,
        "token_logprobs": [logprob(v) for v in values],
        "top_logprobs": None,
        "text_offset": offsets,
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_choice(
    index: int,
    prompt: str,
    completion: Completion | None,
    echo: Echo | None,
    request: CompletionRequest,
    tokens: Tokens,
) -> dict[str, Any]:
    """One `/v1/completions` choice: the echoed prompt (if asked), then the generated text."""
    ids: list[int] = []
    values: list[float | None] = []
    text, stop_reason, finish_reason = "", None, "length"
    if request.echo:
        text = prompt
        if echo is not None:
            ids, values = list(echo.token_ids), list(echo.logprobs)
    if completion is not None:
        stops, keep = request.stop_strings(), request.include_stop_str_in_output
        generated, stop_reason = visible_text(completion, stops, keep)
        text += generated
        ids += completion.token_ids
        values += completion.logprobs
        finish_reason = completion.finish_reason
    choice: dict[str, Any] = {
        "index": index,
        "text": text,
        "logprobs": None if request.logprobs is None else completion_logprobs(ids, values, tokens),
        "finish_reason": finish_reason,
        "stop_reason": stop_reason,
    }
    if request.return_token_ids:
        choice["token_ids"] = list(completion.token_ids) if completion else []
        choice["prompt_token_ids"] = echo.token_ids if echo else None
    return choice


def tool_call_entries(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls read from a reply (`{name, arguments}`) in OpenAI's `tool_calls` shape."""
    return [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for c in calls]


def chat_choice(index: int, completion: Completion, request: ChatRequest, tokens: Tokens,
                tool_calls: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One `/v1/chat/completions` choice; with `tool_calls` (read from the reply), the
    message carries them, its content is null and `finish_reason` is "tool_calls"."""
    text, stop_reason = visible_text(completion, request.stop_strings(), request.include_stop_str_in_output)
    logprobs = None
    if request.logprobs:
        content = []
        for token_id, value in zip(completion.token_ids, completion.logprobs):
            string = tokens.text(token_id)
            entry = {"token": string, "logprob": logprob(value), "bytes": list(string.encode())}
            content.append({**entry, "top_logprobs": []})
        logprobs = {"content": content}
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message = {"role": "assistant", "content": None, "tool_calls": tool_call_entries(tool_calls)}
    choice: dict[str, Any] = {
        "index": index,
        "message": message,
        "logprobs": logprobs,
        "finish_reason": "tool_calls" if tool_calls else completion.finish_reason,
        "stop_reason": stop_reason,
    }
    if request.return_token_ids:
        choice["token_ids"] = list(completion.token_ids)
    return choice
