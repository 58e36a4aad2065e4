"""Policy + MCTS at inference: search before every action, then act (Agent Q section 5).

At each real step the search runs `simulations` waves from the current node
(reusing the subtree found so far), then takes the most visited child (ties:
higher Q, then the older child) and moves on, until the episode ends or
reaches `max_depth`. By default (`value_source='critic'`) the values come from
the critic and the environment's reward is never read while choosing; with
`value_source='oracle'` the reward is used and the result is reported as
'mcts-oracle'. `value_source='reward'` is refused here: it is the
data-collection setting and would leak the test reward unlabelled.

Example:
    >>> results = solve_tasks(MazeEnv, tasks, agent, critic, SearchConfig(value_source="critic"))
    >>> [r.trajectory.success for r in results]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentloop.environments.protocol import Environment, Task
from agentloop.search.best import trajectory
from agentloop.search.config import SearchConfig
from agentloop.search.mcts import MCTS
from agentloop.search.tree import Tree

from agentloop.agents.critic import Critic
from agentloop.agents.protocol import Agent
from agentloop.progress import Bar, progress_bar
from agentloop.records import Trajectory


@dataclass(frozen=True)
class SolveResult:
    """The episode acted out, the tree searched on the way, and the setting's name."""

    trajectory: Trajectory
    tree: Tree
    setting: str
    """'mcts' (critic values) or 'mcts-oracle' (environment reward used to choose)."""


def solve_tasks(env_factory: Callable[[], Environment], tasks: Sequence[Task], agent: Agent,
                critic: Critic | None, config: SearchConfig,
                batch: int | None = None) -> list[SolveResult]:
    """Act on every task with search before each action; `batch` tasks at once."""
    if config.value_source == "reward":
        raise ValueError("inference search must not read the test reward unlabelled: use "
                         "value_source='critic' (default for evaluation) or 'oracle'")
    batch = batch or max(len(tasks), 1)
    results: list[SolveResult] = []
    bar = progress_bar(total=len(tasks), desc="act with search", unit="tasks")
    successes: list[bool] = []
    for start in range(0, len(tasks), batch):
        results += _solve_group(env_factory, tasks[start:start + batch], agent, critic, config,
                                bar, successes)
    bar.close()
    return results


def _solve_group(env_factory: Callable[[], Environment], tasks: Sequence[Task], agent: Agent,
                 critic: Critic | None, config: SearchConfig, bar: Bar,
                 successes: list[bool]) -> list[SolveResult]:
    search = MCTS(agent, critic, config)
    cursors = [search.start(env_factory(), task) for task in tasks]
    current = [c.tree.root for c in cursors]
    active = [i for i in range(len(cursors))]
    while active:
        search.run([cursors[i] for i in active], [current[i] for i in active], config.simulations)
        for i in active:
            current[i] = choose(cursors[i].tree, current[i])
        ended = [i for i in active if cursors[i].tree.node(current[i])["done"]]
        active = [i for i in active if i not in ended]
        successes += [trajectory(cursors[i].tree, current[i]).success for i in ended]
        bar.update(len(ended))
        bar.set_postfix(success=f"{sum(successes)}/{len(successes)}")
    setting = "mcts-oracle" if config.value_source == "oracle" else "mcts"
    return [SolveResult(trajectory(c.tree, node), c.tree, setting)
            for c, node in zip(cursors, current)]


def choose(tree: Tree, node: str) -> str:
    """The action to take at `node` after searching: most visits, then higher Q, then older."""
    return max(tree.children(node),
               key=lambda ch: (tree.node(ch)["visits"], tree.node(ch)["q"], -int(ch)))
