"""Scripted players: an expert that knows the task's target, and a random player.

Both act only through the Environment interface (reset, step,
available_actions), so they also test that interface. The expert reads
`task.data` (the target id and the query the task was checked against) and
must reach reward 1.0 on every task: a task where it does not is a bug in task
generation, search or reward. The random player is the floor to compare
learned agents with (WebShop, Yao et al. 2022, table 2, reports rule and
imitation baselines; random play is ours).

Example:
    >>> env = WebShopEnv(num_products=2000)
    >>> task = env.tasks("test")[0]
    >>> play_expert(env, task).reward
    1.0
    >>> play_random(env, task, random.Random(0)).reward
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agentloop.environments.protocol import Environment, StepResult, Task


@dataclass(frozen=True)
class PlayResult:
    """How a scripted episode went."""

    actions: tuple[str, ...]
    reward: float
    success: bool
    terminated: bool
    truncated: bool
    info: dict = field(default_factory=dict)
    """The last step's info (the reward breakdown when something was bought)."""


def _finish(actions: list[str], last: StepResult | None) -> PlayResult:
    if last is None:
        return PlayResult(tuple(actions), 0.0, False, False, False)
    return PlayResult(tuple(actions), last.reward, bool(last.info.get("success", False)),
                      last.terminated, last.truncated, dict(last.info))


def play_expert(env: Environment, task: Task) -> PlayResult:
    """Search with the task's query, page to the target, select the goal's options, buy."""
    env.reset(task)
    actions: list[str] = []
    last: StepResult | None = None

    def act(action: str) -> bool:
        nonlocal last
        actions.append(action)
        last = env.step(action)
        return not (last.terminated or last.truncated or last.info.get("invalid"))

    if not act(f"search[{task.data['query']}]"):
        return _finish(actions, last)
    target = f"click[{task.data['target']}]".lower()
    while target not in (a.lower() for a in env.available_actions()):
        if "click[next >]" not in env.available_actions() or not act("click[next >]"):
            return _finish(actions, last)  # the target is not among the results
    if not act(target):
        return _finish(actions, last)
    for _, value in task.data["goal"]["options"]:
        if not act(f"click[{value}]"):
            return _finish(actions, last)
    act("click[buy now]")
    return _finish(actions, last)


def play_random(env: Environment, task: Task, rng: random.Random, max_actions: int = 100) -> PlayResult:
    """Pick uniformly among the available actions; searches use 1-4 words of the instruction."""
    env.reset(task)
    words = [w for w in task.instruction.replace(",", " ").split() if w.isalpha()]
    actions: list[str] = []
    last: StepResult | None = None
    for _ in range(max_actions):
        action = rng.choice(env.available_actions())
        if action == "search[...]":
            action = f"search[{' '.join(rng.sample(words, min(len(words), rng.randint(1, 4))))}]"
        actions.append(action)
        last = env.step(action)
        if last.terminated or last.truncated:
            break
    return _finish(actions, last)
