"""The negotiation workflows from a run config: self-play games between two agents, and
ICL-AIF experiments (`agentloop selfplay`, `agentloop icl-aif`).

Both read the `env` section (it must be `kind: negotiation`), the `llm` section
(backend and dtype; `selfplay.seller_model` / `selfplay.buyer_model` may name
another model or checkpoint per role) and the `selfplay` section, and write
under `output`: `games.jsonl` (one trajectory per role per game) and
`summary.json`, or `icl-aif.sqlite` (the graph's checkpoints) and `icl-aif.json`.

Example:
    >>> summary = selfplay_from_config(load_config("examples/negotiation.yaml"), Path("sp"))
    >>> summary.deal_rate, summary.mean_price
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from agentloop.config import ConfigError, NegotiationConfig, RunConfig
from agentloop.environments.negotiation import NegotiationEnv
from agentloop.llm.protocol import LLM
from agentloop.run.from_config import agent_sampling, build_agent, build_llm, close_llm
from agentloop.run.icl_aif import feedback_table, run_experiments
from agentloop.run.selfplay import GameSummary, play_games, summarize_games


def _negotiation(config: RunConfig) -> NegotiationConfig:
    if not isinstance(config.env, NegotiationConfig):
        raise ConfigError(f"self-play needs env.kind=negotiation, not {config.env.kind!r}")
    return config.env


def _game(env: NegotiationConfig, role: str | None = None) -> NegotiationEnv:
    """The two-player game (no rival inside `step`), or a role's view of it for its prompt."""
    return NegotiationEnv(role=role or env.role, opponent=None, num_tasks=env.num_tasks,
                          max_exchanges=env.max_exchanges, seed=env.seed)


def _models(config: RunConfig) -> dict[str, str]:
    play = config.selfplay
    return {"seller": play.seller_model or config.llm.model, "buyer": play.buyer_model or config.llm.model}


def selfplay_from_config(config: RunConfig, output: Path) -> GameSummary:
    """Play `selfplay.games` test games between the two configured agents; write the games
    and the summary under `output` and return the summary."""
    env_config = _negotiation(config)
    output.mkdir(parents=True, exist_ok=True)
    env = _game(env_config)
    models = _models(config)
    llms: dict[str, LLM] = {}
    try:
        for model in dict.fromkeys(models.values()):
            llms[model] = build_llm(config.llm, model)
        agents = {role: build_agent(config.agent, llms[models[role]], _game(env_config, role), training=False)
                  for role in env.roles}
        sampling = agent_sampling(config.agent, greedy=config.selfplay.greedy)
        games = play_games(env, env.tasks("test")[: config.selfplay.games], agents,
                           config.selfplay.max_turns, {role: sampling for role in env.roles},
                           output=output / "games.jsonl")
    finally:
        for llm in llms.values():
            close_llm(llm)
    summary = summarize_games(games)
    (output / "summary.json").write_text(json.dumps({"models": models, **summary.model_dump(mode="json")},
                                                    indent=2))
    return summary


def icl_aif_from_config(config: RunConfig, output: Path, modes: list[str],
                        progress: Callable[[int, int], None] | None = None) -> dict:
    """ICL-AIF experiments on the first `selfplay.games` test tasks, each mode; the table
    per game index is written to `output/icl-aif.json` and returned. Rerunning resumes."""
    env_config = _negotiation(config)
    output.mkdir(parents=True, exist_ok=True)
    tasks = _game(env_config).tasks("test")[: config.selfplay.games]
    llm = build_llm(config.llm, config.llm.model)
    try:
        results = asyncio.run(run_experiments(llm, tasks, modes, config.selfplay.replays,
                                              output / "icl-aif.sqlite", env_config.max_exchanges,
                                              progress))
    finally:
        close_llm(llm)
    table = feedback_table(results, config.selfplay.replays)
    (output / "icl-aif.json").write_text(json.dumps(table, indent=2))
    return table
