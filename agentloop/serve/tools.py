"""OpenAI function tools on the server: rendering a request's tools and tool
messages into the prompt, and reading the model's reply back as `tool_calls`.

Rendering. When the tokenizer's chat template knows tools (its source mentions
`tools`, as Qwen's and Llama 3.1's do), the request goes through
`apply_chat_template(messages, tools=...)` as Hugging Face documents it, and the
rendered text is the prompt. Otherwise (the default SmolLM2 template ignores
tools) the tools are listed in plain text in the system message, with the call
format the tool world uses, `{"tool": NAME, "arguments": {...}}`, and the chat
keeps agentloop's three roles: an assistant message's `tool_calls` become that
JSON in its text, and a `tool` message becomes a user message
"Tool NAME returned: ...". (agentloop's `Message` keeps its three roles because
every chat template and trainer reads them; a tool result is, to a model
without tool tokens, something the user side tells it.) A rollout's recorded
prompt (`agentloop.serve.rollouts`) is that three-role chat in both cases.

Reading. The reply is data: every JSON object in it is read with
`json.JSONDecoder.raw_decode`, one of the shapes `{"tool"|"name": NAME,
"arguments"|"parameters": {...}}` is kept, and the shape is checked by the tool
world's `JsonCallCodec` (which also reads a literal-only call such as
`get_weather(city="Paris")` when there is no JSON). Calls to a tool the request
did not offer are dropped. Nothing is evaluated or looked up by name.

`tool_choice`: "auto" (default) lets the model choose; "none" leaves the tools
out of the prompt and returns text; "required" or a named function add "you
must call ..." to the plain-text instructions (a tool-aware template renders
the tools as it does for "auto"), and a named function keeps only calls to it. The server cannot constrain decoding, so a reply without a well-formed call
comes back as text (`finish_reason` "stop" or "length") even then.

Example:
    >>> read_tool_calls('{"tool": "get_weather", "arguments": {"city": "Paris"}}', {"get_weather"})
    [{'name': 'get_weather', 'arguments': {'city': 'Paris'}}]
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from agentloop.environments.tooluse.codec import MAX_ACTION, JsonCallCodec
from agentloop.records import Message

_CODEC = JsonCallCodec()
_DECODER = json.JSONDecoder()
CALL_FORMAT = '{"tool": "<name>", "arguments": {<argument>: <value>, ...}}'


def template_knows_tools(tokenizer: Any | None) -> bool:
    """Whether the tokenizer's chat template renders a `tools` argument."""
    return "tools" in (getattr(tokenizer, "chat_template", None) or "")


def tool_list_text(tools: Sequence[dict[str, Any]], choice: str | None) -> str:
    """The plain-text instructions that list `tools` and say how to call one.

    `choice` is "auto", "required" or the one function's name the model must call."""
    lines = ["You can call these tools:"]
    for tool in tools:
        function = tool["function"]
        lines.append(f"- {function['name']}: {function.get('description') or ''}".rstrip())
        lines.append(f"  parameters: {json.dumps(function.get('parameters') or {}, sort_keys=True)}")
    lines.append(f"To call a tool, reply with one JSON object per call and nothing else: {CALL_FORMAT}.")
    if choice == "required":
        lines.append("You must call a tool now.")
    elif choice not in (None, "auto"):
        lines.append(f"You must call the tool {choice} now.")
    else:
        lines.append("When no tool is needed, answer in plain text.")
    return "\n".join(lines)


def _call_text(call: dict[str, Any]) -> str:
    return json.dumps({"tool": call["name"], "arguments": call["arguments"]})


def plain_messages(messages: Sequence[dict[str, Any]], tool_text: str | None) -> tuple[Message, ...]:
    """The request's messages in agentloop's three roles (see the module docstring);
    `tool_text`, when given, is appended to the system message (or becomes one)."""
    names: dict[str, str] = {}
    out: list[Message] = []
    for message in messages:
        role, content = message["role"], message.get("content") or ""
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                names[call["id"]] = call["name"]
            content = "\n".join(([content] if content else []) + [_call_text(c) for c in message["tool_calls"]])
        elif role == "tool":
            name = message.get("name") or names.get(message.get("tool_call_id") or "", "a tool")
            role, content = "user", f"Tool {name} returned: {content}"
        out.append(Message(role=role, content=content))
    if tool_text is not None:
        if out and out[0].role == "system":
            out[0] = Message(role="system", content=f"{out[0].content}\n\n{tool_text}")
        else:
            out.insert(0, Message(role="system", content=tool_text))
    return tuple(out)


def template_prompt(tokenizer: Any, messages: Sequence[dict[str, Any]],
                    tools: Sequence[dict[str, Any]] | None) -> str:
    """The request rendered by the tokenizer's own tool-aware chat template."""
    rendered = []
    for message in messages:
        entry = {k: v for k, v in message.items() if v is not None}
        if message.get("tool_calls"):
            entry["tool_calls"] = [{"id": c["id"], "type": "function",
                                    "function": {"name": c["name"], "arguments": c["arguments"]}}
                                   for c in message["tool_calls"]]
        entry.setdefault("content", "")
        rendered.append(entry)
    return tokenizer.apply_chat_template(rendered, tools=list(tools) if tools else None,
                                         tokenize=False, add_generation_prompt=True)


def _as_call(value: Any) -> dict[str, Any] | None:
    """`{"tool"|"name": ..., "arguments"|"parameters": {...}}` checked by the codec, as {name, arguments}."""
    if not isinstance(value, dict):
        return None
    name = value.get("tool", value.get("name"))
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # OpenAI's own shape: arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    canonical = _CODEC.parse(json.dumps({"tool": name, "arguments": arguments}))
    if canonical is None or "tool" not in (decoded := json.loads(canonical)):
        return None
    return {"name": decoded["tool"], "arguments": decoded["arguments"]}


def read_tool_calls(text: str, offered: Collection[str]) -> list[dict[str, Any]]:
    """Every well-formed call in `text` to a tool in `offered`, in order (empty when none).

    Each JSON object is read whole (nested brackets included); a text without JSON is
    read by the codec as a literal-only call expression."""
    if not isinstance(text, str) or len(text) > 8 * MAX_ACTION:
        return []
    calls, position = [], 0
    while (start := text.find("{", position)) != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            position = start + 1
            continue
        call = _as_call(value)
        if call is not None:
            calls.append(call)
        position = end if call is not None else start + 1
    if not calls and (canonical := _CODEC.parse(text)) is not None:
        decoded = json.loads(canonical)
        if "tool" in decoded:
            calls.append({"name": decoded["tool"], "arguments": decoded["arguments"]})
    return [c for c in calls if c["name"] in offered]
