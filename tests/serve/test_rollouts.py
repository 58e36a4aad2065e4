"""The serving path for graphs that keep an OpenAI client: calls of concurrent rollouts,
named in the URL or in a header, are recorded apart on the server with their token ids
and log-probs, and the client recovers the same token ids from the response log-probs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from serving_fixtures import MODEL_NAME, served, tiny_dir, tiny_llm  # noqa: F401 (fixtures)

from agentloop.agents.graph_episodes import calls_from_server, merge_calls
from agentloop.serve.rollouts import token_ids_from_logprobs


def rollout(base_url: str, name: str, by_header: bool) -> list[tuple[str, list[int], list[float]]]:
    """Two chat calls of one rollout, the second reading the first's answer."""
    root = base_url.removesuffix("/v1")
    client = openai.OpenAI(base_url=base_url if by_header else f"{root}/rollouts/{name}/v1", api_key="none",
                           default_headers={"X-Rollout-Id": name} if by_header else None)
    messages, seen = [{"role": "user", "content": f"Task of {name}."}], []
    for _ in range(2):
        response = client.chat.completions.create(
            model=MODEL_NAME, messages=messages, max_tokens=5, logprobs=True,
            extra_body={"return_tokens_as_token_ids": True})
        choice = response.choices[0]
        logprobs = choice.logprobs.model_dump()
        seen.append((choice.message.content, token_ids_from_logprobs(logprobs),
                     [t["logprob"] for t in logprobs["content"]]))
        messages += [{"role": "assistant", "content": choice.message.content},
                     {"role": "user", "content": "Go on."}]
    return seen


def test_concurrent_rollouts_are_recorded_apart_with_their_tokens(served):
    url, _ = served
    names = [f"r{i}" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: rollout(url, names[i], by_header=i % 2 == 1), range(4)))
    root = url.removesuffix("/v1")
    for name, seen in zip(names, results):
        recorded = httpx.get(f"{root}/rollouts/{name}/calls", params={"clear": True}).json()["calls"]
        assert [c["prompt"][0]["content"] for c in recorded] == [f"Task of {name}."] * 2
        for entry, (text, ids, values) in zip(recorded, seen, strict=True):
            assert entry["completion"] == text and entry["token_ids"] == ids
            assert entry["logprobs"] == pytest.approx(values, abs=1e-6)
        # One conversation: the second prompt extends the first call and its answer.
        (messages, train), = merge_calls(calls_from_server(recorded, node="agent"))
        assert train == [False, True, False, True]
        assert httpx.get(f"{root}/rollouts/{name}/calls").json()["calls"] == []  # cleared


def test_token_ids_need_the_id_form():
    with pytest.raises(ValueError, match="return_tokens_as_token_ids"):
        token_ids_from_logprobs({"content": [{"token": "hello", "logprob": -1.0}]})
    assert token_ids_from_logprobs(None) == []
