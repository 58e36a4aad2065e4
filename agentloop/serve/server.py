"""An OpenAI-compatible HTTP server for any `agentloop.llm.LLM` backend.

Serves `GET /v1/models`, `POST /v1/completions` and `POST /v1/chat/completions`
(no streaming), so the `openai` client, `agentloop.llm.openai_backend.OpenAIBackend`
and other OpenAI tools can use a transformers or vLLM backend, or a trained
checkpoint. Concurrent requests are merged into batched backend calls
(`agentloop.serve.batcher.Batcher`).

Behaviour worth knowing, beyond the OpenAI API:

- Log-probs are those of the model's unmodified distribution (the backend's
  contract). Only the chosen token's log-prob is known, so `top_logprobs` is
  `null` (completions) or `[]` (chat) whatever was asked.
- `echo=true` with `logprobs` and `max_tokens=0` returns the prompt's tokens and
  their log-probs, which is how a client scores text. The first token has no
  context and its log-prob is `null`, as in OpenAI's API. The backend scores
  the rest of the text as the continuation of its first token, so this needs
  the server's `tokenizer` (without one, the text is scored after an empty
  prompt, and a backend that gives no log-probs there gives only `null`s).
- vLLM's extensions: `include_stop_str_in_output` (the text keeps the stop
  string; by default it is cut off, as OpenAI does), `return_tokens_as_token_ids`
  (tokens read "token_id:<id>") and `return_token_ids` (choices carry
  `token_ids`, echoed prompts `prompt_token_ids`).
- Tools: `tools`, `tool_choice`, `tool` messages and assistant `tool_calls`
  are accepted and replies are read back as `tool_calls`
  (`agentloop.serve.tools`: the tokenizer's tool-aware template where it has
  one, else a plain-text tool list with a JSON call format).
- Bad requests get a 400 with an OpenAI-style `{"error": {"message": ...}}`.
- Rollouts: chat calls made under `/rollouts/<id>/v1/...` or with an
  `X-Rollout-Id` header are recorded under that id, with their token ids and
  log-probs, and read back with `GET /rollouts/<id>/calls`
  (`agentloop.serve.rollouts`), so the calls of concurrent rollouts of a graph
  that keeps `ChatOpenAI` are told apart.

Example:
    >>> llm = TransformersBackend.from_pretrained(resolve_model("default"))
    >>> with running_server(llm, tokenizer=llm.tokenizer) as base_url:
    ...     openai.OpenAI(base_url=base_url, api_key="none").completions.create(
    ...         model="default", prompt="Hello", max_tokens=8)
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from agentloop.llm.protocol import LLM, Completion, Prompt, Sampling
from agentloop.records import Message
from agentloop.serve.batcher import Batcher
from agentloop.serve.response import (
    Echo,
    Tokens,
    chat_choice,
    completion_choice,
    logprob,
    usage,
)
from agentloop.serve.rollouts import RolloutLog
from agentloop.serve.schema import ChatRequest, CompletionRequest, RequestError
from agentloop.serve.tools import (
    plain_messages,
    read_tool_calls,
    template_knows_tools,
    template_prompt,
    tool_list_text,
)


def _head(tokenizer: Any | None, text: str) -> str:
    """The shortest start of `text` that is whole tokens (usually its first token).

    The protocol scores a continuation of a prompt, and a backend may give no
    log-probs after an empty prompt; scoring `text` as the continuation of its
    first token gives every later token's log-prob.
    """
    if tokenizer is None:
        return ""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    for k in range(1, len(ids)):
        head = tokenizer.decode(ids[:k])
        if head and text.startswith(head):  # not a partial UTF-8 character
            return head
    return ""


async def _score_texts(batcher: Batcher, texts: list[str], tokenizer: Any | None) -> list[Echo]:
    """Token ids and log-probs of whole texts; `None` for tokens without context."""
    heads = [_head(tokenizer, t) for t in texts]
    scores = await batcher.score(heads, [t[len(h) :] for h, t in zip(heads, texts)])
    echoes = []
    for head, score in zip(heads, scores):
        head_ids = tokenizer(head, add_special_tokens=False)["input_ids"] if head else []
        ids = list(head_ids) + list(score.token_ids)
        values: list[float | None] = [logprob(v) for v in score.logprobs]
        values = [None] * (len(ids) - len(values)) + values
        if values:
            values[0] = None  # the first token follows nothing (see the module docstring)
        echoes.append(Echo(ids, values))
    return echoes


def _sampling(request: CompletionRequest | ChatRequest, max_tokens: int) -> Sampling:
    try:
        return Sampling(
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            max_new_tokens=max_tokens,
            stop=request.stop_strings(),
            seed=request.seed,
        )
    except ValidationError as error:
        raise RequestError(str(error)) from None


def _chat_prompt(request: ChatRequest, tokenizer: Any | None) -> tuple[tuple[Message, ...], Prompt, set[str]]:
    """The chat as agentloop messages (what a rollout records), the prompt the model
    reads (those messages, or the text of a tool-aware chat template) and the names
    of the tools whose calls are read from the reply (empty: read none)."""
    if not request.uses_tools():
        messages = request.agentloop_messages()
        return messages, messages, set()
    choice = request.choice()
    tools = [t.model_dump(exclude_none=True) for t in request.tools or ()] if choice != "none" else []
    offered = {t["function"]["name"] for t in tools}
    if choice not in ("auto", "required", "none"):
        offered = {choice}
    dicts = [m.as_dict() for m in request.messages]
    messages = plain_messages(dicts, tool_list_text(tools, choice) if tools else None)
    if template_knows_tools(tokenizer):
        return messages, template_prompt(tokenizer, dicts, tools), offered
    return messages, messages, offered


def create_app(
    llm: LLM, model_name: str = "default", tokenizer: Any | None = None, batcher: Batcher | None = None
) -> FastAPI:
    """The FastAPI app serving `llm` under the name `model_name`.

    Args:
        llm: any `agentloop.llm.LLM`.
        model_name: the id `/v1/models` lists; requests naming another model get a 404.
        tokenizer: a Hugging Face tokenizer of the model, used to show tokens as
            text and count prompt tokens; without it tokens read "token_id:<id>".
        batcher: the request batcher (default: a `Batcher(llm)`); the app
            starts and stops it.
    """
    batcher = batcher or Batcher(llm)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="agentloop", lifespan=lifespan)
    app.state.batcher = batcher
    rollouts = app.state.rollouts = RolloutLog()

    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError) -> JSONResponse:
        return _error(error.status, str(error), error.kind)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(map(str, e['loc'][1:])) or 'body'}: {e['msg']}" for e in error.errors()]
        return _error(400, "; ".join(parts), "invalid_request_error")

    @app.exception_handler(ValueError)
    async def value_error(request: Request, error: ValueError) -> JSONResponse:
        # Backends raise ValueError for input they cannot take (e.g. too long).
        return _error(400, str(error), "invalid_request_error")

    def check_model(name: str | None) -> None:
        if name is not None and name != model_name:
            message = f"model {name!r} is not served here; this server serves {model_name!r}"
            raise RequestError(message, 404, "model_not_found")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry = {"id": model_name, "object": "model", "created": int(time.time()), "owned_by": "agentloop"}
        return {"object": "list", "data": [entry]}

    @app.post("/v1/completions")
    async def completions(request: CompletionRequest) -> dict[str, Any]:
        check_model(request.model)
        request.check()
        prompts = request.prompts()
        tokens = Tokens(tokenizer, request.return_tokens_as_token_ids)
        echoes: list[Echo] | None = None
        if request.echo and request.logprobs is not None:
            echoes = await _score_texts(batcher, prompts, tokenizer)
        generated: list[list[Completion]] | None = None
        if request.max_tokens:
            sampling = _sampling(request, request.max_tokens)
            generated = await batcher.generate(prompts, request.n, sampling)
        choices, completion_tokens = [], 0
        for i, prompt in enumerate(prompts):
            for j in range(request.n):
                completion = generated[i][j] if generated else None
                echo = echoes[i] if echoes else None
                choices.append(completion_choice(len(choices), prompt, completion, echo, request, tokens))
                completion_tokens += len(completion.token_ids) if completion else 0
        if echoes:
            prompt_tokens = sum(len(e.token_ids) for e in echoes)
        else:
            prompt_tokens = sum(tokens.count(p) for p in prompts)
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": choices,
            "usage": usage(prompt_tokens, completion_tokens),
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatRequest,
                               x_rollout_id: str | None = Header(None)) -> dict[str, Any]:
        return await chat(request, x_rollout_id)

    @app.post("/rollouts/{rollout_id}/v1/chat/completions")
    async def rollout_chat_completions(rollout_id: str, request: ChatRequest) -> dict[str, Any]:
        return await chat(request, rollout_id)

    @app.get("/rollouts/{rollout_id}/calls")
    async def rollout_calls(rollout_id: str, clear: bool = False) -> dict[str, Any]:
        return {"rollout": rollout_id, "calls": rollouts.calls(rollout_id, clear)}

    async def chat(request: ChatRequest, rollout: str | None) -> dict[str, Any]:
        check_model(request.model)
        messages, prompt, offered = _chat_prompt(request, tokenizer)
        tokens = Tokens(tokenizer, request.return_tokens_as_token_ids)
        sampling = _sampling(request, request.max_new_tokens())
        completions = (await batcher.generate([prompt], request.n, sampling))[0]
        if rollout is not None:
            rollouts.record(rollout, messages, completions)
        choices = []
        for j, completion in enumerate(completions):
            calls = read_tool_calls(completion.text, offered) if offered else []
            calls = calls if request.parallel_tool_calls else calls[:1]
            choices.append(chat_choice(j, completion, request, tokens, calls))
        prompt_tokens = tokens.count(llm.render(prompt))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": choices,
            "usage": usage(prompt_tokens, sum(len(c.token_ids) for c in completions)),
        }

    return app


def _error(status: int, message: str, kind: str) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return JSONResponse(status_code=status, content=body)


def serve(
    llm: LLM,
    host: str = "127.0.0.1",
    port: int = 8000,
    model_name: str = "default",
    tokenizer: Any | None = None,
) -> None:
    """Serve `llm` until interrupted (what `agentloop serve` runs)."""
    uvicorn.run(create_app(llm, model_name, tokenizer), host=host, port=port, log_level="info")


@contextlib.contextmanager
def running_server(
    llm: LLM, model_name: str = "default", tokenizer: Any | None = None, batcher: Batcher | None = None
) -> Iterator[str]:
    """Serve `llm` on a free port of 127.0.0.1 in a background thread; yields the
    base URL (".../v1") and stops the server on exit.

    Example:
        >>> with running_server(llm) as base_url:
        ...     OpenAIBackend(base_url).generate(["Hi"])
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(llm, model_name, tokenizer, batcher), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server failed to start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
