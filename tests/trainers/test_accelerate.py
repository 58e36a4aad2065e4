"""Data-parallel SFT and DPO under `accelerate launch` on 2 CPU processes (gloo), started as
the round loop starts them (`train_in_processes`), replicated (DDP) or sharded (FSDP), follow
the same loss curve and end at the same weights as one process over the same global batches;
a sharded run that crashed resumes from its last saved state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from agentloop.trainers.parallel import DataParallel
from agentloop.trainers.training import _merge
from safetensors.torch import load_file

SCRIPT = """
import sys
from pathlib import Path
from agentloop.records import Message, PreferencePair, RevisionTrajectory
from agentloop.trainers.config import DPOConfig, SFTConfig
from agentloop.trainers.dpo import train_dpo
from agentloop.trainers.sft import train_sft

from agentloop.trainers.parallel import train_in_processes

model, out, kind, processes = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
fsdp, crash = sys.argv[5] == "fsdp", sys.argv[6] == "crash"
# 3 micro-batches a step: the two ranks get 2 and 1 of them, the uneven case
common = dict(batch_size=1, grad_accum=3, epochs=2, lr=1e-3, warmup_ratio=0.0, device="cpu",
              progress=False, save_every=2, seed=0, fsdp=fsdp)
if crash:  # (a rank under accelerate launch) the main process dies after saving step 2 of 4
    from agentloop.trainers import training
    real_save = training.save_state
    def save_then_crash(*args):
        real_save(*args)
        raise SystemExit("simulated crash")
    training.save_state = save_then_crash
if kind == "sft":
    records = [RevisionTrajectory(
        messages=(Message(role="user", content=f"Task {i}: buy a lamp number {i}."),
                  Message(role="assistant", content=f"search[lamp {i}]")),
        train=(False, True), kind="good") for i in range(6)]
    if processes == 1:
        train_sft(model, records, SFTConfig(**common), out)
    else:
        train_in_processes("sft", model, records, SFTConfig(**common), out, processes)
else:
    pairs = [PreferencePair(prompt=[Message(role="user", content=f"Task {i}: buy lamp {i}.")],
                            chosen=[Message(role="assistant", content=f"search[lamp {i}]")],
                            rejected=[Message(role="assistant", content=f"click[chair {i}]")])
             for i in range(6)]
    if processes == 1:
        train_dpo(model, pairs, DPOConfig(**common), out)
    else:
        train_in_processes("dpo", model, pairs, DPOConfig(**common), out, processes)
"""


def train(tmp_path: Path, model: Path, kind: str, processes: int, mode: str = "ddp",
          crash: bool = False) -> Path:
    out = tmp_path / f"{kind}-{processes}-{mode}"
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    # 2 processes: the script asks the round loop's launcher (accelerate launch) for them;
    # a crash must happen inside the ranks, so the test launches the script on each rank itself
    # (where it trains as "one process" of the launched two)
    command = [sys.executable, str(script), str(model), str(out), kind, str(processes), mode, "-"]
    if crash:
        launcher = str(Path(sys.executable).parent / "accelerate")
        command = [launcher, "launch", "--num_processes", str(processes), "--num_machines", "1", "--cpu",
                   "--mixed_precision", "no", "--dynamo_backend", "no",
                   str(script), str(model), str(out), kind, "1", mode, "crash"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert (done.returncode != 0) == crash, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, tiny_model_dir):
    """The one-process run of each kind, trained once for the module."""
    runs: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in runs:
            runs[kind] = train(tmp_path_factory.mktemp("one"), tiny_model_dir, kind, 1)
        return runs[kind]
    return get


def assert_same_training(one: Path, two: Path) -> None:
    a, b = curve(one), curve(two)
    assert len(a) == len(b) == 4  # 6 examples / 3 micro-batches a step x 2 epochs
    assert [e["examples"] for e in b] == [3, 3, 3, 3]  # both ranks' examples are counted
    for x, y in zip(a, b):
        assert y["loss"] == pytest.approx(x["loss"], rel=1e-4, abs=1e-5)
        assert y["grad_norm"] == pytest.approx(x["grad_norm"], rel=1e-4, abs=1e-5)
    assert a[-1]["loss"] != a[0]["loss"]  # it trained
    first, second = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(second[name], first[name], rtol=1e-4, atol=1e-5)


def curve(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
@pytest.mark.parametrize("kind", ["sft", "dpo"])
def test_two_processes_follow_the_one_process_curve(tmp_path, tiny_model_dir, one_process, kind, mode):
    assert_same_training(one_process(kind), train(tmp_path, tiny_model_dir, kind, 2, mode))


@pytest.mark.slow
def test_a_sharded_run_that_crashed_resumes_from_its_last_state(tmp_path, tiny_model_dir, one_process):
    crashed = train(tmp_path, tiny_model_dir, "sft", 2, "fsdp", crash=True)
    assert json.loads((crashed / "training_state/latest.json").read_text())["step"] == 2
    assert not (crashed / "model.safetensors").exists()
    resumed = train(tmp_path, tiny_model_dir, "sft", 2, "fsdp")
    assert not (resumed / "training_state").exists()
    assert_same_training(one_process("sft"), resumed)


def test_fsdp_refuses_lora_with_a_reason():
    from agentloop.trainers.config import LoraSettings, SFTConfig

    with pytest.raises(ValueError, match="fsdp with lora is not supported"):
        SFTConfig(fsdp=True, lora=LoraSettings())


def test_one_process_takes_every_micro_batch_and_changes_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    parallel = DataParallel.from_environment("cpu")
    assert (parallel.world_size, parallel.is_main, parallel.state) == (1, True, None)
    assert parallel.share([1, 2, 3]) == [1, 2, 3]
    weight = torch.nn.Parameter(torch.ones(2))
    weight.grad = torch.tensor([1.0, 2.0])
    parallel.sum_gradients([weight])
    assert weight.grad.tolist() == [1.0, 2.0]
    assert parallel.gather("x") == ["x"]


def test_rank_shares_cover_the_step_once_and_merge_back():
    micro = list(range(5))
    shares = [DataParallel(world_size=2, rank=r).share(micro) for r in (0, 1)]
    assert shares == [[0, 2, 4], [1, 3]]
    # sharded training: the rank with fewer micro-batches makes up the passes it lacks
    assert [DataParallel(world_size=2, rank=r).idle(micro) for r in (0, 1)] == [[], [0]]
    assert DataParallel(world_size=4, rank=3).idle([7, 8]) == [7]
    merged = _merge([([0.5, 0.7], {"acc": [torch.tensor([1.0])]}, 2),
                     ([0.1], {"acc": [torch.tensor([0.0])]}, 1)])
    assert merged[0] == [0.5, 0.7, 0.1] and merged[2] == 3
    assert [float(t) for t in merged[1]["acc"]] == [1.0, 0.0]
