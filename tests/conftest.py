"""Shared fixtures: the real tokenizer of the default model and tiny random llama
models built with it (2 layers, hidden 64), so backends and trainers run for
real in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    from agentloop.llm.model_path import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("default"))


from agentloop.llm.tiny import tiny_model  # noqa: E402 (re-exported for the tests)


@pytest.fixture(scope="session")
def make_tiny_model(tokenizer):
    """Factory: `make_tiny_model(seed)` builds a fresh tiny model."""
    return lambda seed=0: tiny_model(tokenizer, seed)


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer, tmp_path_factory) -> Path:
    """A saved tiny model directory (weights + tokenizer + chat template)."""
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and the test machine has two cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
