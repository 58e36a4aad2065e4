"""Search on an environment whose returns are not in [0, 1]: the critic's [0, 1] score is
mixed into Q on the scale of the env's declared reward range, and so is the UCB bonus.
With (0, 1), the default, nothing changes."""

from __future__ import annotations

import pytest

from agentloop.search import SearchConfig
from agentloop.search.mcts import MCTS
from agentloop.search.tree import Tree


def _tree(reward_range):
    tree = Tree.new("t", "do it", "start", reward_range=list(reward_range))
    child = tree.add_child(tree.root, observation="next", action="a", completion="Action: a")
    return tree, child


@pytest.mark.parametrize("reward_range,expected", [((0.0, 1.0), 0.75), ((0.0, 10.0), 7.5), ((-1.0, 1.0), 0.5)])
def test_critic_scores_mix_into_q_on_the_envs_scale(reward_range, expected):
    tree, child = _tree(reward_range)
    data = tree.node(child)
    data["q_mcts"] = {(0.0, 1.0): 0.5, (0.0, 10.0): 5.0, (-1.0, 1.0): 0.0}[reward_range]
    data["q_critic"] = 1.0
    MCTS(agent=None, critic=None, config=SearchConfig(alpha=0.5))._mix(tree, child)
    assert data["q"] == pytest.approx(expected)


def test_the_exploration_bonus_scales_with_the_range():
    """Same search, returns scaled by 10: the same child is picked."""
    picks = []
    for scale in (1.0, 10.0):
        tree = Tree.new("t", "do it", "start", reward_range=[0.0, scale])
        tree.node(tree.root)["visits"] = 10
        for q, visits in ((0.5, 9), (0.4, 1)):
            child = tree.add_child(tree.root, observation="o", action=f"a{q}", completion="c")
            tree.node(child).update(q=q * scale, q_mcts=q * scale, visits=visits)
        picks.append(tree.edge(MCTS(agent=None, critic=None, config=SearchConfig(c=0.25)).best_child(tree, tree.root))["action"])
    assert picks == ["a0.4", "a0.4"]  # the rarely tried child, whatever the scale
