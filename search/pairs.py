"""Step-level preference pairs from search trees (Agent Q section 4.3).

At every visited node, every two children whose mixed Q differ by more than
`threshold` give a pair: prompt = the conversation up to that node (as the
agent reads it), chosen/rejected = the two completions. Each pair carries the
summed log-probabilities of both completions under the policy that generated
them, which is the reference of off-policy step-level DPO (no reference model
runs in training), and the tree node ids it came from.

Agent Q does not fix the threshold; 0.1 is a tenth of the reward range. Only
children visited at least `min_visits` times count: an unvisited child's
Q_mcts is a placeholder 0, not an estimate. A chosen completion must be one the
builders may imitate (`trainable.trainable`: a valid action in the format the
agent was asked for, by default `parsing.well_formed`); the rejected one may be
anything. The prompt is the history as the agent read it, detours included:
the recorded log-probs were generated under it.

Example:
    >>> pairs = step_pairs(trees, agent.prompt, PairConfig(threshold=0.1))
    >>> write_jsonl("pairs.jsonl", pairs)      # TRL conversational preference format
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from agentloop.search.conversation import PromptFn
from agentloop.search.trainable import Imitable, trainable
from agentloop.search.tree import Tree
from pydantic import BaseModel, ConfigDict, Field

from agentloop.agents.parsing import well_formed
from agentloop.records import Message, PreferencePair, Provenance


class PairConfig(BaseModel):
    """Which sibling pairs become preference pairs."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    threshold: float = Field(0.1, ge=0.0)
    """Smallest |Q(chosen) - Q(rejected)| that makes a pair (mixed Q), as a fraction of the
    env's reward range (`Tree.reward_range`)."""
    min_visits: int = Field(1, ge=0)
    """Children visited fewer times are left out (0 keeps critic-only children)."""


def node_pairs(tree: Tree, node: str, prompt: PromptFn, config: PairConfig,
               run: str = "", round: int = 0,
               imitable: Imitable = well_formed) -> list[PreferencePair]:
    """The pairs among the children of `node`, better-Q child first; the better child
    must be `trainable` (a valid action, `imitable`: the format the agent asks for)."""
    children = [ch for ch in tree.children(node) if tree.node(ch)["visits"] >= config.min_visits]
    if len(children) < 2:
        return []
    messages = tuple(prompt(tree.state(node)))
    pairs = []
    low, high = tree.reward_range
    for a, b in combinations(children, 2):
        qa, qb = tree.node(a)["q"], tree.node(b)["q"]
        if abs(qa - qb) <= config.threshold * (high - low):
            continue
        chosen, rejected = (a, b) if qa > qb else (b, a)
        if not trainable(tree, chosen, imitable):
            continue  # an invalid or drifted action that happened to lead on is not worth preferring
        good, bad = tree.edge(chosen), tree.edge(rejected)
        pairs.append(PreferencePair(
            prompt=messages,
            chosen=(Message(role="assistant", content=good["completion"]),),
            rejected=(Message(role="assistant", content=bad["completion"]),),
            chosen_q=tree.node(chosen)["q"], rejected_q=tree.node(rejected)["q"],
            chosen_logprob=good["logprob"] if good["logprobs"] else None,
            rejected_logprob=bad["logprob"] if bad["logprobs"] else None,
            provenance=Provenance(run=run, round=round, task_id=tree.task_id,
                                  node_ids=(node, chosen, rejected))))
    return pairs


def step_pairs(trees: Sequence[Tree], prompt: PromptFn, config: PairConfig | None = None,
               run: str = "", round: int = 0,
               imitable: Imitable = well_formed) -> list[PreferencePair]:
    """Every step-level pair of every tree, node by node."""
    config = config or PairConfig()
    return [pair for tree in trees for node, data in tree.graph.nodes(data=True) if data["visits"] > 0
            for pair in node_pairs(tree, node, prompt, config, run, round, imitable)]
