"""RunConfig: YAML, dotted overrides, unknown keys named, every shipped YAML valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentloop.config import ConfigError, dump_config, load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("search:\n  simulations: 4\nllm:\n  dtype: bfloat16\n")
    config = load_config(path, ["search.simulations=32", "env.kind=maze", "env.size=9",
                                "loop.data=[pairs, revisions]", "trainer.dpo.beta=0.2"])
    assert config.search.simulations == 32
    assert config.llm.kind == "transformers" and config.llm.dtype == "bfloat16"
    assert config.env.kind == "maze" and config.env.size == 9
    assert config.loop.data == ["pairs", "revisions"]
    assert config.trainer.dpo.beta == 0.2


@pytest.mark.parametrize("override,message", [
    ("search.simulatoins=3", "unknown key 'search.simulatoins'"),
    ("nosuch.key=1", "unknown key 'nosuch'"),
    ("env.kind=maze env.num_products=5", "unknown key 'env.num_products'"),
    ("trainer.dpo.lr=fast", "trainer.dpo.lr"),
    ("search.simulations=0", "search.simulations"),
    ("env.kind=moon", "'moon'"),
    ("search", "section.key=value"),
])
def test_bad_configs_name_the_problem(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_config(None, override.split(" "))


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_dumped_config_loads_back_equal(tmp_path):
    config = load_config(None, ["env.kind=maze", "search.k=3"])
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(config))
    assert load_config(path) == config


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_yaml_validates(path):
    load_config(path)


def test_vllm_section_takes_gpu_memory_parallelism_and_engine_args():
    config = load_config(None, ["llm.kind=vllm", "llm.gpu_memory_utilization=0.5", "llm.tensor_parallel_size=2",
                                "llm.engine_args={enforce_eager: true, max_num_seqs: 8}"])
    assert (config.llm.gpu_memory_utilization, config.llm.tensor_parallel_size) == (0.5, 2)
    assert config.llm.engine_args == {"enforce_eager": True, "max_num_seqs": 8}
    for bad in ("llm.gpu_memory_utilization=1.5", "llm.tensor_parallel_size=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0].replace(".", r"\.")):
            load_config(None, ["llm.kind=vllm", bad])
    # A key one of the section's own fields (or agentloop) sets is refused, naming that field.
    with pytest.raises(ConfigError, match=r"llm\.engine_args.*'max_model_len' \(set by llm\.max_model_len\)"):
        load_config(None, ["llm.kind=vllm", "llm.engine_args={max_model_len: 512}"])


def test_gpu_example_sizes_its_engine():
    config = load_config(EXAMPLES / "gpu.yaml")
    assert config.llm.kind == "vllm" and 0 < config.llm.gpu_memory_utilization < 1
    assert config.llm.tensor_parallel_size == 1 and config.llm.engine_args


def test_openai_backend_is_refused_for_training_only():
    config = load_config(None, ["llm.kind=openai"])  # rollout and search take it
    with pytest.raises(ConfigError, match="llm.kind=openai cannot run the training loop") as error:
        config.check_trainable()
    assert "agentloop serve" in str(error.value) and "llm.kind=vllm" in str(error.value)
    load_config(None, ["llm.kind=vllm"]).check_trainable()
    load_config(None).check_trainable()


def test_agentloop_run_refuses_openai_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from agentloop.cli import app

    result = CliRunner().invoke(app, ["run", "llm.kind=openai", f"loop.runs_dir={tmp_path}"])
    assert result.exit_code == 2
    assert "llm.kind=openai cannot run the training loop" in result.output
    assert not any(tmp_path.iterdir()), "a run directory was made"
