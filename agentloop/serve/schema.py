"""The request bodies `agentloop.serve.server` accepts: OpenAI's completion and chat
fields plus the vLLM extensions it implements.

Unknown fields are rejected (a typo or an unsupported option such as
`frequency_penalty` gets a 400 that names it) rather than silently ignored.

Example:
    >>> CompletionRequest(prompt="Hi", max_tokens=8, n=2).prompts()
    ['Hi']
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agentloop.records import Message

# Chat requests without max_tokens: OpenAI means "until the context is full";
# a CPU model needs a bound, so this is the default.
DEFAULT_CHAT_MAX_TOKENS = 512


class RequestError(Exception):
    """A request the server cannot serve; becomes an OpenAI-style error response."""

    def __init__(self, message: str, status: int = 400, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class _Request(BaseModel):
    """Fields shared by completion and chat requests."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    n: int = Field(1, ge=1, le=256)
    temperature: float | None = Field(None, ge=0.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    """Streaming is not implemented; `true` gets a 400."""
    user: str | None = None
    include_stop_str_in_output: bool = False
    """vLLM: keep the stop string at the end of the text."""
    return_tokens_as_token_ids: bool = False
    """vLLM: log-prob tokens read "token_id:<id>"."""
    return_token_ids: bool = False
    """vLLM: choices carry the generated `token_ids`."""

    @field_validator("stream")
    @classmethod
    def _no_streaming(cls, stream: bool) -> bool:
        if stream:
            raise ValueError("streaming is not supported by this server")
        return stream

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        stops = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        if any(s == "" for s in stops):
            raise RequestError("stop strings must not be empty")
        return stops


class CompletionRequest(_Request):
    """`POST /v1/completions`."""

    prompt: str | list[str]
    max_tokens: int = Field(16, ge=0)
    """Tokens to generate; 0 only with `echo` (score the prompt, generate nothing)."""
    logprobs: int | None = Field(None, ge=0)
    """Return log-probs (any value: only the chosen token's log-prob is known)."""
    echo: bool = False
    """Put the prompt (and, with `logprobs`, its tokens' log-probs) before the generated text."""

    def prompts(self) -> list[str]:
        prompts = [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)
        if not prompts:
            raise RequestError("prompt must be a string or a non-empty list of strings")
        return prompts

    def check(self) -> None:
        if self.max_tokens == 0 and not self.echo:
            raise RequestError("max_tokens must be at least 1 (0 only with echo=true, to score the prompt)")
        if self.echo and self.logprobs is not None and any(p == "" for p in self.prompts()):
            raise RequestError("an echoed prompt must not be empty")


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class _FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    arguments: str
    """The arguments as a JSON object in a string, as OpenAI sends them."""


class _ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    type: Literal["function"] = "function"
    function: _FunctionCall


class _Function(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=r"^[A-Za-z_][\w.-]{0,63}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """A JSON schema of the arguments."""


class ToolSpec(BaseModel):
    """One entry of `tools`: an OpenAI function tool."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: _Function


class _NamedChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: dict[str, str]


class ChatMessage(BaseModel):
    """One message of a chat request; content is a string or a list of text parts.

    An assistant message may carry `tool_calls`; a `tool` message answers one of them
    (`tool_call_id`)."""

    model_config = ConfigDict(extra="forbid")

    role: str
    content: str | list[_TextPart] | None = None
    name: str | None = None
    tool_calls: list[_ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content or ())

    def as_message(self) -> Message:
        if self.role not in ("system", "user", "assistant"):
            raise RequestError(f"message role {self.role!r} is not supported (system, user or assistant)")
        return Message(role=self.role, content=self.text())

    def as_dict(self) -> dict[str, Any]:
        """The message as the tool rendering reads it (`agentloop.serve.tools`): calls
        with their arguments decoded."""
        if self.role not in ("system", "user", "assistant", "tool"):
            raise RequestError(f"message role {self.role!r} is not supported (system, user, assistant or tool)")
        calls = None
        if self.tool_calls:
            calls = []
            for call in self.tool_calls:
                try:
                    arguments = json.loads(call.function.arguments or "{}")
                except json.JSONDecodeError:
                    raise RequestError(f"tool call {call.id!r}: arguments are not JSON") from None
                calls.append({"id": call.id, "name": call.function.name, "arguments": arguments})
        return {"role": self.role, "content": self.text(), "name": self.name, "tool_calls": calls,
                "tool_call_id": self.tool_call_id}


class ChatRequest(_Request):
    """`POST /v1/chat/completions`."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    """OpenAI's newer name for `max_tokens`; wins when both are given."""
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    """Accepted; alternatives are not known, so each token's `top_logprobs` is `[]`."""

    def max_new_tokens(self) -> int:
        return self.max_completion_tokens or self.max_tokens or DEFAULT_CHAT_MAX_TOKENS

    tools: list[ToolSpec] | None = None
    """OpenAI function tools the model may call (`agentloop.serve.tools`)."""
    tool_choice: Literal["none", "auto", "required"] | _NamedChoice | None = None
    """"auto" (the default with tools), "none", "required" or `{"type": "function",
    "function": {"name": ...}}`."""
    parallel_tool_calls: bool = True
    """False keeps only the first call of a reply."""

    def agentloop_messages(self) -> tuple[Message, ...]:
        return tuple(m.as_message() for m in self.messages)

    def uses_tools(self) -> bool:
        """Whether the request needs the tool path (tools offered or tool messages in the chat)."""
        return bool(self.tools) or any(m.role == "tool" or m.tool_calls for m in self.messages)

    def choice(self) -> str:
        """"none", "auto", "required" or the name of the function the model must call."""
        if not self.tools:
            if self.tool_choice not in (None, "none"):
                raise RequestError("tool_choice needs tools")
            return "none"
        if self.tool_choice is None or isinstance(self.tool_choice, str):
            return self.tool_choice or "auto"
        name = self.tool_choice.function.get("name")
        if name not in {t.function.name for t in self.tools}:
            raise RequestError(f"tool_choice names {name!r}, which is not in tools")
        return name
