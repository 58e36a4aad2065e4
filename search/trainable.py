"""What of a tree may be trained on: one rule that every builder applies.

A turn may be imitated (trained in SFT, or be the chosen side of a preference
pair) when its action was valid and its completion is `imitable` (by default
in the ReAct format the agent is asked for, `parsing.well_formed`).

On a path an invalid action is a detour: it changed nothing (the Environment
protocol), so the valid action after it was open from the state before it.
`trainable_path` cuts detours out and gives that next valid turn the page the
agent had before the detour. A small model otherwise learns its valid moves
only on error pages, and on the real page only what it did without erring.
Valid turns that are not `imitable` stay on the path (they moved the agent)
and are shown but not trained.

The builders: best paths (`best.py`) train `trainable_path(tree, leaf)`;
Agent-R revisions (`revisions.py`) train the revision thought and
`trainable_path(tree, good, start=parent)`; step pairs (`pairs.py`) choose
only children that are `trainable`.

Example:
    >>> path = trainable_path(tree, leaf)
    >>> [turn.completion for turn, flag in zip(path.turns, path.train) if flag]
    ['Thought: go right.\\nAction: move[right]', 'Thought: go down.\\nAction: move[down]']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agentloop.search.tree import Tree

from agentloop.agents.parsing import well_formed
from agentloop.agents.protocol import Turn

Imitable = Callable[[str], bool]


def trainable(tree: Tree, node: str, imitable: Imitable = well_formed) -> bool:
    """Whether the turn that led to `node` may be imitated: a valid action whose
    completion is `imitable`."""
    edge = tree.edge(node)
    return not edge["invalid"] and imitable(edge["completion"])


@dataclass(frozen=True)
class TrainablePath:
    """A path with its invalid detours cut out.

    `turns[i]` is (observation the turn is trained on, completion); `train[i]`
    whether it is trained; `nodes` holds the start node and then the node each
    kept turn led to (so `nodes[i + 1]` is where `turns[i]` went).
    """

    turns: tuple[Turn, ...]
    train: tuple[bool, ...]
    nodes: tuple[str, ...]


def trainable_path(tree: Tree, node: str, imitable: Imitable = well_formed,
                   start: str | None = None) -> TrainablePath:
    """The turns from `start` (default: the root) down to `node`, invalid detours cut out,
    each valid turn trained when `trainable`. `start` must be on the path to `node`."""
    path = tree.path(node)
    if start is not None:
        if start not in path:
            raise ValueError(f"node {start!r} is not on the path to {node!r}")
        path = path[path.index(start):]
    turns, train, nodes = [], [], [path[0]]
    page = None  # the page before a run of detours
    for parent, child in zip(path, path[1:]):
        page = tree.node(parent)["observation"] if page is None else page
        if tree.edge(child)["invalid"]:
            continue
        turns.append(Turn(page, tree.edge(child)["completion"]))
        train.append(trainable(tree, child, imitable))
        nodes.append(child)
        page = None
    return TrainablePath(tuple(turns), tuple(train), tuple(nodes))
