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


def tiny_model(tokenizer, seed: int = 0):
    """A random 2-layer llama with the default model's vocabulary, in float32."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).float().eval()


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
