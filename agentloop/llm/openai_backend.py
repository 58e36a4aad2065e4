"""`OpenAIBackend`: the LLM protocol as a client of an OpenAI-compatible server.

Works with `agentloop serve` (`agentloop.serve.server`), vLLM's `vllm serve`, and
other servers that speak the OpenAI API:

- `generate`: text prompts go to `/v1/completions` (many prompts per request),
  chat prompts to `/v1/chat/completions` (one conversation per request, as the
  API has it). Requests are sent concurrently from a thread pool, so the
  server can batch them.
- `score`: `/v1/completions` with `echo=true`, `logprobs=0`, `max_tokens=0`
  returns a text's tokens and their log-probs. The client scores the prompt
  and prompt + continuation (each distinct text once) and keeps the tokens past
  their common prefix. The server tokenises the joined text, so where the
  prompt's last token and the continuation's first would merge, the merged
  token counts as the continuation's (a backend that tokenises them apart can
  differ there). After an empty prompt the first token has no log-prob, so
  the `Score` has token ids but no log-probs, as `TransformersBackend` gives.
- Chat prompts are rendered to text for scoring (and `render`) with the
  model's chat template, which a remote server does not expose: pass the
  model's tokenizer (a Hugging Face directory) as `tokenizer`.

vLLM's request extensions make the results follow the protocol:
`include_stop_str_in_output` (the text keeps its stop string),
`return_token_ids` and `return_tokens_as_token_ids` (token ids). For a server
that rejects unknown fields (api.openai.com), pass `vllm_extensions=False`:
completions then have no token ids and lose their stop string.

Example:
    >>> llm = OpenAIBackend("http://127.0.0.1:8000/v1", tokenizer=resolve_model("default"))
    >>> llm.generate(["Say hi."], n=2, sampling=Sampling(max_new_tokens=8, seed=0))
    >>> llm.score([[Message(role="user", content="2+2?")]], ["4"])[0].logprob
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import openai

from agentloop.llm.chat import render_prompt
from agentloop.llm.protocol import (
    Completion,
    Prompt,
    Sampling,
    Score,
    as_messages,
    common_prefix_length,
)

T = TypeVar("T")
_TOKEN_ID_PREFIX = "token_id:"


class OpenAIBackend:
    """The LLM protocol over an OpenAI-compatible HTTP server.

    Args:
        base_url: the server's API root, e.g. "http://127.0.0.1:8000/v1".
        model: the model name to request (default: the first the server lists).
        api_key: sent as the bearer token (default: `$OPENAI_API_KEY`, else "none").
        tokenizer: a Hugging Face tokenizer, or the path of a directory that has
            one, to render chat prompts with the model's chat template (needed
            for `render` and `score` of chat prompts).
        max_concurrency: most requests in flight at once.
        prompts_per_request: most text prompts sent in one completions request.
        timeout: seconds to wait for one request.
        vllm_extensions: send vLLM's extension fields (see the module docstring).
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        tokenizer: Any | str | os.PathLike | None = None,
        max_concurrency: int = 16,
        prompts_per_request: int = 32,
        timeout: float = 600.0,
        vllm_extensions: bool = True,
    ) -> None:
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=2)
        self.model = model or self.client.models.list().data[0].id
        if isinstance(tokenizer, (str, os.PathLike)):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        self.tokenizer = tokenizer
        self.max_concurrency = max_concurrency
        self.prompts_per_request = prompts_per_request
        self.vllm_extensions = vllm_extensions

    # -- LLM protocol --------------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        if self.tokenizer is None:
            raise ValueError(
                "rendering a chat prompt needs the model's tokenizer: OpenAIBackend(..., tokenizer=PATH)"
            )
        return render_prompt(self.tokenizer, prompt)

    def generate(
        self, prompts: Sequence[Prompt], n: int = 1, sampling: Sampling | None = None
    ) -> list[list[Completion]]:
        sampling = sampling or Sampling()
        texts = [i for i, p in enumerate(prompts) if isinstance(p, str)]
        chats = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        chunks = self._chunks(texts)
        calls: list[Callable[[], list[list[Completion]]]] = []
        for chunk in chunks:
            calls.append(lambda chunk=chunk: self._complete([prompts[i] for i in chunk], n, sampling))
        for i in chats:
            calls.append(lambda i=i: [self._chat(prompts[i], n, sampling)])
        results: list[list[Completion]] = [[] for _ in prompts]
        order = [i for chunk in chunks for i in chunk] + chats
        flat = [samples for answer in self._run_all(calls) for samples in answer]
        for i, samples in zip(order, flat):
            results[i] = samples
        return results

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        heads = [self.render(p) for p in prompts]
        fulls = [h + c for h, c in zip(heads, continuations)]
        # Each distinct text once: many continuations often share one prompt.
        unique = list(dict.fromkeys(t for t in heads + fulls if t))
        chunks = self._chunks(unique)
        echoed = [e for answer in self._run_all([lambda c=c: self._echo(c) for c in chunks]) for e in answer]
        tokens = dict(zip(unique, echoed))
        scores = []
        for head, full in zip(heads, fulls):
            ids, values = tokens.get(full, ([], []))
            start = common_prefix_length([tokens[head][0], ids]) if head else 0
            logprobs = tuple(float(v) for v in values[start:]) if head else ()  # type: ignore[arg-type]
            scores.append(Score(tuple(ids[start:]), logprobs))
        return scores

    # -- requests ------------------------------------------------------------

    def _extensions(self) -> dict[str, Any]:
        if not self.vllm_extensions:
            return {}
        return {
            "include_stop_str_in_output": True,
            "return_tokens_as_token_ids": True,
            "return_token_ids": True,
        }

    def _sampling_fields(self, n: int, sampling: Sampling) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "extra_body": self._extensions(),
        }
        if sampling.stop:
            fields["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            fields["seed"] = sampling.seed
        return fields

    def _complete(self, prompts: list[str], n: int, sampling: Sampling) -> list[list[Completion]]:
        response = _call(lambda: self.client.completions.create(
            prompt=prompts, logprobs=0, **self._sampling_fields(n, sampling)
        )).model_dump()
        choices = sorted(response["choices"], key=lambda c: c["index"])
        if len(choices) != len(prompts) * n:
            raise RuntimeError(f"the server sent {len(choices)} choices for {len(prompts)} prompts x n={n}")
        completions = []
        for choice in choices:
            logprobs = choice.get("logprobs") or {}
            completions.append(_completion(choice["text"], choice, logprobs.get("tokens") or [],
                                           logprobs.get("token_logprobs") or []))
        return [completions[i * n : (i + 1) * n] for i in range(len(prompts))]

    def _chat(self, prompt: Prompt, n: int, sampling: Sampling) -> list[Completion]:
        messages = [m.model_dump() for m in as_messages(prompt)]
        response = _call(lambda: self.client.chat.completions.create(
            messages=messages, logprobs=True, **self._sampling_fields(n, sampling)
        )).model_dump()
        completions = []
        for choice in sorted(response["choices"], key=lambda c: c["index"]):
            content = (choice.get("logprobs") or {}).get("content") or []
            completions.append(_completion(choice["message"]["content"] or "", choice,
                                           [t["token"] for t in content], [t["logprob"] for t in content]))
        return completions

    def _echo(self, texts: list[str]) -> list[tuple[list[int], list[float | None]]]:
        """Token ids and log-probs of each text, as the server tokenises it."""
        response = _call(lambda: self.client.completions.create(
            model=self.model, prompt=texts, echo=True, logprobs=0, max_tokens=0, extra_body=self._extensions()
        )).model_dump()
        out = []
        for choice in sorted(response["choices"], key=lambda c: c["index"]):
            logprobs = choice.get("logprobs") or {}
            ids = _token_ids(logprobs.get("tokens") or [], choice.get("prompt_token_ids"))
            out.append((ids, list(logprobs.get("token_logprobs") or [])))
        return out

    def _chunks(self, items: list[T]) -> list[list[T]]:
        size = self.prompts_per_request
        return [items[start : start + size] for start in range(0, len(items), size)]

    def _run_all(self, calls: list[Callable[[], T]]) -> list[T]:
        if len(calls) <= 1:
            return [call() for call in calls]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(calls))) as pool:
            return list(pool.map(lambda call: call(), calls))


def _call(request: Callable[[], T]) -> T:
    """Run a request; the server's 400 (a bad prompt or option) becomes a `ValueError`."""
    try:
        return request()
    except openai.BadRequestError as error:
        raise ValueError(f"the server rejected the request: {error.message}") from error


def _token_ids(tokens: Sequence[str], ids: Sequence[int] | None) -> list[int]:
    """Token ids from the server's `token_ids` field or "token_id:<id>" tokens (else none)."""
    if ids:
        return list(ids)
    if tokens and all(t.startswith(_TOKEN_ID_PREFIX) for t in tokens):
        return [int(t[len(_TOKEN_ID_PREFIX) :]) for t in tokens]
    return []


def _completion(
    text: str, choice: dict[str, Any], tokens: Sequence[str], logprobs: Sequence[float | None]
) -> Completion:
    stop_reason = choice.get("stop_reason")
    # A server that ignored include_stop_str_in_output but says which stop
    # string ended the text: put it back, as the protocol wants.
    stopped = choice.get("finish_reason") == "stop"
    if stopped and isinstance(stop_reason, str) and not text.endswith(stop_reason):
        text += stop_reason
    finish = "length" if choice.get("finish_reason") == "length" else "stop"
    ids = _token_ids(tokens, choice.get("token_ids"))
    return Completion(text, tuple(ids), tuple(float(v) for v in logprobs if v is not None), finish)

