"""iTool's pair mode on a hand-built tree: only the best and the worst child of a node
pair up, near-identical completions and still-bad chosen children are left out."""

from __future__ import annotations

from agentloop.search import PairConfig, Tree, step_pairs
from agentloop.search.pairs import word_overlap
from search_doubles import RandomMazeAgent

PROMPT = RandomMazeAgent().prompt


def three_children(completions=("Thought: A\nAction: go[a]", "Thought: B\nAction: go[b]",
                                "Thought: C\nAction: go[c]"), qs=(0.9, 0.5, 0.1)) -> Tree:
    tree = Tree.new("t1", "Reach the goal.", "S0")
    nodes = [tree.add_child("0", f"S{i}", f"x{i}", text, (i + 1,), (-1.0,), done=True)
             for i, text in enumerate(completions)]
    tree.node("0").update(visits=3, q=0.5, q_mcts=0.5, value_sum=1.5)
    for node, q in zip(nodes, qs):
        tree.node(node).update(visits=1, q=q, q_mcts=q, value_sum=q)
    return tree


def ids(pairs):
    return [p.provenance.node_ids for p in pairs]


def test_best_worst_keeps_one_pair_per_node():
    assert ids(step_pairs([three_children()], PROMPT, PairConfig(threshold=0.1))) == [
        ("0", "1", "2"), ("0", "1", "3"), ("0", "2", "3")]
    assert ids(step_pairs([three_children()], PROMPT, PairConfig(threshold=0.1, mode="best_worst"))) == [
        ("0", "1", "3")]
    # The gap rule still applies to the one pair.
    assert step_pairs([three_children()], PROMPT, PairConfig(threshold=0.85, mode="best_worst")) == []


def test_itool_filters_drop_near_identical_and_still_bad_pairs():
    same = ("Thought: go left now\nAction: go[a]", "x", "Thought: go left now\nAction: go[a] ")
    config = PairConfig(threshold=0.1, mode="best_worst", max_word_overlap=0.95)
    assert step_pairs([three_children(same)], PROMPT, config) == []
    assert ids(step_pairs([three_children()], PROMPT, config)) == [("0", "1", "3")]
    low = three_children(qs=(0.3, 0.2, 0.1))
    assert step_pairs([low], PROMPT, PairConfig(threshold=0.1, mode="best_worst", min_chosen_q=0.35)) == []
    assert ids(step_pairs([low], PROMPT, PairConfig(threshold=0.1, mode="best_worst", min_chosen_q=0.3))) == [
        ("0", "1", "3")]


def test_word_overlap():
    assert word_overlap("call the tool", "call a tool") == 0.5
    assert word_overlap("A b", "b a") == 1.0
    assert word_overlap("", "") == 1.0
