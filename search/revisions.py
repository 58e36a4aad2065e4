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
from agentloop.search.tree import Tree
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


def splices(tree: Tree, config: RevisionConfig) -> list[Splice]:
    """The (bad, good, shared parent) triples of one tree, by the alpha/beta rules."""
    leaves = list(tree.leaves())
    span = tree.reward_range  # alpha and beta are fractions of the env's reward range
    good = [n for n in leaves if tree.node(n)["ret"] >= in_range(config.alpha, span)]
    beta = config.beta * (span[1] - span[0])
    out = []
    for bad in leaves:
        partners = [g for g in good
                    if g != bad and tree.node(bad)["ret"] <= tree.node(g)["ret"] - beta]
        if not partners:
            continue
        bad_path = tree.path(bad)

        def shared(g: str) -> str:
            common = [a for a, b in zip(bad_path, tree.path(g)) if a == b]
            return common[-1]

        best = max(partners, key=lambda g: (tree.node(shared(g))["depth"],
                                            tree.node(g)["ret"], -int(g)))
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
    verdicts = judge.judge([s.tree.state(s.bad) for s in found])
    records = (splice_revision(s, first_error(s, v, config), prompt, config, run, round, imitable)
               for s, v in zip(found, verdicts, strict=True))
    return [record for record in records if record is not None]


def first_error(splice: Splice, bad_probabilities: Sequence[float], config: RevisionConfig) -> int:
    """t': the first turn after the shared parent judged bad, else the bad path's last turn."""
    start = splice.tree.node(splice.parent)["depth"]
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
    good = trainable_path(tree, splice.good, imitable, start=splice.parent)
    if not good.turns:
        return None
    bad = turns(tree, splice.bad)[: t_error + 1]
    after_error = tree.node(tree.path(splice.bad)[t_error + 1])["observation"]
    revision = Turn(after_error, config.revision_thought)
    # The first good turn's page is P's (detours right after P are cut out).
    first = good.turns[0]
    resume = Turn(f"{config.revision_observation}\n{first.observation}", first.completion)
    spliced = [*bad, revision, resume, *good.turns[1:]]
    train = [False] * len(bad) + [True, *good.train]
    messages, flags = whole_conversation(prompt, tree.instruction, spliced, train,
                                         tree.node(tree.root)["role"])
    return RevisionTrajectory(
        messages=tuple(messages), train=tuple(flags), kind="revision",
        bad_reward=tree.node(splice.bad)["ret"], good_reward=tree.node(splice.good)["ret"],
        revision_step=t_error,
        provenance=Provenance(run=run, round=round, task_id=tree.task_id,
                              node_ids=(splice.parent, splice.bad, splice.good)))
