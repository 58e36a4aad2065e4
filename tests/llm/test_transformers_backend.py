"""TransformersBackend on a tiny random model: its shared-prefill decoding must give
exactly what plain transformers gives, token for token and log-prob for log-prob."""

from __future__ import annotations

import pytest
import torch

from agentloop.llm import Sampling
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.records import Message

PROMPTS = [
    [Message(role="system", content="You shop."), Message(role="user", content="Find red shoes under $40.")],
    [Message(role="system", content="You shop."), Message(role="user", content="Find a blue lamp.")],
    "A raw text prompt without a template",
]


@pytest.fixture(scope="module")
def llm(tiny_model_dir):
    return TransformersBackend.from_pretrained(tiny_model_dir)


def reference_greedy(llm, prompt, max_new_tokens):
    ids = torch.tensor([llm.encode(llm.render(prompt))])
    out = llm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=sorted(llm.eos_ids), pad_token_id=0)
    return out[0, ids.shape[1]:].tolist()


def test_greedy_equals_plain_transformers_generate(llm):
    # Batched prompts with a shared prefix and different lengths exercise the
    # prefix prefill, the padded suffixes and the position ids.
    out = llm.generate(PROMPTS, n=2, sampling=Sampling(temperature=0, max_new_tokens=12))
    for prompt, completions in zip(PROMPTS, out):
        expected = reference_greedy(llm, prompt, 12)
        for completion in completions:
            assert list(completion.token_ids) == expected[: len(completion.token_ids)]
            assert len(completion.token_ids) == len(expected)


def test_logprobs_equal_score_of_the_generated_text(llm):
    out = llm.generate(PROMPTS[:2], n=3, sampling=Sampling(max_new_tokens=10, seed=3))
    for prompt, completions in zip(PROMPTS[:2], out):
        for completion in completions:
            prompt_ids = llm.encode(llm.render(prompt))
            ids = torch.tensor([prompt_ids + list(completion.token_ids)])
            with torch.no_grad():
                logits = llm.model(ids).logits[0].log_softmax(-1)
            expected = [logits[len(prompt_ids) - 1 + i, t].item() for i, t in enumerate(completion.token_ids)]
            assert completion.logprobs == pytest.approx(expected, abs=1e-4)


def test_same_seed_same_samples_and_n_samples_differ(llm):
    sampling = Sampling(max_new_tokens=8, seed=11)
    first = llm.generate(PROMPTS[:1], n=4, sampling=sampling)
    second = llm.generate(PROMPTS[:1], n=4, sampling=sampling)
    assert [c.token_ids for c in first[0]] == [c.token_ids for c in second[0]]
    assert len({c.token_ids for c in first[0]}) > 1  # a random tiny model samples widely


def test_stop_string_ends_the_completion_and_is_kept(llm):
    out = llm.generate(PROMPTS[:1], n=4, sampling=Sampling(max_new_tokens=30, seed=0))
    text = next(c.text for c in out[0] if len(c.text) > 4)
    stop = text[2:4]
    again = llm.generate(PROMPTS[:1], n=4, sampling=Sampling(max_new_tokens=30, seed=0, stop=(stop,)))
    stopped = [c for c in again[0] if c.finish_reason == "stop" and stop in c.text]
    assert stopped, "a sample containing the stop string did not stop on it"
    for completion in stopped:
        assert completion.text.endswith(stop) and completion.text.count(stop) == 1


def test_score_matches_a_manual_forward(llm):
    scores = llm.score(PROMPTS[:2], [" yes", " no thanks"])
    for prompt, continuation, score in zip(PROMPTS[:2], [" yes", " no thanks"], scores):
        prompt_ids, cont_ids = llm.encode(llm.render(prompt)), llm.encode(continuation)
        ids = torch.tensor([prompt_ids + cont_ids])
        with torch.no_grad():
            logits = llm.model(ids).logits[0].log_softmax(-1)
        expected = [logits[len(prompt_ids) - 1 + i, t].item() for i, t in enumerate(cont_ids)]
        assert list(score.token_ids) == cont_ids
        assert score.logprobs == pytest.approx(expected, abs=1e-4)


def test_bad_inputs_are_rejected(llm):
    with pytest.raises(ValueError):
        llm.generate([""], n=1)
    with pytest.raises(ValueError):
        llm.generate(["hi"], n=0)
    with pytest.raises(ValueError):
        llm.score(["a", "b"], ["c"])


def test_n_samples_share_one_prefill(llm):
    # One prefill forward, then one forward per decoded token: a prompt's n
    # samples never re-read the prompt.
    llm.model_calls = 0
    llm.generate(PROMPTS[:1], n=4, sampling=Sampling(temperature=0, max_new_tokens=5))
    assert llm.model_calls <= 5
