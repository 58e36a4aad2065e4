"""Gathering concurrent server requests into few batched LLM calls.

An HTTP server receives requests one at a time, but an LLM backend is fastest
when it gets many prompts in one `generate` or `score` call. `Batcher` queues
the work of every request, waits a few milliseconds for more to arrive, merges
the jobs that can share a call (same `n` and `Sampling`), and runs the calls one
after another in a single worker thread, so the backend never sees two calls at
once. Work that arrives while a call runs is merged into the next one.

A job with a seed runs in a call of its own: its samples must not depend on
what else happened to be in the batch.

Example:
    >>> batcher = Batcher(llm)
    >>> await batcher.start()
    >>> completions = await batcher.generate(["Hi"], n=2, sampling=Sampling(max_new_tokens=8))
    >>> await batcher.stop()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentloop.llm.protocol import LLM, Completion, Prompt, Sampling, Score


@dataclass
class _Job:
    """One request's share of work: its prompts and the future that gets its results."""

    kind: str  # "generate" or "score"
    prompts: list[Prompt]
    future: asyncio.Future
    n: int = 1
    sampling: Sampling | None = None
    continuations: list[str] = field(default_factory=list)

    def group_key(self) -> tuple[Any, ...]:
        """Jobs with equal keys can share one backend call."""
        if self.kind == "score":
            return ("score",)
        if self.sampling is not None and self.sampling.seed is not None:
            return ("generate", id(self))
        return ("generate", self.n, self.sampling)


class Batcher:
    """Runs the generate and score jobs of concurrent requests as batched LLM calls.

    Args:
        llm: any object implementing the `agentloop.llm.LLM` protocol.
        window_s: how long to wait for more jobs after the first one arrives.
        max_prompts: most prompts merged into one call.
    """

    def __init__(self, llm: LLM, window_s: float = 0.005, max_prompts: int = 256) -> None:
        self.llm = llm
        self.window_s = window_s
        self.max_prompts = max_prompts
        self.calls = 0
        """How many backend calls ran (lets tests see that requests were merged)."""
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        # One thread: backends are not required to be thread-safe.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentloop-llm")

    async def start(self) -> None:
        """Start the worker on the running event loop."""
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the worker; jobs still waiting fail with `RuntimeError`."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        self._executor.shutdown(wait=True)

    async def generate(self, prompts: Sequence[Prompt], n: int, sampling: Sampling) -> list[list[Completion]]:
        """`llm.generate(prompts, n, sampling)`, possibly merged with other requests' prompts."""
        return await self._submit(_Job("generate", list(prompts), self._new_future(), n=n, sampling=sampling))

    async def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        """`llm.score(prompts, continuations)`, possibly merged with other requests' pairs."""
        job = _Job("score", list(prompts), self._new_future(), continuations=list(continuations))
        return await self._submit(job)

    def _new_future(self) -> asyncio.Future:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, job: _Job) -> Any:
        if self._queue is None:
            raise RuntimeError("Batcher.start() has not been called")
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + self.window_s
            while sum(len(j.prompts) for j in jobs) < self.max_prompts:
                if not self._queue.empty():
                    jobs.append(self._queue.get_nowait())
                    continue
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    jobs.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            groups: dict[tuple[Any, ...], list[_Job]] = {}
            for job in jobs:
                groups.setdefault(job.group_key(), []).append(job)
            for group in groups.values():
                await self._run_group(group)

    async def _run_group(self, group: list[_Job]) -> None:
        try:
            results = await self._call(group)
        except Exception as error:
            if len(group) > 1:
                # One bad request must not fail the others it was merged with:
                # run each alone so only the culprit gets the error.
                for job in group:
                    await self._run_group([job])
                return
            if not group[0].future.done():
                group[0].future.set_exception(error)
            return
        start = 0
        for job in group:
            if not job.future.done():  # the client may have gone away
                job.future.set_result(results[start : start + len(job.prompts)])
            start += len(job.prompts)

    async def _call(self, group: list[_Job]) -> list[Any]:
        prompts = [p for job in group for p in job.prompts]
        first = group[0]
        call: Callable[[], list[Any]]
        if first.kind == "score":
            continuations = [c for job in group for c in job.continuations]
            call = lambda: self.llm.score(prompts, continuations)  # noqa: E731
        else:
            call = lambda: self.llm.generate(prompts, first.n, first.sampling)  # noqa: E731
        self.calls += 1
        results = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        if len(results) != len(prompts):
            raise RuntimeError(f"the backend returned {len(results)} results for {len(prompts)} prompts")
        return results
