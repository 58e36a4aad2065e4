"""`AgentloopChatModel`: a LangChain chat model over any agentloop backend that
records every call as a trainable turn.

A user drops it into their LangGraph graph in place of their chat model. Each
call renders the messages with the backend's chat template, generates with the
backend (through the episode's `Batcher` when one runs, so the calls of
concurrent episodes merge into batched backend calls) and appends an `LLMCall`
(prompt, completion, token ids, log-probs, the graph node that made it) to the
`Episode` of the current context. The episode is a `contextvars.ContextVar`,
set once per episode by the runner: `asyncio` tasks and LangGraph's node
executors copy the context, so concurrent episodes never see each other's calls.

In search mode (`Episode.search`), the model does not generate: it calls
LangGraph's `interrupt()` with the prompt, and the search driver answers with
`Command(resume=...)` (`agentloop.agents.graph_search`).

Example:
    >>> model = AgentloopChatModel(llm=llm, sampling=Sampling(max_new_tokens=32))
    >>> episode = Episode("task-1")
    >>> with episode.active():
    ...     model.invoke("Hi")
    >>> episode.calls[0].token_ids
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

from agentloop.llm.protocol import LLM, Completion, Sampling
from agentloop.records import Message
from agentloop.serve.batcher import Batcher

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


@dataclass(frozen=True)
class LLMCall:
    """One recorded model call: what the model read and what it generated."""

    node: str
    """The LangGraph node that made the call ("" outside a graph)."""
    prompt: tuple[Message, ...]
    completion: str
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    """Log-probability of each generated token (temperature 1, the off-policy reference)."""
    finish_reason: str = "stop"


@dataclass
class Episode:
    """The calls of one graph run, and how its model calls are served.

    Args:
        task_id: the task the episode plays.
        batcher: merges this episode's calls with other episodes' (None: call the backend directly).
        search: interrupt at every call instead of generating (MCTS drives the graph).
        loop: the event loop the batcher runs on, so sync nodes (run by LangGraph in
            worker threads) send their calls to it too and the backend never runs two
            calls at once.
    """

    task_id: str
    batcher: Batcher | None = None
    search: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    calls: list[LLMCall] = field(default_factory=list)

    @contextmanager
    def active(self) -> Iterator[Episode]:
        """Make this the episode the chat model records into, for the `with` block."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


_current: contextvars.ContextVar[Episode | None] = contextvars.ContextVar("agentloop_episode", default=None)


def current_episode() -> Episode | None:
    """The episode of the running context (None outside `Episode.active()`)."""
    return _current.get()


def to_messages(messages: Sequence[BaseMessage]) -> tuple[Message, ...]:
    """LangChain messages as agentloop messages; tool results become user turns
    (the chat templates of small models know only system/user/assistant)."""
    out = []
    for message in messages:
        content = message.content if isinstance(message.content, str) else message.text
        role = _ROLES.get(message.type)
        if role is None:  # "tool", "function", "chat": results the model reads
            role, content = "user", f"Tool result: {content}"
        out.append(Message(role=role, content=content))
    return tuple(out)


class AgentloopChatModel(BaseChatModel):
    """A chat model on an agentloop `LLM`; every call is recorded into the current `Episode`.

    Args:
        llm: any backend implementing `agentloop.llm.protocol.LLM`.
        sampling: how to sample (the `stop` a caller passes is added to its stop strings).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any
    sampling: Sampling = Sampling()
    # Calls that bypass a batcher still must not reach the backend two at once
    # (backends are not required to be thread-safe).
    _backend_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "agentloop"

    def _sampling(self, stop: list[str] | None) -> Sampling:
        if not stop:
            return self.sampling
        return self.sampling.model_copy(update={"stop": tuple(self.sampling.stop) + tuple(stop)})

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        prompt, episode = to_messages(messages), current_episode()
        if episode is not None and episode.search:
            return self._finish(prompt, _interrupted(prompt, run_manager), run_manager)
        sampling = self._sampling(stop)
        if episode is not None and episode.batcher is not None and episode.loop is not None \
                and not _runs_on(episode.loop):
            job = asyncio.run_coroutine_threadsafe(episode.batcher.generate([list(prompt)], 1, sampling),
                                                   episode.loop)
            return self._finish(prompt, job.result()[0][0], run_manager)
        return self._finish(prompt, self._call_backend(prompt, sampling), run_manager)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: Any = None, **kwargs: Any) -> ChatResult:
        prompt, episode = to_messages(messages), current_episode()
        if episode is not None and episode.search:
            return self._finish(prompt, _interrupted(prompt, run_manager), run_manager)
        sampling = self._sampling(stop)
        if episode is not None and episode.batcher is not None:
            completion = (await episode.batcher.generate([list(prompt)], 1, sampling))[0][0]
        else:
            completion = await asyncio.to_thread(self._call_backend, prompt, sampling)
        return self._finish(prompt, completion, run_manager)

    def _call_backend(self, prompt: tuple[Message, ...], sampling: Sampling) -> Completion:
        llm: LLM = self.llm
        with self._backend_lock:
            return llm.generate([list(prompt)], n=1, sampling=sampling)[0][0]

    def _finish(self, prompt: tuple[Message, ...], completion: Completion, run_manager: Any) -> ChatResult:
        node = str(getattr(run_manager, "metadata", {}).get("langgraph_node", ""))
        episode = current_episode()
        if episode is not None:
            episode.calls.append(LLMCall(node, prompt, completion.text, tuple(completion.token_ids),
                                         tuple(completion.logprobs), completion.finish_reason))
        info = {"token_ids": list(completion.token_ids), "logprobs": list(completion.logprobs),
                "finish_reason": completion.finish_reason, "node": node}
        message = AIMessage(content=completion.text, response_metadata=info)
        return ChatResult(generations=[ChatGeneration(message=message, generation_info=info)])


def _runs_on(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether this thread is running `loop` (waiting on it from here would deadlock)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _interrupted(prompt: tuple[Message, ...], run_manager: Any) -> Completion:
    """Pause the graph at this call; the search driver resumes it with the completion to use."""
    from langgraph.types import interrupt

    node = str(getattr(run_manager, "metadata", {}).get("langgraph_node", ""))
    answer = interrupt({"node": node, "prompt": [m.model_dump() for m in prompt]})
    if isinstance(answer, Completion):
        return answer
    if isinstance(answer, dict):
        return Completion(answer["text"], tuple(answer.get("token_ids", ())), tuple(answer.get("logprobs", ())),
                          answer.get("finish_reason", "stop"))
    return Completion(str(answer), (), (), "stop")
