"""Putting an environment back into the state of a tree node.

Search branches with the environment's `snapshot()`/`restore()`: every node
keeps the snapshot taken when it was reached, so going back to a node is one
`restore`. An environment whose `snapshot` raises `NotImplementedError` (or
lacks it) is replayed instead: `reset(task)` and the actions along the path.

Example:
    >>> cursor = Cursor(env, task, tree)
    >>> cursor.goto("3")          # env is now in node 3's state
    >>> result = cursor.env.step("move[up]")
"""

from __future__ import annotations

from typing import Any

from agentloop.environments.protocol import Environment, StepResult, Task
from agentloop.search.tree import Tree


class Cursor:
    """One environment instance bound to one tree; moves it between nodes.

    Args:
        env: the environment (one instance per tree: searches never share one).
        task: the tree's task.
        tree: the tree whose nodes the cursor visits; its root must be `env.reset(task)`.
    """

    def __init__(self, env: Environment, task: Task, tree: Tree):
        self.env, self.task, self.tree = env, task, tree
        self.can_snapshot = _snapshot(env) is not None
        self.at: str | None = None
        self.replays = 0
        self.remember(tree.root)

    def remember(self, node: str) -> None:
        """Record that the environment is now in `node`'s state (and snapshot it)."""
        if self.can_snapshot:
            self.tree.snapshots[node] = self.env.snapshot()
        self.at = node

    def goto(self, node: str) -> None:
        """Put the environment into `node`'s state."""
        if node == self.at:
            return
        if self.can_snapshot:
            self.env.restore(self.tree.snapshots[node])
        else:
            # No snapshot: replay from the start (the only path that does).
            self.replays += 1
            self.env.reset(self.task)
            for step in self.tree.path(node)[1:]:
                self.env.step(self.tree.edge(step)["action"])
        self.at = node

    def step(self, node: str, action: str) -> StepResult:
        """Take `action` from `node`'s state; the caller `remember`s the new node."""
        self.goto(node)
        self.at = None
        return self.env.step(action)


def _snapshot(env: Environment) -> Any:
    try:
        return env.snapshot()
    except (NotImplementedError, AttributeError):
        return None
