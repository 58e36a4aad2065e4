"""Step-level preference pairs from search trees (Agent Q section 4.3).

At every visited node, every two children whose mixed Q differ by more than
`threshold` give a pair: prompt = the conversation up to that node (as the
agent reads it), chosen/rejected = the two completions. Each pair carries the
summed log-probabilities of both completions under the policy that generated
them, which is the reference of off-policy step-level DPO (no reference model
runs in training), and the tree node ids it came from.

With `mode="best_worst"` only the best and the worst child of a node are compared,
and `max_word_overlap` / `min_chosen_q` drop near-identical pairs and pairs whose
better child is still bad (iTool, Zeng et al. 2025).

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

import re
from collections.abc import Sequence
from itertools import combinations
from typing import Literal

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
    mode: Literal["all", "best_worst"] = "all"
    """"all": every two children whose Q differ by more than `threshold` (Agent Q);
    "best_worst": only the best and the worst child of each node (iTool)."""
    max_word_overlap: float | None = Field(None, ge=0.0, le=1.0)
    """Leave out pairs whose completions share more than this fraction of their words
    (Jaccard overlap of the word sets; iTool: 0.95). None keeps all."""
    min_chosen_q: float | None = Field(None, ge=0.0, le=1.0)
    """The chosen child's Q must be at least this far up the env's reward range, as a
    fraction from its low end (iTool's -0.3 on its [-1, 1] scale is 0.35). None keeps all."""


def word_overlap(a: str, b: str) -> float:
    """The Jaccard overlap of the two texts' word sets (1.0 for two empty texts).

    Example:
        >>> word_overlap("call the tool", "call a tool")
        0.5
    """
    words_a, words_b = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    union = words_a | words_b
    return len(words_a & words_b) / len(union) if union else 1.0


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
    candidates = combinations(children, 2)
    if config.mode == "best_worst":
        ranked = sorted(children, key=lambda ch: tree.node(ch)["q"])
        candidates = [(ranked[-1], ranked[0])]
    for a, b in candidates:
        qa, qb = tree.node(a)["q"], tree.node(b)["q"]
        if abs(qa - qb) <= config.threshold * (high - low):
            continue
        chosen, rejected = (a, b) if qa > qb else (b, a)
        if config.min_chosen_q is not None and max(qa, qb) < low + config.min_chosen_q * (high - low):
            continue
        if not trainable(tree, chosen, imitable):
            continue  # an invalid or drifted action that happened to lead on is not worth preferring
        good, bad = tree.edge(chosen), tree.edge(rejected)
        if config.max_word_overlap is not None and \
                word_overlap(good["completion"], bad["completion"]) > config.max_word_overlap:
            continue  # two near-identical texts teach little (iTool)
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
