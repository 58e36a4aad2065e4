"""OpenAIBackend against the real agentloop server (over HTTP) serving a real
TransformersBackend on a tiny random model: what the client returns must be
what the backend returns when called directly."""

from __future__ import annotations

import pytest
import torch
from serving_fixtures import MODEL_NAME, serve_command, served, tiny_dir, tiny_llm  # noqa: F401 (fixtures)

from agentloop.llm import LLM, Sampling
from agentloop.llm.openai_backend import OpenAIBackend
from agentloop.records import Message

STOPS = ("e", "a", "o")
CHAT = [Message(role="system", content="You shop."), Message(role="user", content="Find red shoes.")]


@pytest.fixture(scope="module")
def client(served, tiny_dir) -> OpenAIBackend:
    url, _ = served
    return OpenAIBackend(url, tokenizer=tiny_dir)


def assert_same(got, expected):
    assert got.text == expected.text
    assert got.token_ids == expected.token_ids
    assert got.logprobs == pytest.approx(expected.logprobs, abs=1e-4)
    assert got.finish_reason == expected.finish_reason


def test_is_an_llm_and_finds_the_model_name(client):
    assert isinstance(client, LLM)
    assert client.model == MODEL_NAME


def test_generate_text_prompts_like_the_backend(client, tiny_llm):
    prompts = ["Hello there", "The shop sells", "Buy"]
    sampling = Sampling(max_new_tokens=6, seed=7, temperature=0.9)
    got = client.generate(prompts, n=2, sampling=sampling)
    expected = tiny_llm.generate(prompts, n=2, sampling=sampling)
    assert [len(samples) for samples in got] == [2, 2, 2]
    for got_samples, expected_samples in zip(got, expected):
        for g, e in zip(got_samples, expected_samples):
            assert_same(g, e)


def test_mixed_chat_and_text_prompts_keep_their_order(client, tiny_llm):
    other_chat = [Message(role="user", content="Hi")]
    prompts = [CHAT, "Plain text", other_chat]
    sampling = Sampling(max_new_tokens=5, seed=4)
    got = client.generate(prompts, n=2, sampling=sampling)
    # A seeded request runs alone on the server: one generate call per request.
    expected = [
        tiny_llm.generate([CHAT], n=2, sampling=sampling)[0],
        tiny_llm.generate(["Plain text"], n=2, sampling=sampling)[0],
        tiny_llm.generate([other_chat], n=2, sampling=sampling)[0],
    ]
    for got_samples, expected_samples in zip(got, expected):
        for g, e in zip(got_samples, expected_samples):
            assert_same(g, e)


def test_text_keeps_the_stop_string(client, tiny_llm):
    sampling = Sampling(max_new_tokens=30, seed=2, stop=STOPS)
    got = client.generate(["Hi", CHAT], n=4, sampling=sampling)
    stopped = [c for samples in got for c in samples if c.finish_reason == "stop"]
    assert stopped, "no sample hit a stop string"
    assert all(c.text.endswith(STOPS) for c in stopped)
    for g, e in zip(got[0], tiny_llm.generate(["Hi"], n=4, sampling=sampling)[0]):
        assert_same(g, e)


def test_without_vllm_extensions_the_stop_string_comes_back_from_stop_reason(served, tiny_llm):
    url, _ = served
    plain = OpenAIBackend(url, vllm_extensions=False)
    sampling = Sampling(max_new_tokens=30, seed=2, stop=STOPS)
    got = plain.generate(["Hi"], n=4, sampling=sampling)[0]
    for g, e in zip(got, tiny_llm.generate(["Hi"], n=4, sampling=sampling)[0]):
        assert g.text == e.text
        assert g.token_ids == ()  # the plain OpenAI API has no token ids
        assert g.logprobs == pytest.approx(e.logprobs, abs=1e-4)


def test_score_matches_the_backend(client, tiny_llm):
    prompts = ["The price is", CHAT, CHAT, "x"]
    continuations = [" 20 dollars", "search[red shoes]", "click[item 3]", ""]
    got = client.score(prompts, continuations)
    expected = tiny_llm.score(prompts, continuations)
    for g, e in zip(got, expected):
        assert g.token_ids == e.token_ids
        assert g.logprobs == pytest.approx(e.logprobs, abs=1e-4)
    assert got[3].token_ids == ()


def test_score_after_an_empty_prompt_has_ids_but_no_logprobs(client, tiny_llm):
    got = client.score([""], ["Hello there"])[0]
    expected = tiny_llm.score([""], ["Hello there"])[0]
    assert got.token_ids == expected.token_ids
    assert got.logprobs == expected.logprobs == ()


def test_render_uses_the_tokenizer_for_chat(client, served, tiny_llm):
    assert client.render(CHAT) == tiny_llm.render(CHAT)
    assert client.render("raw") == "raw"
    url, _ = served
    with pytest.raises(ValueError, match="tokenizer"):
        OpenAIBackend(url).render(CHAT)


def test_a_rejected_request_raises_value_error(client):
    with pytest.raises(ValueError, match="empty"):
        client.generate([""], sampling=Sampling(max_new_tokens=2))


def test_concurrent_chat_prompts_are_batched_by_the_server(client, served):
    _, batcher = served
    prompts = [[Message(role="user", content=f"Question {i}?")] for i in range(6)]
    before = batcher.calls
    got = client.generate(prompts, n=2, sampling=Sampling(max_new_tokens=3))
    assert [len(samples) for samples in got] == [2] * 6
    assert batcher.calls - before < len(prompts)


@pytest.mark.slow
def test_default_model_through_the_client():
    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.transformers_backend import TransformersBackend
    from agentloop.serve.server import running_server

    path = resolve_model("default")
    llm = TransformersBackend.from_pretrained(path)
    question = [Message(role="user", content="What is the capital of France? Answer in one word.")]
    greedy = Sampling(max_new_tokens=8, temperature=0)
    with running_server(llm, "default", tokenizer=llm.tokenizer) as url:
        client = OpenAIBackend(url, tokenizer=path)
        expected_text = llm.generate([question], sampling=greedy)[0][0].text
        assert client.generate([question], sampling=greedy)[0][0].text == expected_text
        got = client.score([question, question], ["Paris", "London"])
        expected = llm.score([question, question], ["Paris", "London"])
    assert [g.logprob for g in got] == pytest.approx([e.logprob for e in expected], abs=1e-3)
    assert got[0].logprob > got[1].logprob


@pytest.mark.slow
@pytest.mark.vllm
def test_serve_command_with_the_vllm_backend(tiny_dir, tiny_llm):
    """`agentloop serve --backend vllm` end to end: vLLM's samples carry the
    log-probs a forward pass of the same weights gives, and scores agree."""
    pytest.importorskip("vllm")
    prompts = ["Hello there", CHAT]
    with serve_command(str(tiny_dir), "--backend", "vllm", "--dtype", "float32", "--eager", startup_s=600) as url:
        client = OpenAIBackend(url, tokenizer=tiny_dir)
        generated = client.generate(prompts, n=2, sampling=Sampling(max_new_tokens=5, seed=0, stop=STOPS))
        scores = client.score(prompts, [" my friend", "search[red shoes]"])
    for prompt, samples in zip(prompts, generated):
        for completion in samples:
            assert completion.finish_reason == "length" or completion.text.endswith(STOPS)
            prompt_ids = tiny_llm.encode(tiny_llm.render(prompt))
            ids = torch.tensor([prompt_ids + list(completion.token_ids)])
            with torch.inference_mode():
                logits = tiny_llm.model(input_ids=ids).logits.float()
            expected = torch.log_softmax(logits[0, len(prompt_ids) - 1 : -1], dim=-1)
            expected = expected.gather(-1, torch.tensor(completion.token_ids)[:, None]).squeeze(-1)
            assert completion.logprobs == pytest.approx(expected.tolist(), abs=1e-3)
    for got, expected in zip(scores, tiny_llm.score(prompts, [" my friend", "search[red shoes]"])):
        assert got.token_ids == expected.token_ids
        assert got.logprobs == pytest.approx(expected.logprobs, abs=1e-3)
