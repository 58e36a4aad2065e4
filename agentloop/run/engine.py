"""An LLM engine as a Ray actor, and the proxy that lets an agent or critic use it.

`Engine` is the body of an async Ray actor: it holds one agentloop LLM backend
(one vLLM engine on its GPUs, or a transformers model) behind
`agentloop.serve.batcher.Batcher`, so the requests that several search
workers send at once are merged into batched backend calls, and the backend
never sees two calls at a time. `RemoteLLM` speaks the LLM protocol
(`generate`, `score`, `render`) by calling an engine actor, so `ReActAgent`,
`LLMCritic` and the MCTS run unchanged inside a worker.

Between rounds the engine loads the round's checkpoint by path: the run
directory must be on storage every node sees (NFS, a shared disk, a mounted
bucket). While the round trains, `release()` frees the engine's accelerator
memory (a vLLM engine sleeps) and the next `load()` brings it back.

Example:
    >>> actor = ray.remote(Engine).options(num_gpus=1).remote(llm_factory, "runs/x/round-1/checkpoint")
    >>> llm = RemoteLLM(actor)
    >>> llm.generate(["Hi"], n=2, sampling=Sampling(max_new_tokens=8))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentloop.llm.chat import render_prompt
from agentloop.llm.protocol import LLM, Completion, Prompt, Sampling, Score
from agentloop.run.from_config import close_llm
from agentloop.serve.batcher import Batcher

LLMFactory = Callable[[str], LLM]
"""Builds a backend on a model path (a picklable callable: it is shipped to the actor)."""


class Engine:
    """One LLM backend behind a batcher; every method is a coroutine, so Ray runs the
    actor on an event loop and concurrent calls from workers meet in the batcher.

    Args:
        llm_factory: builds the backend on a model path, inside the actor's process.
        model: the model to start on.
        window_s: how long the batcher waits for more requests to merge.
    """

    def __init__(self, llm_factory: LLMFactory, model: str, window_s: float = 0.005):
        self.factory, self.window_s = llm_factory, window_s
        self.model: str | None = model
        self.llm: LLM | None = llm_factory(model)
        self.batcher: Batcher | None = None
        self.calls = 0
        """Backend calls run by earlier batchers (each `load` starts a new one)."""
        self.requests = 0
        """generate/score requests received."""

    async def _batcher(self) -> Batcher:
        if self.llm is None:
            raise RuntimeError("the engine was released; load() a model first")
        if self.batcher is None:
            self.batcher = Batcher(self.llm, window_s=self.window_s)
            await self.batcher.start()
        return self.batcher

    async def generate(self, prompts: Sequence[Prompt], n: int, sampling: Sampling | None) -> list[list[Completion]]:
        self.requests += 1
        return await (await self._batcher()).generate(prompts, n, sampling or Sampling())

    async def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        self.requests += 1
        return await (await self._batcher()).score(prompts, continuations)

    async def render(self, prompts: Sequence[Prompt]) -> list[str]:
        if self.llm is None:
            raise RuntimeError("the engine was released; load() a model first")
        return [self.llm.render(p) for p in prompts]

    async def tokenizer(self):
        """The tokenizer `render` applies when the backend renders with agentloop's
        `render_prompt` (transformers, vLLM), so workers render without a round trip;
        None for other backends."""
        local = type(self.llm).__module__ in ("agentloop.llm.transformers_backend", "agentloop.llm.vllm_backend")
        return self.llm.tokenizer if local else None

    async def _stop_batcher(self) -> None:
        if self.batcher is not None:
            self.calls += self.batcher.calls
            await self.batcher.stop()
            self.batcher = None

    async def load(self, model: str) -> None:
        """Serve `model` (a path all nodes see): swap the weights in place where the backend
        can (vLLM's `load_weights`), otherwise start a new backend on it."""
        if model == self.model and self.llm is not None:
            return
        await self._stop_batcher()  # no call may run while the weights change
        if self.llm is not None and hasattr(self.llm, "load_weights"):
            self.llm.load_weights(model)
        else:
            close_llm(self.llm)
            self.llm = None
            self.llm = self.factory(model)
        self.model = model

    async def release(self) -> None:
        """Free the backend's accelerator memory while training runs, as the one-process loop
        does (`Session.release`): a vLLM engine sleeps (`VLLMBackend.release`; its processes
        stay), a model on a GPU is dropped, a CPU model stays (RAM is not the constraint).
        The next `load` brings it back on the newest checkpoint."""
        await self._stop_batcher()
        release = getattr(self.llm, "release", None)
        if callable(release):
            release()
        elif getattr(getattr(self.llm, "device", None), "type", "cpu") != "cpu":
            close_llm(self.llm)
            self.llm = None
        self.model = None  # whatever is kept, the next load reloads the weights

    async def stats(self) -> dict[str, int]:
        """Requests received and backend calls made: fewer calls than requests means merging."""
        return {"requests": self.requests, "calls": self.calls + (self.batcher.calls if self.batcher else 0)}


class RemoteLLM:
    """The LLM protocol over an `Engine` actor (blocking calls, as the search expects).

    Args:
        engine: a Ray actor handle of `Engine`.

    Example:
        >>> agent = ReActAgent(RemoteLLM(engine), ...)
    """

    def __init__(self, engine):
        self.engine = engine
        self._tokenizer: object = _UNKNOWN

    def generate(self, prompts: Sequence[Prompt], n: int = 1,
                 sampling: Sampling | None = None) -> list[list[Completion]]:
        import ray

        return ray.get(self.engine.generate.remote(list(prompts), n, sampling))

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        import ray

        return ray.get(self.engine.score.remote(list(prompts), list(continuations)))

    def render(self, prompt: Prompt) -> str:
        import ray

        if self._tokenizer is _UNKNOWN:  # every checkpoint of a run keeps the tokenizer
            self._tokenizer = ray.get(self.engine.tokenizer.remote())
        if self._tokenizer is not None:
            return render_prompt(self._tokenizer, prompt)
        return ray.get(self.engine.render.remote([prompt]))[0]


_UNKNOWN = object()
