"""The request bodies `agentloop.serve.server` accepts: OpenAI's completion and chat
fields plus the vLLM extensions it implements.

Unknown fields are rejected (a typo or an unsupported option such as
`frequency_penalty` gets a 400 that names it) rather than silently ignored.

Example:
    >>> CompletionRequest(prompt="Hi", max_tokens=8, n=2).prompts()
    ['Hi']
"""

from __future__ import annotations

from typing import Literal

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


class ChatMessage(BaseModel):
    """One message of a chat request; content is a string or a list of text parts."""

    model_config = ConfigDict(extra="forbid")

    role: str
    content: str | list[_TextPart] | None = None
    name: str | None = None

    def as_message(self) -> Message:
        if self.role not in ("system", "user", "assistant"):
            raise RequestError(f"message role {self.role!r} is not supported (system, user or assistant)")
        if isinstance(self.content, str):
            content = self.content
        else:
            content = "".join(part.text for part in self.content or ())
        return Message(role=self.role, content=content)


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

    def agentloop_messages(self) -> tuple[Message, ...]:
        return tuple(m.as_message() for m in self.messages)
