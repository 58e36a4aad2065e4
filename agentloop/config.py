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
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentloop.agents.critic import CriticConfig
from agentloop.agents.parsing import well_formed
from agentloop.environments.codec import ActionCodec
from agentloop.environments.negotiation.env import NegotiationConfig
from agentloop.llm.config import LLMConfig, OpenAILLMConfig, TransformersLLMConfig
from agentloop.records import EVAL_SETTINGS
from agentloop.environments.tooluse.env import ToolUseConfig
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


class ImportEnvConfig(Section):
    """Any environment, named by its import path: `target(**kwargs)` is built
    (`agentloop.environments.factory.make_env`). The target is imported when the config
    is loaded, so a wrong path fails before any model starts."""

    kind: Literal["import"] = "import"
    target: str
    """"package.module:Object": a class or function returning an Environment (the module
    must be importable: installed, or on PYTHONPATH)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of the call."""

    @field_validator("target")
    @classmethod
    def _importable(cls, target: str) -> str:
        from agentloop.environments.factory import resolve_target

        resolve_target(target)  # raises EnvTargetError (a ValueError) naming the target
        return target


EnvConfig = Annotated[Union[WebShopConfig, MazeConfig, NegotiationConfig, ToolUseConfig, ImportEnvConfig],
                     Field(discriminator="kind")]


class AgentConfig(Section):
    """The agent and how it samples: agentloop's ReAct agent, or a user's LangGraph graph
    (`agentloop.agents.graph_agent`)."""

    kind: Literal["react", "graph"] = "react"
    """react: the built-in ReAct agent; graph: the LangGraph graph `target` builds, every
    model call of it a step (set `build.well_formed_only: false` unless all its calls
    answer in the ReAct format)."""
    target: str | None = None
    """kind graph: "package.module:build_graph", called as `build_graph(chat_model, env,
    **kwargs)`; it returns the graph (compiled or not)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """kind graph: more keyword arguments of the builder."""
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

    @model_validator(mode="after")
    def _graph_target(self) -> AgentConfig:
        if self.kind == "graph":
            if not self.target:
                raise ValueError("agent.kind 'graph' needs agent.target ('package.module:build_graph')")
            from agentloop.agents.graph_agent import load_builder

            load_builder(self.target)  # a wrong path fails before any model starts
        elif self.target or self.kwargs:
            raise ValueError("agent.target and agent.kwargs are for agent.kind 'graph'")
        return self


class BuildConfig(Section):
    """How finished trees become training data."""

    pairs: PairConfig = Field(default_factory=PairConfig)
    """Agent Q step-level pairs."""
    revisions: RevisionConfig = Field(default_factory=RevisionConfig)
    """Agent-R revision trajectories."""
    best_min_reward: float = 1.0
    """A tree's best path becomes an SFT example when its return reaches this fraction of the
    env's reward range (1.0: the top; rejection sampling)."""
    well_formed_only: bool = True
    """Imitate (train, or choose in a pair) only completions in the ReAct format, a `Thought:`
    line then an `Action:` line; false for agents that write another format."""

    def imitable_with(self, codec: ActionCodec) -> Callable[[str], bool]:
        """Whether a completion may be trained on or chosen, per `well_formed_only`, its
        action read with the env's `codec`."""
        if not self.well_formed_only:
            return lambda completion: True
        return lambda completion: well_formed(completion, codec)


class TrainerConfig(Section):
    """How each round trains: DPO on the step pairs, SFT on revisions/best trajectories."""

    dpo: DPOConfig = Field(default_factory=DPOConfig)
    """Step-level DPO (used when loop.data has "pairs")."""
    sft: SFTConfig = Field(default_factory=SFTConfig)
    """Masked SFT (used when loop.data has "revisions" or "best")."""
    reference: Literal["recorded", "recompute"] = "recorded"
    """DPO's reference log-probs. "recorded": those of the policy that generated the pairs,
    which the agent records for exactly the tokens the trainer scores (the forced "Thought:"
    prefix, the completion without its stop string, the end-of-turn token), as Agent Q's
    off-policy DPO has it: no reference forward before training (pairs without recorded ones,
    e.g. from a TRL file, are scored by the model DPO starts from). The default because the
    numbers are exact (the same tokens, the same model; a float32 test checks 1e-4 per turn)
    and are the generating policy's, which is Agent Q's reference; they are recorded at
    generation whatever this setting (the agent scores the forced prefix once per state, and
    whole only the turns that were cut). With a bfloat16 vLLM engine they carry its rounding.
    "recompute": every pair is
    scored once, before training, by the model DPO starts from (in the loop, after the round's
    SFT stage), e.g. for pairs whose recorded numbers came from another model. Followed by
    the loop, `agentloop train` and `examples/one_round.py`."""


class HeldOutConfig(Section):
    """One more benchmark that every round's model is evaluated on, greedily, beside the run's
    own test tasks (for example BFCL multi-turn after training on the tool world); nothing
    is searched or trained on it."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Its label: the report's column and `round-N/test-trajectories-<name>.jsonl`."""
    env: EnvConfig
    tasks: int = Field(50, gt=0)
    """How many of its test tasks are evaluated (from the first)."""
    max_steps: int | None = Field(None, gt=0)
    """Steps per episode; None: `agent.max_steps`."""

    @field_validator("name")
    @classmethod
    def _not_a_setting(cls, name: str) -> str:
        if name in EVAL_SETTINGS:
            raise ValueError(f"{name!r} names the run's own evaluation; choose another")
        return name


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
    select_hardest: float | None = Field(None, gt=0.0, le=1.0)
    """iTool's deficiency selection: search only this fraction of the round's train tasks, those
    whose ground truth (the env's `solution`) the round's starting model finds least likely
    (perplexity; tool-call and answer-only tasks ranked apart; iTool: 0.3). None searches all."""
    feedback: bool = False
    """Context distillation of AI feedback (ICL-AIF, issue 14): before the search, the round's
    model plays each train task once greedily and, as critic, gives three suggestions on it;
    half of every K candidates are then drawn with that feedback in the task instruction
    (`agents.feedback_agent.FeedbackAgent`), while the data is built under the plain prompt.
    Local search only (not with `scale.workers` over Ray)."""
    held_out: list[HeldOutConfig] = []
    """Further benchmarks evaluated greedily after every round (`HeldOutConfig`)."""
    seed: int = 0
    """Seed of sampling and training."""

    @field_validator("held_out")
    @classmethod
    def _distinct_names(cls, held_out: list[HeldOutConfig]) -> list[HeldOutConfig]:
        names = [h.name for h in held_out]
        if len(set(names)) < len(names):
            raise ValueError(f"loop.held_out names must differ, got {names}")
        return held_out


class ScaleConfig(Section):
    """Collection and evaluation spread over Ray (`agentloop.run.distributed`): engine actors
    serve the model, search workers play their shard of the tasks against them. The run
    directory must be on storage every node sees (workers write trees there, engines read
    the round's checkpoint from there)."""

    engines: int = Field(1, gt=0, le=1024)
    """Engine actors, each holding one LLM backend (one vLLM engine) behind a batcher."""
    gpus_per_engine: float = Field(0.0, ge=0.0, le=64.0)
    """GPUs reserved per engine actor (0 on CPU); with tensor parallelism set it to
    `tensor_parallel_size`."""
    cpus_per_engine: float = Field(1.0, ge=0.0, le=1024.0)
    """CPUs reserved per engine actor (Ray keeps an actor's CPUs for its lifetime, so
    `engines` x this must fit the cluster; 0 lets stand-in engines share CPUs)."""
    tensor_parallel_size: int = Field(1, gt=0, le=64)
    """GPUs one engine shards its model over (vLLM tensor parallelism); above 1 the engine's
    GPUs are reserved as a placement group of one-GPU bundles on one node."""
    workers: int = Field(2, gt=0, le=4096)
    """Search / evaluation workers; tasks are sharded over them, worker i calls engine
    i mod `engines`."""
    train_processes: int = Field(1, gt=0, le=1024)
    """Processes each round trains in, started on the driver's node by `accelerate launch`
    (one per GPU; gloo on CPU); each runs its share of every step's micro-batches
    (`agentloop.trainers.parallel`). 1 trains in the loop's own process."""
    address: str = "local"
    """Ray cluster: "local" starts one in this process, "auto" joins the cluster `ray start
    --head` made on this node, or a "host:port" / "ray://host:port" address."""
    num_cpus: int | None = Field(None, gt=0)
    """CPUs a "local" cluster may use (None: all)."""

    @model_validator(mode="after")
    def _tensor_parallel_gpus(self) -> ScaleConfig:
        if self.tensor_parallel_size > 1 and self.gpus_per_engine < self.tensor_parallel_size:
            raise ValueError("scale.gpus_per_engine must cover scale.tensor_parallel_size")
        return self


class SelfPlayConfig(Section):
    """Games between two agents (`agentloop selfplay`, `agentloop icl-aif`) in a two-player env."""

    seller_model: str | None = None
    """The seller's model ("default", a checkpoint directory); None: `llm.model`."""
    buyer_model: str | None = None
    """The buyer's model; None: `llm.model`."""
    games: int = Field(100, gt=0)
    """Games played (`selfplay`) or experiments per feedback mode (`icl-aif`), from the first
    test tasks."""
    max_turns: int = Field(20, gt=0)
    """Moves per game, both roles together, before it is cut off."""
    greedy: bool = True
    """Greedy decoding for both players (else `agent.temperature`)."""
    replays: int = Field(5, gt=0)
    """ICL-AIF: games per experiment (the first plus replays with feedback)."""


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
    selfplay: SelfPlayConfig = Field(default_factory=SelfPlayConfig)
    scale: ScaleConfig | None = None
    """Spread collection and evaluation over a Ray cluster; None runs in one process."""

    def check_trainable(self) -> None:
        """Raise ConfigError if the round loop cannot train this config's model.

        An OpenAI-compatible server keeps serving the model it started with: after round 1
        the loop would ask it for a checkpoint it cannot see. `agentloop rollout` and
        `agentloop search` use such a server fine; only the loop (which trains every round)
        needs a backend that loads the new checkpoint."""
        if isinstance(self.llm, OpenAILLMConfig):
            raise ConfigError(
                "llm.kind=openai cannot run the training loop: every round trains a new "
                "checkpoint here, and the server at llm.base_url would keep serving the model it "
                "was started with. Use llm.kind=vllm or llm.kind=transformers with a local "
                "model for `agentloop run`; to use a server, serve a checkpoint yourself "
                "(`agentloop serve runs/NAME/round-K/checkpoint`) and point `agentloop rollout` "
                "or `agentloop search` at it.")


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
