"""A checkpoint the trainer saved generates through TransformersBackend, `agentloop serve` and vLLM."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from agentloop.trainers.config import DPOConfig, LoraSettings
from agentloop.trainers.dpo import train_dpo
from serving_fixtures import FAST_VLLM_START

from agentloop.llm import Sampling
from agentloop.records import Message, PreferencePair

PROMPT = [Message(role="user", content="Buy red shoes.")]


@pytest.fixture(scope="module")
def checkpoint(tiny_model_dir, tmp_path_factory):
    """A LoRA DPO run on the tiny model: the saved directory has the adapters merged in."""
    pairs = [PreferencePair(prompt=tuple(PROMPT), chosen=(Message(role="assistant", content=f"search[shoes {i}]"),),
                            rejected=(Message(role="assistant", content="click[back]"),)) for i in range(4)]
    out = tmp_path_factory.mktemp("ckpt") / "checkpoint"
    config = DPOConfig(lr=1e-3, batch_size=4, lora=LoraSettings(r=4), progress=False, device="cpu")
    train_dpo(tiny_model_dir, pairs, config, out)
    return out


def test_transformers_backend_generates_from_checkpoint(checkpoint):
    from agentloop.llm.transformers_backend import TransformersBackend

    llm = TransformersBackend.from_pretrained(checkpoint)
    out = llm.generate([PROMPT], n=2, sampling=Sampling(max_new_tokens=4, seed=0))
    assert len(out[0]) == 2
    assert all(1 <= len(c.token_ids) <= 4 and len(c.logprobs) == len(c.token_ids) for c in out[0])
    assert "<|im_start|>assistant" in llm.render(PROMPT)  # the chat template came along


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # a subprocess server
def test_agentloop_serve_generates_from_checkpoint(checkpoint):
    port = _free_port()
    command = [sys.executable, "-m", "agentloop.cli", "serve", str(checkpoint), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 180
        while True:
            try:
                httpx.get(f"{url}/models", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.5)
        body = httpx.post(f"{url}/chat/completions", timeout=120, json={
            "messages": [m.model_dump() for m in PROMPT], "max_tokens": 4, "temperature": 0}).json()
        assert body["choices"][0]["finish_reason"] in ("stop", "length")
        assert isinstance(body["choices"][0]["message"]["content"], str)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.vllm
@pytest.mark.slow
def test_vllm_generates_from_checkpoint(tmp_path):
    """A LoRA DPO checkpoint of the real default model (vLLM's CPU kernels reject the tiny
    model's head size) generates through vLLM exactly as through transformers."""
    pytest.importorskip("vllm")
    from agentloop.llm.transformers_backend import TransformersBackend
    from agentloop.llm.vllm_backend import VLLMBackend

    pairs = [PreferencePair(prompt=tuple(PROMPT), chosen=(Message(role="assistant", content=f"search[shoes {i}]"),),
                            rejected=(Message(role="assistant", content="click[back]"),)) for i in range(2)]
    config = DPOConfig(lr=1e-4, batch_size=2, lora=LoraSettings(r=8), progress=False, device="cpu")
    train_dpo("default", pairs, config, tmp_path / "checkpoint")
    greedy = Sampling(max_new_tokens=8, temperature=0)
    with VLLMBackend.from_pretrained(tmp_path / "checkpoint", dtype="float32", engine_args=FAST_VLLM_START) as llm:
        out = llm.generate([PROMPT], n=1, sampling=greedy)
    expected = TransformersBackend.from_pretrained(tmp_path / "checkpoint").generate([PROMPT], sampling=greedy)
    assert out[0][0].token_ids and out[0][0].text == expected[0][0].text
