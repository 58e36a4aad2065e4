"""Telling apart the calls of concurrent rollouts that reach the server over HTTP.

A graph that keeps its `ChatOpenAI` (or any OpenAI client) cannot hand
agentloop its token ids and episode: the client drops the server's
`token_ids`, and concurrent rollouts all call the same URL. So a rollout names
itself, either in the URL (`base_url=".../rollouts/<id>/v1"`) or in an
`X-Rollout-Id` header, and the server records each of its chat calls (prompt
messages, completion, token ids, log-probs) under that id; the trainer side
reads them back with `GET /rollouts/<id>/calls` (`?clear=true` forgets them).
On the client, `token_ids_from_logprobs` recovers the ids from the log-probs
of a response asked with `return_tokens_as_token_ids`, which clients keep.

Example:
    >>> ChatOpenAI(base_url=f"{server}/rollouts/episode-7/v1", api_key="none", logprobs=True,
    ...            extra_body={"return_tokens_as_token_ids": True})
    >>> httpx.get(f"{server_root}/rollouts/episode-7/calls").json()["calls"][0]["token_ids"]
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from agentloop.llm.protocol import Completion
from agentloop.records import Message

ROLLOUT_HEADER = "X-Rollout-Id"


class RolloutLog:
    """The chat calls the server made, by rollout id (thread-safe; kept until cleared)."""

    def __init__(self) -> None:
        self._calls: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(self, rollout: str, prompt: Sequence[Message], completions: Sequence[Completion]) -> None:
        """Remember one request's choices (one entry per choice) under `rollout`."""
        entries = [{"prompt": [m.model_dump() for m in prompt], "completion": c.text,
                    "token_ids": list(c.token_ids), "logprobs": list(c.logprobs),
                    "finish_reason": c.finish_reason} for c in completions]
        with self._lock:
            self._calls.setdefault(rollout, []).extend(entries)

    def calls(self, rollout: str, clear: bool = False) -> list[dict[str, Any]]:
        """The calls recorded under `rollout`, in the order they were answered."""
        with self._lock:
            return list(self._calls.pop(rollout, []) if clear else self._calls.get(rollout, []))


def token_ids_from_logprobs(logprobs: dict[str, Any] | None) -> list[int]:
    """Token ids from a chat response's `logprobs` (`{"content": [{"token": "token_id:42", ...}]}`),
    as the server writes them with `return_tokens_as_token_ids`; a LangChain `AIMessage`
    keeps this dict in `response_metadata["logprobs"]`."""
    ids = []
    for entry in (logprobs or {}).get("content") or []:
        token = entry["token"]
        if not token.startswith("token_id:"):
            raise ValueError(f"token {token!r} is not an id: ask with return_tokens_as_token_ids")
        ids.append(int(token[len("token_id:"):]))
    return ids
