"""Tree paths as trajectories, and the best-trajectory set for SFT (rejection sampling).

Every leaf of a finished tree ends one simulated episode; `trajectories(tree)`
gives them as `Trajectory` records (trajectories.jsonl). `best_trajectories`
keeps, per tree, the highest-return leaf path that reaches `min_reward`: the
rejection-sampling fine-tuning baseline, and Agent-R's "good trajectories"
that are mixed with the revisions. What of the path is trained is decided by
`trainable.trainable_path`, as for every builder: invalid detours are cut out,
and only valid turns in the format the agent was asked for are trained.

Example:
    >>> good = best_trajectories(trees, agent.prompt, min_reward=1.0)
    >>> write_jsonl("best.jsonl", good)   # masked SFT: only messages flagged in `train`
"""

from __future__ import annotations

from collections.abc import Sequence

from agentloop.search.conversation import PromptFn, conversations
from agentloop.search.trainable import Imitable, trainable_path
from agentloop.search.tree import Tree

from agentloop.agents.parsing import well_formed
from agentloop.agents.protocol import Turn
from agentloop.environments.protocol import in_range
from agentloop.records import Provenance, RevisionTrajectory, Step, Trajectory


def turns(tree: Tree, node: str) -> list[Turn]:
    """The (observation seen, completion given) turns on the path from the root to `node`."""
    path = tree.path(node)
    return [Turn(tree.node(parent)["observation"], tree.edge(child)["completion"])
            for parent, child in zip(path, path[1:])]


def trajectory(tree: Tree, node: str, run: str = "", round: int = 0) -> Trajectory:
    """The episode from the root to `node` as a `Trajectory` record."""
    path = tree.path(node)
    steps = []
    for parent, child in zip(path, path[1:]):
        edge, data = tree.edge(child), tree.node(child)
        steps.append(Step(observation=tree.node(parent)["observation"],
                          completion=edge["completion"], action=edge["action"],
                          token_ids=tuple(edge["token_ids"]), logprobs=tuple(edge["logprobs"]),
                          reward=data["reward"], invalid=edge["invalid"], role=data["role"]))
    end = tree.node(node)
    return Trajectory(task_id=tree.task_id, instruction=tree.instruction, steps=tuple(steps),
                      reward=end["ret"], success=end["success"], terminated=end["terminated"],
                      truncated=end["truncated"],
                      provenance=Provenance(run=run, round=round, task_id=tree.task_id,
                                            node_ids=tuple(path)))


def trajectories(tree: Tree, run: str = "", round: int = 0) -> list[Trajectory]:
    """Every simulated episode of `tree` (one per leaf), in node order."""
    return [trajectory(tree, leaf, run, round) for leaf in tree.leaves()]


def best_leaf(tree: Tree) -> str | None:
    """The leaf with the highest return (the shallowest, then the earliest found, on
    ties: detours such as an extra results page are not worth imitating), or None."""
    leaves = list(tree.leaves())
    return max(leaves, key=lambda n: (tree.node(n)["ret"], -tree.node(n)["depth"], -int(n))) \
        if leaves else None


def best_trajectories(trees: Sequence[Tree], prompt: PromptFn, min_reward: float = 1.0,
                      run: str = "", round: int = 0,
                      imitable: Imitable = well_formed) -> list[RevisionTrajectory]:
    """Per tree, its best leaf path if its return reaches `min_reward` (a fraction of the
    env's reward range: 1.0 is its top), as
    `trainable.trainable_path` gives it: invalid detours cut out, every valid `imitable`
    turn trained (by default those in the ReAct format, `parsing.well_formed`).

    An agent that shows only part of its history gets several records per path, one
    per prompt it read (`conversations`)."""
    out = []
    for tree in trees:
        leaf = best_leaf(tree)
        if leaf is None or tree.node(leaf)["ret"] < in_range(min_reward, tree.reward_range):
            continue
        path = trainable_path(tree, leaf, imitable)
        for messages, flags, end in conversations(prompt, tree.instruction, path.turns, path.train,
                                                  tree.node(tree.root)["role"]):
            out.append(RevisionTrajectory(
                messages=tuple(messages), train=tuple(flags), kind="good",
                good_reward=tree.node(leaf)["ret"],
                provenance=Provenance(run=run, round=round, task_id=tree.task_id,
                                      node_ids=path.nodes[: end + 1])))
    return out
