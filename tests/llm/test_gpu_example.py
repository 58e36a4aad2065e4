"""The GPU path on one GPU: the vLLM engine gives its memory to the trainer and takes it
back (sleep mode), and `examples/gpu.yaml` runs a round at a tiny budget.

Run only where CUDA is present (marked `gpu`; skipped elsewhere). The model is a tiny
random llama saved in the test (agentloop never downloads weights), so the checks are
about memory and the loop's mechanics, not about what the model learns.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from serving_fixtures import save_tiny_model

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("needs a CUDA GPU", allow_module_level=True)
pytest.importorskip("vllm", reason="needs the vllm package")

from agentloop.llm import Sampling  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.vllm, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gpu.yaml"
GREEDY = Sampling(temperature=0.0, max_new_tokens=16)
PROMPTS = ["Once upon a time", "The shop sells"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory) -> tuple[Path, Path]:
    """Two tiny checkpoints with different random weights (a stand-in for two rounds)."""
    import torch as t

    first = save_tiny_model(tmp_path_factory.mktemp("tiny-a"))
    second = tmp_path_factory.mktemp("tiny-b")
    save_tiny_model(second)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(second)
    with t.no_grad():
        for parameter in model.parameters():
            parameter.add_(t.randn_like(parameter) * 0.5)
    model.save_pretrained(second)
    return first, second


def test_release_frees_the_gpu_and_the_engine_comes_back(model_dirs):
    from agentloop.llm.vllm_backend import VLLMBackend

    first, second = model_dirs
    total = torch.cuda.mem_get_info()[1]
    with VLLMBackend(first, dtype="float32", max_model_len=1024, gpu_memory_utilization=0.4) as llm:
        before = [c[0].token_ids for c in llm.generate(PROMPTS, sampling=GREEDY)]
        free_awake = torch.cuda.mem_get_info()[0]
        llm.release()
        freed = torch.cuda.mem_get_info()[0] - free_awake
        print(f"release freed {freed / 2**30:.1f} GiB of the engine's {0.4 * total / 2**30:.1f} GiB")
        # The KV cache is nearly all of the engine's share; its weights are tiny.
        assert freed > 0.3 * total
        # Woken on the same model: its weights were discarded and are loaded again.
        assert [c[0].token_ids for c in llm.generate(PROMPTS, sampling=GREEDY)] == before
        llm.release()
        llm.load_weights(second)  # the next round's checkpoint, straight into the woken engine
        changed = [c[0].token_ids for c in llm.generate(PROMPTS, sampling=GREEDY)]
        assert changed != before
        llm.load_weights(first)
        assert [c[0].token_ids for c in llm.generate(PROMPTS, sampling=GREEDY)] == before


def test_gpu_example_runs_a_tiny_round(model_dirs, tmp_path):
    first, _ = model_dirs
    overrides = [
        f"llm.model={first}", "llm.max_model_len=2048", "llm.gpu_memory_utilization=0.5",
        "env.num_products=300", "env.num_tasks=8",
        "agent.max_steps=3", "agent.max_new_tokens=16",
        "search.simulations=2", "search.k=2", "search.max_depth=3", "search.max_new_tokens=16",
        # A random model rarely buys well: train on every tree's best path so a round trains.
        "build.best_min_reward=0.0", "build.well_formed_only=false",
        "trainer.sft.epochs=1", "trainer.sft.batch_size=2", "trainer.dpo.batch_size=2",
        "loop.rounds=1", "loop.train_tasks=2", "loop.test_tasks=2", "loop.search_batch=2",
        f"loop.runs_dir={tmp_path}", "loop.name=gpu",
    ]
    done = subprocess.run([sys.executable, "-m", "agentloop.cli", "run", str(EXAMPLE), *overrides],
                          capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "terminate called" not in done.stderr
    run = tmp_path / "gpu"
    assert (run / "round-1" / "checkpoint").is_dir(), "round 1 trained nothing"
    evaluation = json.loads((run / "round-1" / "eval.json").read_text())
    assert "greedy" in evaluation
