"""Self-play: many games between two agents at once, one batched call per role per wave.

The environment is a two-player game (`current_role()` says whose turn it is;
e.g. `NegotiationEnv(opponent=None)`). All games share one environment object
through snapshot/restore, as in the episode runner. Each wave asks each role's
agent for one move in every live game where it is that role's turn, in a
single `propose` call. Each role sees only its own observations and its own
completions, under its own system prompt and instruction (`env.instruction(task,
role)`): its agent is built for that role.

Every game is written as one trajectory per role (that role's turns trainable,
the other's only as the observations it read), with the role's own reward
(`info["rewards"][role]`), so the builders and trainers take either side.

Example:
    >>> games = play_games(env, env.tasks("test")[:100], {"seller": seller, "buyer": buyer})
    >>> summary = summarize_games(games)
    >>> summary.deal_rate, summary.mean_price
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentloop.agents.protocol import Agent, AgentState, invalid_turn
from agentloop.environments.protocol import Environment, Task
from agentloop.jsonl import JsonlWriter
from agentloop.llm.protocol import Sampling
from agentloop.records import Message, Provenance, Step, Trajectory
from agentloop.run.evaluate import wilson_interval


@dataclass
class Game:
    """One game in progress or finished: the env's state and each role's view."""

    task: Task
    env_state: Any
    states: dict[str, AgentState]
    steps: dict[str, list[Step]]
    info: dict = field(default_factory=dict)
    over: bool = False
    truncated: bool = False

    @property
    def moves(self) -> int:
        return sum(len(steps) for steps in self.steps.values())


class GameSummary(BaseModel):
    """Deal rate, mean deal price and mean reward per role, with 95% intervals."""

    model_config = ConfigDict(frozen=True)

    games: int
    deals: int
    deal_rate: float
    deal_rate_ci95: tuple[float, float]
    mean_price: float | None
    """Mean price over the games that ended in a deal."""
    mean_price_ci95: tuple[float, float] | None
    mean_reward: dict[str, float]
    """Per role, counting a game without a deal as 0."""
    mean_reward_ci95: dict[str, tuple[float, float]]
    invalid_rate: dict[str, float]


def play_games(env: Environment, tasks: Sequence[Task], agents: Mapping[str, Agent],
               max_turns: int = 20, sampling: Mapping[str, Sampling] | None = None,
               output: str | os.PathLike | None = None,
               provenance: Provenance | None = None) -> list[Game]:
    """Play one game per task between `agents` (one per role of `env.roles`).

    Args:
        env: a two-player environment with `roles`, `current_role()` and `instruction(task, role)`.
        tasks: one game each.
        agents: the agent of each role (built with that role's system prompt).
        max_turns: moves per game (both roles together) before it is cut off.
        sampling: per-role sampling (None: each agent's default).
        output: JSONL file that receives both roles' trajectories of each game as it ends.
        provenance: run/round written on every trajectory.
    """
    missing = set(env.roles) - set(agents)
    if missing:
        raise ValueError(f"no agent for role(s) {sorted(missing)}; the game's roles are {env.roles}")
    sampling = sampling or {}
    games = [_start(env, task) for task in tasks]
    writer = JsonlWriter(output) if output is not None else None
    try:
        while live := [g for g in games if not g.over and g.moves < max_turns]:
            for role in env.roles:
                turn = [g for g in live if g.info["role"] == role and not g.over and g.moves < max_turns]
                if not turn:
                    continue
                proposals = agents[role].propose([g.states[role] for g in turn], k=1,
                                                 sampling=sampling.get(role))
                for game, (proposal,) in zip(turn, proposals, strict=True):
                    _move(env, game, role, proposal)
                    if game.over and writer:
                        for record in game_trajectories(game, agents, provenance):
                            writer.write(record)
        for game in games:
            if not game.over:
                game.over = game.truncated = True
                if writer:
                    for record in game_trajectories(game, agents, provenance):
                        writer.write(record)
    finally:
        if writer:
            writer.close()
    return games


def _start(env: Environment, task: Task) -> Game:
    observation = env.reset(task)
    states = {role: AgentState(env.instruction(task, role), observation, role=role) for role in env.roles}
    game = Game(task, env.snapshot(), states, {role: [] for role in env.roles})
    game.info["role"] = env.current_role()
    return game


def _move(env: Environment, game: Game, role: str, proposal) -> None:
    env.restore(game.env_state)
    result = env.step(proposal.action)
    game.env_state = env.snapshot()
    state = game.states[role]
    game.steps[role].append(Step(observation=state.observation, completion=proposal.completion,
                                 action=proposal.action, token_ids=proposal.token_ids,
                                 logprobs=proposal.logprobs, reward=result.reward,
                                 invalid=invalid_turn(proposal, result.info), role=role))
    game.states[role] = state.then(proposal.completion, result.observation)
    if not result.info.get("invalid"):
        # The other role reads the same page next: the dialogue is public to both.
        nxt = env.current_role()
        if nxt != role:
            game.states[nxt] = AgentState(game.states[nxt].instruction, result.observation,
                                          game.states[nxt].history, nxt)
    game.info = {**result.info, "role": env.current_role()}
    game.over = result.terminated or result.truncated
    game.truncated = result.truncated


def game_trajectories(game: Game, agents: Mapping[str, Agent],
                      provenance: Provenance | None = None) -> list[Trajectory]:
    """One trajectory per role: its own turns, its own reward, its last prompt and completion."""
    provenance = (provenance or Provenance()).model_copy(update={"task_id": game.task.id})
    rewards = game.info.get("rewards", {})
    records = []
    for role, steps in game.steps.items():
        messages: tuple[Message, ...] = ()
        if steps:
            before = game.states[role].history[:-1]
            last = AgentState(game.states[role].instruction, steps[-1].observation, before, role)
            messages = (*agents[role].prompt(last), Message(role="assistant", content=steps[-1].completion))
        records.append(Trajectory(
            task_id=game.task.id, instruction=game.states[role].instruction, role=role, steps=tuple(steps),
            reward=float(rewards.get(role, 0.0)), success=bool(game.info.get("deal")),
            terminated=game.over and not game.truncated, truncated=game.truncated,
            provenance=provenance, messages=messages))
    return records


def _mean_ci(values: Sequence[float]) -> tuple[float, tuple[float, float]]:
    """The mean and its normal-approximation 95% interval."""
    mean = statistics.fmean(values)
    half = 1.959964 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, (mean - half, mean + half)


def summarize_games(games: Sequence[Game], roles: Sequence[str] = ("seller", "buyer")) -> GameSummary:
    """Deal rate (Wilson interval), mean deal price and per-role mean reward (normal intervals)."""
    if not games:
        raise ValueError("no games to summarize")
    prices = [g.info["price"] for g in games if g.info.get("deal") and g.info.get("price") is not None]
    rewards = {r: [float(g.info.get("rewards", {}).get(r, 0.0)) for g in games] for r in roles}
    price, price_ci = _mean_ci(prices) if prices else (None, None)
    turns = {r: [s for g in games for s in g.steps[r]] for r in roles}
    return GameSummary(
        games=len(games), deals=len(prices), deal_rate=len(prices) / len(games),
        deal_rate_ci95=wilson_interval(len(prices), len(games)), mean_price=price,
        mean_price_ci95=price_ci,
        mean_reward={r: _mean_ci(v)[0] for r, v in rewards.items()},
        mean_reward_ci95={r: _mean_ci(v)[1] for r, v in rewards.items()},
        invalid_rate={r: sum(s.invalid for s in t) / len(t) if t else 0.0 for r, t in turns.items()})
