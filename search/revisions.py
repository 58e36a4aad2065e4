"""Revision trajectories from search trees (Agent-R section 3.2).

For a tree, a good leaf path has return >= `alpha`; a bad one has a return at
least `beta` below a good one (Agent-R: alpha 0.5 -> 0.7 -> 1.0 over three
iterations, beta 0.2). Each bad leaf is paired with the good leaf that
branches off its path deepest (ties: higher return, then the earlier leaf): the
two share the parent P. The actor (a `Critic`'s `judge`) reads the bad path
and the first turn after P it calls bad is t' (none called bad: the bad path's
last turn). The revision is one conversation:

    shared turns up to P, bad turns after P up to t'   (shown, not trained)
    the revision thought                               (trained)
    the good path's turns after P                      (trained)

The good continuation is trained as every builder trains a path
(`trainable.trainable_path`): invalid detours cut out, only valid `imitable`
turns trained. The observation answering the revision thought is
`revision_observation` followed by P's observation: Agent-R answers the
revision with "ok."; P's observation is added here (our choice) so the good
continuation reads the state it was generated in.

A revision only makes sense with the bad steps in view, so `prompt` must show
every past turn, whatever the agent's own `max_history` (the loop passes
`from_config.revision_prompt`); a prompt that leaves a turn out raises
ValueError (`conversation.whole_conversation`).

Example:
    >>> whole = ReActAgent(llm, system_prompt=env.system_prompt, max_history=64).prompt
    >>> revisions = revision_trajectories(trees, whole, LLMCritic(llm), RevisionConfig(alpha=0.5))
    >>> revisions[0].kind, revisions[0].revision_step
    ('revision', 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentloop.search.best import turns
from agentloop.search.conversation import PromptFn, whole_conversation
from agentloop.search.trainable import Imitable, trainable_path
from agentloop.search.tree import NOT_YOURS, Tree
from pydantic import BaseModel, ConfigDict, Field

from agentloop.agents.critic import Critic
from agentloop.agents.parsing import well_formed
from agentloop.agents.protocol import Turn
from agentloop.environments.protocol import in_range
from agentloop.records import Provenance, RevisionTrajectory

REVISION_THOUGHT = ("Thought: I realize my previous action was wrong. I should go back and "
                    "take a better action.\nAction: wait")


class RevisionConfig(BaseModel):
    """Agent-R's good/bad rules and the text of the revision turn."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    alpha: float = 0.5
    """A good leaf's return must reach alpha (Agent-R: 0.5, 0.7, 1.0 in iterations 1-3); alpha
    and beta are fractions of the env's reward range (`Tree.reward_range`)."""
    beta: float = Field(0.2, ge=0.0)
    """A bad leaf's return is at least beta below its good partner's (Agent-R: 0.2)."""
    bad_probability: float = Field(0.5, ge=0.0, le=1.0)
    """A turn the judge calls a mistake with more than this probability is bad."""
    max_per_tree: int = Field(4, gt=0)
    """Most revisions built from one tree (bad leaves in node order)."""
    revision_thought: str = REVISION_THOUGHT
    """The assistant turn spliced in after the bad prefix (Agent-R's revision signal)."""
    revision_observation: str = "ok."
    """The environment's answer to the revision thought, before P's observation."""


@dataclass(frozen=True)
class Splice:
    """A bad leaf, its good partner and the node P where their paths part."""

    tree: Tree
    bad: str
    good: str
    parent: str


def leaf_return(tree: Tree, leaf: str, role: str) -> float:
    """The leaf's return for `role`: its per-role return in a tree with roles whose env gave
    rewards per role, else the return."""
    returns = tree.node(leaf).get("returns")
    return float(returns.get(role, 0.0)) if tree.roles and returns else tree.node(leaf)["ret"]


def splices(tree: Tree, config: RevisionConfig) -> list[Splice]:
    """The (bad, good, shared parent) triples of one tree, by the alpha/beta rules; in a
    tree with roles, returns are those of the role acting at the shared parent (whose
    choice there the revision corrects)."""
    leaves = list(tree.leaves())
    span = tree.reward_range  # alpha and beta are fractions of the env's reward range
    alpha, beta = in_range(config.alpha, span), config.beta * (span[1] - span[0])
    out = []
    for bad in leaves:
        bad_path = tree.path(bad)

        def shared(g: str) -> str:
            common = [a for a, b in zip(bad_path, tree.path(g)) if a == b]
            return common[-1]

        def value(leaf: str, g: str) -> float:
            return leaf_return(tree, leaf, tree.node(shared(g))["role"])

        partners = [g for g in leaves
                    if g != bad and value(g, g) >= alpha and value(bad, g) <= value(g, g) - beta]
        if not partners:
            continue
        best = max(partners, key=lambda g: (tree.node(shared(g))["depth"], value(g, g), -int(g)))
        out.append(Splice(tree, bad, best, shared(best)))
        if len(out) == config.max_per_tree:
            break
    return out


def revision_trajectories(trees: Sequence[Tree], prompt: PromptFn, judge: Critic,
                          config: RevisionConfig | None = None, run: str = "", round: int = 0,
                          imitable: Imitable = well_formed) -> list[RevisionTrajectory]:
    """Agent-R revisions of every tree; the judge reads all bad paths in one batched call.
    `prompt` must show every past turn (see the module docstring). Good turns after the
    revision are trained when valid and `imitable` (by default: in the ReAct format)."""
    config = config or RevisionConfig()
    found = [s for tree in trees for s in splices(tree, config)]
    if not found:
        return []
    # In a tree with roles the judge reads the shared parent's role's own turns only.
    verdicts = judge.judge([s.tree.state(s.bad, s.tree.node(s.parent)["role"]) for s in found])
    records = (splice_revision(s, first_error(s, v, config), prompt, config, run, round, imitable)
               for s, v in zip(found, verdicts, strict=True))
    return [record for record in records if record is not None]


def first_error(splice: Splice, bad_probabilities: Sequence[float], config: RevisionConfig) -> int:
    """t': the first turn after the shared parent judged bad, else the bad path's last turn
    (turns of the shared parent's role, in a tree with roles)."""
    tree = splice.tree
    start = tree.turn_nodes(splice.bad, tree.node(splice.parent)["role"]).index(splice.parent)
    for t in range(start, len(bad_probabilities)):
        if bad_probabilities[t] > config.bad_probability:
            return t
    return len(bad_probabilities) - 1


def splice_revision(splice: Splice, t_error: int, prompt: PromptFn, config: RevisionConfig,
                    run: str = "", round: int = 0,
                    imitable: Imitable = well_formed) -> RevisionTrajectory | None:
    """Bad turns up to t' (shown, not trained), the revision thought, then the good path's
    trainable turns after the shared parent, as one conversation; None when the good path
    takes no valid action after the parent (nothing to revise into)."""
    tree = splice.tree
    role = tree.node(splice.parent)["role"]  # in a tree with roles, the revision is this role's
    good = trainable_path(tree, splice.good, imitable, start=splice.parent)
    mine = [i for i, n in enumerate(good.nodes[:-1]) if not tree.roles or tree.node(n)["role"] == role]
    good_turns, good_train = [good.turns[i] for i in mine], [good.train[i] for i in mine]
    if not good_turns:
        return None
    bad = turns(tree, splice.bad)[: t_error + 1] if not tree.roles else \
        list(tree.state(splice.bad, role).history[: t_error + 1])
    acted = tree.turn_nodes(splice.bad, role)
    after_error = tree.node(acted[t_error + 1])["observation"] if t_error + 1 < len(acted) else NOT_YOURS
    revision = Turn(after_error, config.revision_thought)
    # The first good turn's page is P's (detours right after P are cut out).
    first = good_turns[0]
    resume = Turn(f"{config.revision_observation}\n{first.observation}", first.completion)
    spliced = [*bad, revision, resume, *good_turns[1:]]
    train = [False] * len(bad) + [True, *good_train]
    told = (tree.graph.graph.get("instructions") or {}).get(role, tree.instruction)
    messages, flags = whole_conversation(prompt, told, spliced, train,
                                         role if tree.roles else tree.node(tree.root)["role"])
    return RevisionTrajectory(
        messages=tuple(messages), train=tuple(flags), kind="revision",
        bad_reward=leaf_return(tree, splice.bad, role), good_reward=leaf_return(tree, splice.good, role),
        revision_step=t_error,
        provenance=Provenance(run=run, round=round, task_id=tree.task_id,
                              node_ids=(splice.parent, splice.bad, splice.good)))
