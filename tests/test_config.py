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
