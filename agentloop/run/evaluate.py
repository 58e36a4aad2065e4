"""Evaluation on held-out tasks: success rate with a 95% interval, mean reward,
mean steps and invalid-action rate, for the greedy policy and for policy + MCTS
(Agent Q's two settings).

The interval is Wilson's score interval, which stays inside [0, 1] and is
sensible at 0 or 50 successes out of 50, where the normal approximation is not.

Example:
    >>> result = evaluate_greedy(env, env.tasks("test")[:50], agent, max_steps=10)
    >>> result.success_rate, result.success_ci95
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

from agentloop.agents.protocol import Agent
from agentloop.environments.protocol import Environment, Task
from agentloop.llm.protocol import Sampling
from agentloop.records import EvalResult, Provenance, Trajectory
from agentloop.run.episodes import run_episodes


def wilson_interval(successes: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default)."""
    if total == 0:
        return (0.0, 1.0)
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarize(trajectories: Sequence[Trajectory], setting: str = "greedy",
              provenance: Provenance | None = None) -> EvalResult:
    """The evaluation figures of finished episodes."""
    total = len(trajectories)
    successes = sum(t.success for t in trajectories)
    steps = sum(t.num_steps for t in trajectories)
    invalid = sum(s.invalid for t in trajectories for s in t.steps)
    return EvalResult(
        setting=setting, num_tasks=total, success_rate=successes / total if total else 0.0,
        success_ci95=wilson_interval(successes, total),
        mean_reward=sum(t.reward for t in trajectories) / total if total else 0.0,
        mean_steps=steps / total if total else 0.0,
        invalid_action_rate=invalid / steps if steps else 0.0,
        provenance=provenance or Provenance(),
    )


def evaluate_greedy(env: Environment, tasks: Sequence[Task], agent: Agent, max_steps: int,
                    sampling: Sampling, output: str | os.PathLike | None = None,
                    provenance: Provenance | None = None, concurrency: int = 64) -> EvalResult:
    """Play every task once with greedy decoding (`sampling.temperature` must be 0)."""
    if sampling.temperature != 0:
        raise ValueError("greedy evaluation needs temperature 0")
    trajectories = run_episodes(env, tasks, agent, max_steps=max_steps, concurrency=concurrency,
                                sampling=sampling, output=output, provenance=provenance)
    return summarize(trajectories, "greedy", provenance)


def evaluate_mcts(env_factory: Callable[[], Environment], tasks: Sequence[Task], agent: Agent,
                  critic, config, provenance: Provenance | None = None) -> EvalResult:
    """Act on every task with search before each step; values from the critic, never
    the test reward, unless `config.value_source == "oracle"` (reported as such)."""
    from agentloop.search import solve_tasks

    results = solve_tasks(env_factory, tasks, agent, critic, config)
    setting = results[0].setting if results else "mcts"
    return summarize([r.trajectory for r in results], setting, provenance)
