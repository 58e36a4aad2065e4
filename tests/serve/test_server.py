"""The OpenAI-compatible server, over real HTTP, serving a real TransformersBackend
on a tiny random model: generation matches the backend's own, seeds repeat,
stop strings, echo scoring against a direct forward pass, chat, bad requests,
batching of concurrent requests, and the `agentloop serve` command."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import torch
from serving_fixtures import MODEL_NAME, serve_command, served, tiny_dir, tiny_llm  # noqa: F401 (fixtures)

from agentloop.llm import Sampling
from agentloop.records import Message

STOPS = ["e", "a", "o"]


@pytest.fixture(scope="module")
def http(served):
    url, _ = served
    with httpx.Client(base_url=url, timeout=120) as client:
        yield client


def post(http, path, body):
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def direct_logprobs(llm, text: str) -> tuple[list[int], list[float]]:
    """Token ids of `text` and each token's log-prob after the ones before it,
    from one forward pass of the model (independent of the backend's score)."""
    ids = llm.tokenizer(text, add_special_tokens=False).input_ids
    with torch.inference_mode():
        logits = llm.model(input_ids=torch.tensor([ids])).logits.float()
    values = torch.log_softmax(logits[0, :-1], dim=-1).gather(-1, torch.tensor(ids[1:])[:, None])
    return ids, values.squeeze(-1).tolist()


def test_models_lists_the_served_model(http):
    body = http.get("/models").json()
    assert [m["id"] for m in body["data"]] == [MODEL_NAME]


def test_completions_match_the_backends_generate(http, tiny_llm):
    prompts = ["Hello there", "The shop sells"]
    body = post(http, "/completions", {
        "model": MODEL_NAME, "prompt": prompts, "n": 3, "max_tokens": 6, "seed": 5,
        "temperature": 0.8, "top_p": 0.9, "logprobs": 0, "return_token_ids": True,
    })
    sampling = Sampling(max_new_tokens=6, seed=5, temperature=0.8, top_p=0.9)
    expected = tiny_llm.generate(prompts, n=3, sampling=sampling)
    choices = sorted(body["choices"], key=lambda c: c["index"])
    assert len(choices) == 6
    for i in range(2):
        for j in range(3):
            choice, completion = choices[i * 3 + j], expected[i][j]
            assert choice["text"] == completion.text
            assert choice["token_ids"] == list(completion.token_ids)
            assert choice["logprobs"]["token_logprobs"] == pytest.approx(completion.logprobs, abs=1e-4)
            assert "".join(choice["logprobs"]["tokens"]) == tiny_llm.tokenizer.decode(completion.token_ids)
            assert choice["finish_reason"] == completion.finish_reason
    assert body["usage"]["completion_tokens"] == sum(len(c.token_ids) for cs in expected for c in cs)
    assert len({c["text"] for c in choices}) > 1


def test_seeds_repeat_and_differ(http):
    request = {"prompt": "Once upon a time", "n": 2, "max_tokens": 8, "seed": 11}
    first = post(http, "/completions", request)["choices"]
    again = post(http, "/completions", request)["choices"]
    other = post(http, "/completions", {**request, "seed": 12})["choices"]
    assert [c["text"] for c in first] == [c["text"] for c in again]
    assert [c["text"] for c in first] != [c["text"] for c in other]


def test_stop_strings_are_cut_or_kept_on_request(http):
    request = {"prompt": ["Hi", "Go"], "n": 4, "max_tokens": 30, "seed": 2, "stop": STOPS,
               "return_token_ids": True}
    cut = post(http, "/completions", request)["choices"]
    kept = post(http, "/completions", {**request, "include_stop_str_in_output": True})["choices"]
    stopped = [(c, k) for c, k in zip(cut, kept) if c["finish_reason"] == "stop" and c["stop_reason"]]
    assert stopped, "no sample hit a stop string"
    for c, k in stopped:
        assert k["text"] == c["text"] + c["stop_reason"]
        assert c["stop_reason"] in STOPS
        assert not any(s in c["text"] for s in STOPS)  # cut at the first stop string
        assert c["token_ids"] == k["token_ids"]


def test_echo_scores_the_prompt_like_a_forward_pass(http, tiny_llm):
    texts = ["Hello there my good friend", "A red shoe, size 9."]
    body = post(http, "/completions", {"prompt": texts, "echo": True, "logprobs": 0, "max_tokens": 0,
                                       "return_tokens_as_token_ids": True})
    for text, choice in zip(texts, body["choices"]):
        ids, values = direct_logprobs(tiny_llm, text)
        assert choice["text"] == text
        assert choice["logprobs"]["tokens"] == [f"token_id:{i}" for i in ids]
        assert choice["logprobs"]["token_logprobs"][0] is None  # no context, as in OpenAI's API
        assert choice["logprobs"]["token_logprobs"][1:] == pytest.approx(values, abs=1e-4)


def test_echo_with_generation_puts_the_prompt_first(http, tiny_llm):
    text = "Buy the blue one"
    choice = post(http, "/completions", {"prompt": text, "echo": True, "logprobs": 0, "max_tokens": 4,
                                         "seed": 1, "return_token_ids": True})["choices"][0]
    generated = tiny_llm.generate([text], sampling=Sampling(max_new_tokens=4, seed=1))[0][0]
    ids, values = direct_logprobs(tiny_llm, text)
    assert choice["text"] == text + generated.text
    assert choice["logprobs"]["token_logprobs"][1 : len(ids)] == pytest.approx(values, abs=1e-4)
    assert choice["logprobs"]["token_logprobs"][len(ids) :] == pytest.approx(generated.logprobs, abs=1e-4)


def test_chat_matches_the_backend(http, tiny_llm):
    messages = [Message(role="system", content="Be brief."), Message(role="user", content="Name a fruit.")]
    body = post(http, "/chat/completions", {
        "messages": [m.model_dump() for m in messages], "n": 2, "max_tokens": 5, "seed": 3,
        "logprobs": True, "return_tokens_as_token_ids": True,
    })
    expected = tiny_llm.generate([messages], n=2, sampling=Sampling(max_new_tokens=5, seed=3))[0]
    for choice, completion in zip(body["choices"], expected):
        assert choice["message"] == {"role": "assistant", "content": completion.text}
        content = choice["logprobs"]["content"]
        assert [t["token"] for t in content] == [f"token_id:{i}" for i in completion.token_ids]
        assert [t["logprob"] for t in content] == pytest.approx(completion.logprobs, abs=1e-4)
    assert body["usage"]["prompt_tokens"] == len(tiny_llm.encode(tiny_llm.render(messages)))


def test_chat_accepts_text_parts_and_max_completion_tokens(http):
    body = post(http, "/chat/completions", {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_completion_tokens": 3, "temperature": 0,
    })
    assert body["usage"]["completion_tokens"] <= 3


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/completions", {"prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
        ("/completions", {"prompt": "x", "frequency_penalty": 0.5}, 400, "frequency_penalty"),
        ("/completions", {"prompt": []}, 400, "prompt"),
        ("/completions", {"prompt": ""}, 400, "empty"),
        ("/completions", {"prompt": "x", "stream": True}, 400, "streaming"),
        ("/completions", {"prompt": "x", "temperature": -1}, 400, "temperature"),
        ("/completions", {"prompt": "x", "n": 0}, 400, "n"),
        ("/completions", {"prompt": "x", "stop": [""]}, 400, "stop"),
        ("/completions", {"prompt": "x", "model": "gpt-4"}, 404, "gpt-4"),
        ("/completions", {}, 400, "prompt"),
        ("/chat/completions", {"messages": []}, 400, "messages"),
        ("/chat/completions", {"messages": [{"role": "function", "content": "x"}]}, 400, "role"),
        ("/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, 400,
         "max_tokens"),
    ],
)
def test_bad_requests_get_a_clear_error(http, path, body, status, message):
    response = http.post(path, json=body)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]


def test_concurrent_requests_are_batched(http, served):
    _, batcher = served
    prompts = [f"Item {i}: a" for i in range(8)]

    def ask(prompt):
        return http.post("/completions", json={"prompt": prompt, "n": 2, "max_tokens": 3})

    before = batcher.calls
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(ask, prompts))
    assert all(r.status_code == 200 for r in responses)
    assert all(len(r.json()["choices"]) == 2 for r in responses)
    assert batcher.calls - before < len(prompts)


def test_merged_scores_go_back_to_their_requests(http, tiny_llm, served):
    _, batcher = served
    texts = [f"Score this text number {i} please" for i in range(6)]

    def echo(text):
        return http.post("/completions", json={"prompt": text, "echo": True, "logprobs": 0, "max_tokens": 0})

    before = batcher.calls
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(echo, texts))
    assert batcher.calls - before < len(texts)
    for text, response in zip(texts, responses):
        assert response.json()["choices"][0]["logprobs"]["token_logprobs"][1:] == pytest.approx(
            direct_logprobs(tiny_llm, text)[1], abs=1e-4
        )


def test_a_bad_request_does_not_fail_the_ones_batched_with_it(http):
    good = {"prompt": "fine", "max_tokens": 2, "temperature": 0}
    bodies = [good, good, good, {**good, "prompt": ""}]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda b: http.post("/completions", json=b).status_code, bodies))
    assert statuses == [200, 200, 200, 400]


def test_seeded_requests_repeat_under_concurrency(http):
    bodies = [{"prompt": f"Task {i}", "max_tokens": 5, "seed": i} for i in range(4)]
    alone = [post(http, "/completions", b)["choices"][0]["text"] for b in bodies]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda b: post(http, "/completions", b)["choices"][0]["text"], bodies))
    assert together == alone


@pytest.mark.slow  # a subprocess server
def test_serve_command_serves_a_model_directory(tiny_dir):
    with serve_command(str(tiny_dir)) as url:
        models = httpx.get(f"{url}/models", timeout=5).json()
        assert models["data"][0]["id"] == str(tiny_dir)
        body = httpx.post(f"{url}/completions", json={"prompt": "Hi", "max_tokens": 3}, timeout=60).json()
        assert body["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.slow
def test_default_model_chat_and_scores_over_http():
    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.transformers_backend import TransformersBackend
    from agentloop.serve.server import running_server

    llm = TransformersBackend.from_pretrained(resolve_model("default"))
    messages = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
    greedy = Sampling(max_new_tokens=8, temperature=0)
    server = running_server(llm, "default", tokenizer=llm.tokenizer)
    with server as url, httpx.Client(base_url=url, timeout=300) as http:
        body = post(http, "/chat/completions", {"messages": messages, "max_tokens": 8, "temperature": 0})
        expected = llm.generate([[Message(**m) for m in messages]], sampling=greedy)
        assert body["choices"][0]["message"]["content"] == expected[0][0].text
        assert "Paris" in expected[0][0].text
        text = llm.render([Message(**m) for m in messages]) + "Paris"
        echo = post(http, "/completions", {"prompt": text, "echo": True, "logprobs": 0, "max_tokens": 0})
        ids, values = direct_logprobs(llm, text)
        assert echo["choices"][0]["logprobs"]["token_logprobs"][1:] == pytest.approx(values, abs=1e-3)
