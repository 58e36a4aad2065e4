"""A tiny random model with the default model's tokenizer, for smoke tests.

Every backend and trainer runs on it for real in seconds; what it writes is
noise. Examples take it with `--tiny`, and the tests build theirs the same way.

Example:
    >>> path = save_tiny_model(Path("/tmp/tiny"))       # then llm.model=/tmp/tiny
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_model(tokenizer: Any, seed: int = 0) -> Any:
    """A random 2-layer llama (hidden 64) over `tokenizer`'s vocabulary, in float32, eval mode."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).float().eval()


def save_tiny_model(directory: Path, seed: int = 0) -> Path:
    """Save a tiny model and the default tokenizer (with its chat template) to `directory`."""
    from transformers import AutoTokenizer

    from agentloop.llm.model_path import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    tiny_model(tokenizer, seed).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
