"""Turning config sections into objects: environment, LLM backend, agent, critic.

Classes take plain arguments; these small functions are the only place that
reads config to build them (STYLE.md: config does not intrude into classes).

Example:
    >>> config = load_config("examples/default.yaml")
    >>> env, llm = build_env(config.env), build_llm(config.llm)
    >>> agent = build_agent(config.agent, llm, env)
"""

from __future__ import annotations

from agentloop.agents.protocol import Agent
from agentloop.agents.react import ReActAgent, system_prompt_of
from agentloop.config import (
    AgentConfig,
    ConfigError,
    EnvConfig,
    ImportEnvConfig,
    MazeConfig,
    NegotiationConfig,
    ToolUseConfig,
)
from agentloop.llm.config import LLMConfig, OpenAILLMConfig, TransformersLLMConfig, VLLMConfig
from agentloop.environments.codec import codec_of
from agentloop.environments.protocol import Environment
from agentloop.llm.model_path import resolve_model
from agentloop.llm.protocol import LLM, Sampling
from agentloop.search.conversation import PromptFn


def build_env(config: EnvConfig, agent: AgentConfig | None = None) -> Environment:
    """The environment a config section names (`kind: import`: any class or function by
    import path; a ConfigError names the target when it gives no Environment). With a
    graph agent (`agent.kind: graph`) it is the user's graph acting in that environment,
    paused at each model call (`agentloop.agents.graph_agent`)."""
    if agent is not None and agent.kind == "graph":
        from agentloop.agents.graph_agent import GraphTargetError, build_graph_env

        try:
            return build_graph_env(agent.target, agent.kwargs, lambda: build_env(config))
        except GraphTargetError as error:
            raise ConfigError(f"agent: {error}") from None
    if isinstance(config, ImportEnvConfig):
        from agentloop.environments.factory import EnvTargetError, make_env

        try:
            return make_env(config.target, **config.kwargs)
        except EnvTargetError as error:
            raise ConfigError(f"env: {error}") from None
    if isinstance(config, NegotiationConfig):
        from agentloop.environments.negotiation import NegotiationEnv, ScriptedBargainer

        return NegotiationEnv(role=config.role, opponent=ScriptedBargainer(config.concession),
                              num_tasks=config.num_tasks, max_exchanges=config.max_exchanges,
                              seed=config.seed)
    if isinstance(config, ToolUseConfig):
        from agentloop.environments.tooluse import ToolUseEnv

        return ToolUseEnv(difficulty=config.difficulty, num_tasks=config.num_tasks,
                          max_steps=config.max_steps, seed=config.seed)
    if isinstance(config, MazeConfig):
        from agentloop.environments.maze import MazeEnv

        return MazeEnv(size=config.size, num_tasks=config.num_tasks, max_steps=config.max_steps,
                       seed=config.seed)
    from agentloop.environments.webshop import build_webshop_env

    return build_webshop_env(config)


def build_llm(config: LLMConfig, model: str | None = None) -> LLM:
    """The backend a config section names; `model` overrides its model path (a checkpoint)."""
    reference = model or config.model
    if isinstance(config, TransformersLLMConfig):
        from agentloop.llm.transformers_backend import TransformersBackend

        dtype = "float32" if config.dtype == "auto" else config.dtype
        return TransformersBackend.from_pretrained(resolve_model(reference), dtype=dtype,
                                                   device=config.device, max_rows=config.max_rows)
    if isinstance(config, VLLMConfig):
        from agentloop.llm.vllm_backend import VLLMBackend

        return VLLMBackend.from_pretrained(resolve_model(reference), dtype=config.dtype,
                                           max_model_len=config.max_model_len,
                                           kv_cache_gib=config.kv_cache_gib,
                                           gpu_memory_utilization=config.gpu_memory_utilization,
                                           tensor_parallel_size=config.tensor_parallel_size,
                                           engine_args=dict(config.engine_args),
                                           score_with=config.score_with)
    assert isinstance(config, OpenAILLMConfig)
    import os

    from agentloop.llm.openai_backend import OpenAIBackend

    return OpenAIBackend(config.base_url, model=reference, api_key=os.environ.get(config.api_key_env),
                         tokenizer=config.tokenizer)


def agent_sampling(config: AgentConfig, greedy: bool = False) -> Sampling:
    """The agent's sampling settings (temperature 0 when `greedy`)."""
    return Sampling(temperature=0.0 if greedy else config.temperature, top_p=config.top_p,
                    max_new_tokens=config.max_new_tokens, stop=("\nObservation",))


def build_agent(config: AgentConfig, llm: LLM, env: Environment, training: bool = True) -> Agent:
    """A ReAct agent for `env` (its `system_prompt`, `demonstration` and action codec
    when it has them) on `llm`; for a graph agent, the `GraphAgent` that completes the
    graph's paused model calls (`env` is then `build_env(..., agent=config)`).
    `training=False` (evaluation, search at inference) skips recording the trained
    tokens' log-probs, which only training data needs."""
    if config.kind == "graph":
        from agentloop.agents.graph_search import GraphAgent

        return GraphAgent(llm, sampling=agent_sampling(config))
    return ReActAgent(llm, system_prompt=system_prompt_of(env),
                      demonstration=getattr(env, "demonstration", ()), codec=codec_of(env),
                      max_history=config.max_history, sampling=agent_sampling(config),
                      record_trained=training)


def revision_prompt(config: AgentConfig, max_depth: int, env: Environment) -> PromptFn:
    """The agent's prompt showing every past turn, whatever `config.max_history`: an Agent-R
    revision is one conversation that holds the bad steps it revises (search/revisions.py).
    The longest has a bad path and a good continuation of at most `max_depth` turns each
    (`search.max_depth`) and the revision turn between them."""
    whole = config.model_copy(update={"max_history": max(config.max_history, 2 * max_depth + 1)})
    return build_agent(whole, None, env).prompt


def close_llm(llm: LLM | None) -> None:
    """Release a backend's engine (vLLM's worker processes) if it has one to release."""
    close = getattr(llm, "close", None)
    if callable(close):
        close()
