"""Play the shop in a terminal: as a person typing actions, or watching a scripted player.

This is how to see what an agent sees: the instruction, each observation,
the available actions, and at the end the reward with its breakdown.
`agentloop play webshop` calls `play`.

Example:
    >>> play(num_products=2000, difficulty="medium", agent="expert")   # watch the expert
    >>> play(agent="human")   # type search[...] / click[...]; "quit" stops
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from agentloop.environments.webshop.env import WebShopEnv
from agentloop.environments.webshop.scripted import play_expert, play_random

PLAYERS = ("human", "expert", "random")


def _human(env: WebShopEnv, read: Callable[[], str], write: Callable[[str], None]) -> float:
    while True:
        write("Available: " + ", ".join(env.available_actions()))
        try:
            action = read()
        except EOFError:
            write("(end of input)")
            return 0.0
        if action.strip().lower() in ("quit", "exit", "q"):
            return 0.0
        result = env.step(action)
        write(result.observation)
        if result.terminated or result.truncated:
            if "reward_breakdown" in result.info:
                write("Breakdown: " + json.dumps(result.info["reward_breakdown"]))
            write(f"Episode over: reward {result.reward:.2f}, "
                  f"{'success' if result.info.get('success') else 'no success'}"
                  + (" (out of steps)" if result.truncated else ""))
            return result.reward


def _scripted(env: WebShopEnv, task, agent: str, seed: int, write: Callable[[str], None]) -> float:
    played = play_expert(env, task) if agent == "expert" else play_random(env, task, random.Random(seed))
    # Replay the recorded actions so the observations can be shown one by one.
    env.reset(task)
    for action in played.actions:
        write(f"> {action}")
        write(env.step(action).observation)
    if "reward_breakdown" in played.info:
        write("Breakdown: " + json.dumps(played.info["reward_breakdown"]))
    write(f"Episode over: reward {played.reward:.2f}, {'success' if played.success else 'no success'}")
    return played.reward


def play(num_products: int = 10_000, seed: int = 0, difficulty: str = "easy",
         observation_mode: str = "compact", split: str = "test", task_index: int = 0,
         agent: str = "human", read: Callable[[], str] = input,
         write: Callable[[str], None] = print) -> float:
    """Play one task and return its reward.

    Args:
        num_products, seed, difficulty, observation_mode: as for `WebShopEnv`.
        split, task_index: which task to play.
        agent: "human" (read actions from `read`), "expert" or "random" (watch them).
        read, write: where actions come from and where text goes (the terminal by default).
    """
    if agent not in PLAYERS:
        raise ValueError(f"agent must be one of {', '.join(PLAYERS)}, got {agent!r}")
    env = WebShopEnv(num_products=num_products, seed=seed, difficulty=difficulty,  # type: ignore[arg-type]
                     observation_mode=observation_mode, num_tasks=task_index + 1)  # type: ignore[arg-type]
    tasks = env.tasks(split)
    if task_index >= len(tasks):
        raise ValueError(f"the {split} split of this catalog has only {len(tasks)} tasks")
    task = tasks[task_index]
    write(f"Task {task.id}\nInstruction: {task.instruction}")
    write(env.reset(task))
    if agent == "human":
        return _human(env, read, write)
    return _scripted(env, task, agent, seed, write)
