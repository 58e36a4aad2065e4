"""The request batcher on a real tiny TransformersBackend, with each backend
call recorded: which jobs share a call, and that results go back to the right
job."""

from __future__ import annotations

import asyncio

import pytest
from serving_fixtures import tiny_dir, tiny_llm  # noqa: F401 (fixtures)

from agentloop.llm import Sampling
from agentloop.serve.batcher import Batcher


class Recorded:
    """The wrapped LLM, remembering the prompts of every call."""

    def __init__(self, llm):
        self.llm = llm
        self.calls: list[tuple[str, list]] = []

    def generate(self, prompts, n=1, sampling=None):
        self.calls.append(("generate", list(prompts)))
        return self.llm.generate(prompts, n, sampling)

    def score(self, prompts, continuations):
        self.calls.append(("score", list(prompts)))
        return self.llm.score(prompts, continuations)

    def render(self, prompt):
        return self.llm.render(prompt)


def run(llm, jobs):
    """Start a batcher, submit all `jobs(batcher)` coroutines at once, return their results."""

    async def main():
        batcher = Batcher(llm, window_s=0.05)
        await batcher.start()
        try:
            return await asyncio.gather(*jobs(batcher), return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_jobs_with_equal_sampling_share_one_call(tiny_llm):
    llm = Recorded(tiny_llm)
    greedy, warm = Sampling(max_new_tokens=3, temperature=0), Sampling(max_new_tokens=3, temperature=0.7)
    results = run(llm, lambda b: [
        b.generate(["a", "b"], 2, greedy), b.generate(["c"], 2, greedy),
        b.generate(["d"], 2, warm), b.score(["x"], [" y"]), b.score(["z"], [" w"]),
    ])
    assert sorted(llm.calls) == sorted([
        ("generate", ["a", "b", "c"]), ("generate", ["d"]), ("score", ["x", "z"]),
    ])
    assert [len(r) for r in results] == [2, 1, 1, 1, 1]
    assert all(len(samples) == 2 for r in results[:3] for samples in r)
    for result, (prompt, continuation) in zip(results[3:], [("x", " y"), ("z", " w")]):
        expected = tiny_llm.score([prompt], [continuation])[0]
        assert result[0].token_ids == expected.token_ids
        assert result[0].logprobs == pytest.approx(expected.logprobs, abs=1e-5)


def test_seeded_jobs_run_alone(tiny_llm):
    llm = Recorded(tiny_llm)
    seeded = Sampling(max_new_tokens=3, seed=1)
    results = run(llm, lambda b: [b.generate(["a"], 1, seeded), b.generate(["b"], 1, seeded)])
    assert sorted(llm.calls) == [("generate", ["a"]), ("generate", ["b"])]
    assert results[1] == tiny_llm.generate(["b"], 1, seeded)


def test_a_failing_job_fails_alone(tiny_llm):
    llm = Recorded(tiny_llm)
    greedy = Sampling(max_new_tokens=2, temperature=0)
    results = run(llm, lambda b: [b.generate(["fine"], 1, greedy), b.generate([""], 1, greedy)])
    assert len(results[0]) == 1 and results[0][0][0].token_ids
    assert isinstance(results[1], ValueError)
    assert llm.calls[0] == ("generate", ["fine", ""])  # tried together first, then apart


def test_jobs_need_a_started_batcher(tiny_llm):
    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(Batcher(tiny_llm).generate(["a"], 1, Sampling()))
