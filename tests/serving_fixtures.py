"""Fixtures for the server and OpenAI-client tests: a tiny random llama with the
default model's tokenizer (2 layers, hidden 64), served by the real
`agentloop.serve.server` over HTTP on a free port of 127.0.0.1.

Test modules import the fixtures they use: `from serving_fixtures import ...`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

MODEL_NAME = "tiny"

FAST_VLLM_START = {"enforce_eager": True}
"""`engine_args` of the tests' vLLM engines: no torch.compile, so a start takes about 74 s
instead of 186-220 s on two cores (`benchmarks/bench_engine_start.py`). The tests check how
agentloop drives the engine, which vLLM's compiled graphs do not change; the default run
(README) uses them."""
FAST_VLLM_START_OVERRIDES = [f"llm.engine_args.{key}={json.dumps(value)}" for key, value in FAST_VLLM_START.items()]
"""The same as dotted overrides, for a command that reads a run config."""


def save_tiny_model(path: Path) -> Path:
    """A random 2-layer llama with the default model's vocabulary and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from agentloop.llm.model_path import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        # head size 32: the smallest vLLM's CPU attention takes
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="module")
def tiny_llm(tiny_dir):
    from agentloop.llm.transformers_backend import TransformersBackend

    return TransformersBackend.from_pretrained(tiny_dir)


@pytest.fixture(scope="module")
def served(tiny_llm) -> Iterator[tuple[str, object]]:
    """(base URL, the server's Batcher) of the tiny model served in a thread.

    The batching window is wide (50 ms) so that concurrent test requests are
    reliably merged."""
    from agentloop.serve.batcher import Batcher
    from agentloop.serve.server import running_server

    batcher = Batcher(tiny_llm, window_s=0.05)
    with running_server(tiny_llm, MODEL_NAME, tokenizer=tiny_llm.tokenizer, batcher=batcher) as url:
        yield url, batcher


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_command(*args: str, startup_s: float = 300) -> Iterator[str]:
    """Run `agentloop serve ARGS` in a subprocess on a free port; yield its base
    URL once it answers, and stop it (SIGTERM, as Ctrl-C would) on exit.

    The output goes to a file, not a pipe: a pipe nobody reads fills up and
    blocks the server's (and vLLM's engine's) logging. The server runs in its
    own process group, which is killed at the end so no engine process outlives
    the test."""
    port = free_port()
    command = [sys.executable, "-m", "agentloop.cli", "serve", *args, "--port", str(port)]
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + startup_s
            while True:
                try:
                    httpx.get(f"{url}/models", timeout=5).raise_for_status()
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise AssertionError("the server did not start:\n" + log.read().decode()[-5000:])
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
