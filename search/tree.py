"""The search tree: a `networkx.DiGraph` whose nodes are states and edges are actions.

Node attributes (a state): `observation`, `depth`, `parent` (the history
pointer; None at the root), `visits`, `value_sum`, `q_mcts` (running mean of
backed-up values), `q_critic` (the critic's score of the action that led
here), `q` (the mix `alpha*q_mcts + (1-alpha)*q_critic`), `reward` (the
environment's reward for the action that led here), `ret` (sum of rewards from
the root), `terminated`, `truncated`, `done` (a leaf: terminated, truncated or
at the depth limit), `success` (the environment said the task was solved), `expanded` (K candidates were proposed here), `rollout`
(made by a simulation rather than an expansion), `critic_value` (the critic's
estimate that the task is done, value_source='critic' only), `role` (the role to act
at this node), `rewards`/`returns` (per role: the step's `info["rewards"]` and their
sums from the root; None when the env gives one reward), `value_sums` (per role, the
backed-up values' sums: a two-player node's `q_mcts` is the mean from the view of the
role that chose the move leading here, its parent's `role`).

Edge attributes (an action): `action`, `completion`, `token_ids`, `logprobs`
(under the generating policy), `logprob` (their sum), `invalid`,
`parse_error`, `samples` (how many of the K proposals were this action).

Graph attributes: `task_id`, `instruction`, `env`, `alpha`, `value_source`, and for
multi-role envs `roles`, `instructions` (role -> what the role is told) and `zero_sum`.

In a tree with roles each role reads only its own part of a path (`state`): the
observations at the nodes where it acts and its own completions, under its own
instruction. A single-role tree (role "") reads the whole path.

Environment snapshots live beside the graph in `Tree.snapshots` and are not
saved: a loaded tree is for reading and building data, not for searching on.

Example:
    >>> tree = Tree.new(task_id="t1", instruction="Reach the goal.", observation="At (1, 1).")
    >>> child = tree.add_child(tree.root, observation="At (1, 2).", action="move[right]")
    >>> tree.path(child), tree.state(child).history[0].completion
    (['0', '1'], 'move[right]')
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx

from agentloop.agents.protocol import AgentState, Turn
from agentloop.atomic import write_atomic

ROOT = "0"
NOT_YOURS = "(It is not your turn.)"
"""The observation of a role's story at a node where another role acts (`Tree.state`)."""


class Tree:
    """A search tree over one task (see the module docstring for the attributes)."""

    def __init__(self, graph: nx.DiGraph):
        self.graph = graph
        self.snapshots: dict[str, Any] = {}

    @classmethod
    def new(cls, task_id: str, instruction: str, observation: str, role: str = "",
            **attributes: Any) -> Tree:
        """A tree holding only its root state."""
        graph = nx.DiGraph(task_id=task_id, instruction=instruction, **attributes)
        graph.add_node(ROOT, **_node(observation, depth=0, parent=None, role=role))
        return cls(graph)

    @property
    def root(self) -> str:
        return ROOT

    @property
    def reward_range(self) -> tuple[float, float]:
        """The searched env's (lowest, highest) episode return; (0, 1) for older trees."""
        low, high = self.graph.graph.get("reward_range", (0.0, 1.0))
        return float(low), float(high)

    @property
    def task_id(self) -> str:
        return self.graph.graph["task_id"]

    @property
    def instruction(self) -> str:
        return self.graph.graph["instruction"]

    def node(self, node: str) -> dict[str, Any]:
        return self.graph.nodes[node]

    def edge(self, node: str) -> dict[str, Any]:
        """The action that led to `node`."""
        return self.graph.edges[self.node(node)["parent"], node]

    def children(self, node: str) -> list[str]:
        return list(self.graph.successors(node))

    def add_child(self, parent: str, observation: str, action: str, completion: str | None = None,
                  token_ids: tuple[int, ...] = (), logprobs: tuple[float, ...] = (),
                  reward: float = 0.0, terminated: bool = False, truncated: bool = False,
                  invalid: bool = False, parse_error: str | None = None, done: bool = False,
                  success: bool = False, rollout: bool = False, role: str = "",
                  rewards: dict[str, float] | None = None) -> str:
        """Add the state reached from `parent` by `action`; returns its id.

        `rewards` are the step's rewards per role (`info["rewards"]`), summed into
        `returns` from the root.
        """
        node = str(self.graph.number_of_nodes())
        above = self.node(parent)
        self.graph.add_node(node, **_node(
            observation, depth=above["depth"] + 1, parent=parent, role=role, reward=float(reward),
            ret=above["ret"] + float(reward), terminated=terminated, truncated=truncated,
            done=done or terminated or truncated, success=success, rollout=rollout))
        if rewards is not None:
            before = above.get("returns") or {}
            self.node(node)["rewards"] = {r: float(v) for r, v in rewards.items()}
            self.node(node)["returns"] = {r: before.get(r, 0.0) + float(rewards.get(r, 0.0))
                                          for r in {*before, *rewards}}
        self.graph.add_edge(parent, node, action=action,
                            completion=action if completion is None else completion,
                            token_ids=list(token_ids), logprobs=list(logprobs),
                            logprob=float(sum(logprobs)), invalid=invalid,
                            parse_error=parse_error, samples=1)
        return node

    def path(self, node: str) -> list[str]:
        """Node ids from the root to `node`, both included."""
        path = [node]
        while (parent := self.node(path[-1])["parent"]) is not None:
            path.append(parent)
        return path[::-1]

    @property
    def roles(self) -> tuple[str, ...]:
        """The env's roles (empty for a single-agent env)."""
        return tuple(self.graph.graph.get("roles") or ())

    def chooser(self, node: str) -> str:
        """The role that chose the move leading to `node` (the root: its own role); a
        node's Q is from this role's view."""
        parent = self.node(node)["parent"]
        return self.node(node if parent is None else parent)["role"]

    def state(self, node: str, role: str | None = None) -> AgentState:
        """What the agent acting at `node` read there: its instruction, its own past turns on
        the path (the observations where it acted, its completions), the observation.

        Only nodes of `node`'s role count when the tree has roles, so a role never sees
        another's completions or private observations; with one role that is the whole path.
        `role` asks for another role's story up to `node` (its turns on the path); the
        node's observation is then not shown, as it is the acting role's.
        `AgentState.actions` holds every action of the path (all roles'), for agents that
        replay the env (the scripted doubles); prompts never show it.
        """
        path = self.path(node)
        role = self.node(node)["role"] if role is None else role
        mine = self.turn_nodes(node, role)
        instruction = (self.graph.graph.get("instructions") or {}).get(role, self.instruction)
        history = tuple(Turn(self.node(n)["observation"], self.edge(path[path.index(n) + 1])["completion"])
                        for n in mine if n != node)
        observation = self.node(node)["observation"] if self.node(node)["role"] == role else NOT_YOURS
        actions = tuple(self.edge(n)["action"] for n in path[1:])
        return AgentState(instruction, observation, history, role, actions)

    def turn_nodes(self, node: str, role: str) -> list[str]:
        """The nodes on the path to `node` (both ends included) where `role` acts; with one
        role, the whole path."""
        path = self.path(node)
        return [n for n in path if self.node(n)["role"] == role] if self.roles else path

    def leaves(self) -> Iterator[str]:
        """Nodes that end a simulated episode (done and visited), in id order."""
        for node, data in self.graph.nodes(data=True):
            if data["done"] and data["visits"] > 0 and self.graph.out_degree(node) == 0:
                yield node

    def solved(self) -> bool:
        """Whether a simulation of this search ended in success ("solved in search").

        Counted over `leaves()`, the episodes simulations played to their end: a
        successful child that an expansion stepped into but no simulation chose is
        not counted, as no value was backed up from it and no builder reads it.
        The loop and `agentloop search` both count with this.

        Example:
            >>> tree = Tree.new("t1", "Reach the goal.", "At (1, 1).")
            >>> tree.add_child(tree.root, "At (1, 2).", "move[right]", terminated=True, success=True)
            '1'
            >>> tree.solved()   # no simulation went there
            False
        """
        return any(self.node(leaf)["success"] for leaf in self.leaves())

    def to_json(self) -> dict[str, Any]:
        return nx.node_link_data(self.graph, edges="edges")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tree:
        return cls(nx.node_link_graph(data, directed=True, multigraph=False, edges="edges"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write node-link JSON atomically (temporary file, then rename)."""
        return write_atomic(path, json.dumps(self.to_json()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tree:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _node(observation: str, depth: int, parent: str | None, role: str, reward: float = 0.0,
          ret: float = 0.0, terminated: bool = False, truncated: bool = False,
          done: bool = False, success: bool = False, rollout: bool = False) -> dict[str, Any]:
    return dict(observation=observation, depth=depth, parent=parent, role=role, visits=0,
                value_sum=0.0, q_mcts=0.0, q_critic=None, q=0.0, reward=reward, ret=ret,
                terminated=terminated, truncated=truncated, done=done, success=success, expanded=False,
                rollout=rollout, critic_value=None)


def save_trees(trees: list[Tree], directory: str | os.PathLike) -> list[Path]:
    """One `<task_id>.json` per tree under `directory` (the run directory's trees/)."""
    directory = Path(directory)
    return [tree.save(directory / f"{_filename(tree.task_id)}.json") for tree in trees]


def load_trees(directory: str | os.PathLike) -> list[Tree]:
    """Every tree saved under `directory`, in file-name order."""
    return [Tree.load(path) for path in sorted(Path(directory).glob("*.json"))]


def _filename(task_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in task_id)
