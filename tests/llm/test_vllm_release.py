"""How VLLMBackend gives the GPU to the trainer and takes it back, and how the round
loop uses it: on a recording stand-in for `vllm.LLM`, so the order of engine calls is
checked without a GPU (the real engine is in tests/llm/test_gpu_example.py, `gpu`).

The stand-in replaces `VLLMBackend._start` and the two platform questions (is sleep
mode available, is this an accelerator); everything else is the backend's own code.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from agentloop.llm import vllm_backend
from agentloop.llm.vllm_backend import VLLMBackend, check_engine_args


class RecordingEngine:
    """Answers the `vllm.LLM` methods VLLMBackend calls and records them in `log`."""

    def __init__(self, log: list, path: Path, sleep_mode: bool):
        self.log, self.path = log, path
        self.llm_engine = SimpleNamespace(
            vllm_config=SimpleNamespace(model_config=SimpleNamespace(enable_sleep_mode=sleep_mode)),
            engine_core=SimpleNamespace(shutdown=lambda timeout: log.append(("shutdown", path.name))))

    def sleep(self, level: int) -> None:
        self.log.append(("sleep", level))

    def wake_up(self, tags: list[str]) -> bool:
        self.log.append(("wake_up", tuple(tags)))
        return tags == ["kv_cache"]  # fully awake once the KV cache is back

    def collective_rpc(self, method: str, args: tuple = ()) -> None:
        self.log.append((method, *(Path(arg).name for arg in args)))

    def reset_prefix_cache(self) -> None:
        self.log.append(("reset_prefix_cache",))


@pytest.fixture
def make_backend(tiny_model_dir, tmp_path, monkeypatch):
    """Factory: `make_backend(accelerator, sleep_mode)` -> (backend, call log); two
    checkpoints `tmp_path/a` and `tmp_path/b` exist for `load_weights`."""
    for name in ("a", "b"):
        (tmp_path / name).symlink_to(tiny_model_dir, target_is_directory=True)

    def make(accelerator: bool, sleep_mode: bool):
        log: list = []
        monkeypatch.setattr(vllm_backend, "_on_accelerator", lambda: accelerator)
        monkeypatch.setattr(vllm_backend, "_sleep_mode_available", lambda: sleep_mode)

        def start(self, path):
            log.append(("start", Path(path).name))
            return RecordingEngine(log, Path(path), sleep_mode)

        monkeypatch.setattr(VLLMBackend, "_start", start)
        return VLLMBackend(tmp_path / "a"), log

    return make


def test_on_a_gpu_the_engine_sleeps_and_wakes_on_the_new_checkpoint(make_backend, tmp_path):
    llm, log = make_backend(accelerator=True, sleep_mode=True)
    engine = llm.engine
    llm.release()
    llm.release()  # a second release is a no-op
    assert log == [("start", "a"), ("sleep", 2)]
    log.clear()
    llm.load_weights(tmp_path / "b")
    # Weights first, loaded from the new checkpoint, then the KV cache: never both at once.
    assert log == [("wake_up", ("weights",)), ("agentloop_reload", "b"), ("reset_prefix_cache",),
                   ("wake_up", ("kv_cache",))]
    assert llm.engine is engine and llm.path.name == "b"
    log.clear()
    assert llm._awake() is engine and log == []  # awake: nothing more to do


def test_a_released_engine_used_on_the_same_model_reloads_its_weights(make_backend):
    # Level-2 sleep discards the weights: a phase on the same model must load them again.
    llm, log = make_backend(accelerator=True, sleep_mode=True)
    llm.release()
    log.clear()
    llm._awake()  # what generate and score call first
    assert log == [("wake_up", ("weights",)), ("agentloop_reload", "a"), ("reset_prefix_cache",),
                   ("wake_up", ("kv_cache",))]


def test_without_sleep_mode_the_engine_closes_and_restarts(make_backend, tmp_path):
    llm, log = make_backend(accelerator=True, sleep_mode=False)
    llm.release()
    # Closed: the workers drop their process groups, then the engine core stops.
    assert log == [("start", "a"), ("agentloop_teardown",), ("shutdown", "a")] and llm.engine is None
    llm.load_weights(tmp_path / "b")
    assert log[-1] == ("start", "b") and llm.engine.path.name == "b"  # started once, on b
    llm.close()
    llm.close()  # a second close does nothing
    assert log[-2:] == [("agentloop_teardown",), ("shutdown", "b")]
    with pytest.raises(RuntimeError, match="closed"):
        llm._awake()  # closed for good is not released


def test_on_cpu_the_engine_stays_up_and_reloads_in_place(make_backend, tmp_path):
    llm, log = make_backend(accelerator=False, sleep_mode=False)
    llm.release()
    llm.load_weights(tmp_path / "b")
    assert log == [("start", "a"), ("agentloop_reload", "b"), ("reset_prefix_cache",)]


def test_engine_args_that_agentloop_sets_are_refused(make_backend):
    check_engine_args({"enforce_eager": True, "max_num_seqs": 8})
    with pytest.raises(ValueError, match=r"'dtype' \(set by llm.dtype\).*'seed'"):
        check_engine_args({"dtype": "float16", "enforce_eager": True, "seed": 3})
    with pytest.raises(ValueError, match="tensor_parallel_size"):
        VLLMBackend("unused", engine_args={"tensor_parallel_size": 2})


# -- the round loop: the trainer never runs beside an awake engine ---------------------


class SpyLLM:
    """A backend double that records release/load_weights; `awake` is False after release."""

    def __init__(self, device: str | None = None):
        self.events: list[str] = []
        self.awake = True
        if device is not None:
            self.device = torch.device(device)

    def release(self) -> None:
        self.events.append("release")
        self.awake = False

    def load_weights(self, path: str) -> None:
        self.events.append(f"load {Path(path).name}")
        self.awake = True


def _session(tmp_path: Path):
    from agentloop.config import parse_config
    from agentloop.run.rounds import Session
    from agentloop.run.rundir import RunDir

    config = parse_config({"env": {"kind": "maze", "size": 5, "num_tasks": 4},
                           "loop": {"runs_dir": str(tmp_path), "train_tasks": 2, "rounds": 1}})
    run = RunDir.open(config)
    run.set_model(0, "start-model")
    return Session(config, run)


def test_train_phase_releases_the_engine_before_training(tmp_path, monkeypatch):
    from agentloop.run import rounds
    from agentloop.trainers import sft

    session = _session(tmp_path)
    spy = SpyLLM()
    session._llm, session._model = spy, "start-model"
    out = session.run.round_dir(1)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("pairs", "revisions", "best"):
        (out / f"{name}.jsonl").write_text("")
    monkeypatch.setattr(rounds, "read_jsonl", lambda path, kind: ["example"] if path.name == "best.jsonl" else [])
    seen = []

    def fake_train(model, data, config, partial):
        seen.append(spy.awake)
        Path(partial).mkdir(parents=True)
        return SimpleNamespace(logs=[{"loss": 0.5}])

    monkeypatch.setattr(sft, "train_sft", fake_train)
    rounds.train_phase(session, 1)
    assert seen == [False], "the trainer ran while the engine held the GPU"
    assert spy.events == ["release"]
    checkpoint = session.run.model_of(1)
    assert Path(checkpoint) == out / "checkpoint"
    assert session.llm(checkpoint) is spy and spy.events == ["release", "load checkpoint"]


def test_a_transformers_model_on_a_gpu_is_dropped_for_training(tmp_path, monkeypatch):
    from agentloop.run import rounds

    session = _session(tmp_path)
    on_gpu = SimpleNamespace(device=torch.device("cuda"))
    session._llm, session._model = on_gpu, "start-model"
    session.release()
    assert session._llm is None
    built = []
    monkeypatch.setattr(rounds, "build_llm", lambda config, model: built.append(model) or "new")
    assert session.llm("start-model") == "new" and built == ["start-model"]
    on_cpu = SimpleNamespace(device=torch.device("cpu"))
    session._llm = on_cpu
    session.release()
    assert session._llm is on_cpu  # on CPU the model stays loaded
