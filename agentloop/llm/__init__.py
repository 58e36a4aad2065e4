"""The LLM layer: the protocol every backend implements, chat rendering, the
backends (transformers, vLLM, OpenAI-compatible client), packed CPU kernels and
where model weights come from.

    from agentloop.llm import LLM, Sampling, Completion, Score

The protocol's types are re-exported here; backends are imported from their
modules (`agentloop.llm.vllm_backend`, ...) so that importing the protocol
never imports torch, vLLM or openai.
"""

from agentloop.llm.protocol import (
    LLM,
    Completion,
    Prompt,
    Sampling,
    Score,
    as_messages,
    truncate_at_stop,
)

__all__ = ["LLM", "Completion", "Prompt", "Sampling", "Score", "as_messages", "truncate_at_stop"]
