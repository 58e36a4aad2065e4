"""`Tree.solved`: "solved in search" is a simulation's episode that succeeded, counted
the same way by the loop and by `agentloop search`."""

from __future__ import annotations

from agentloop.search import MCTS, SearchConfig
from agentloop.search.tree import Tree


def _fork() -> tuple[Tree, str, str]:
    tree = Tree.new("t1", "Take a road.", "A fork.")
    win = tree.add_child(tree.root, "The road ends.", "a", reward=1.0, terminated=True, success=True)
    lose = tree.add_child(tree.root, "The road ends.", "b", terminated=True)
    return tree, win, lose


def test_a_success_no_simulation_reached_is_not_solved():
    tree, win, lose = _fork()
    assert not tree.solved()  # expansion stepped into the success; no simulation went there
    MCTS(None, None, SearchConfig()).backup(tree, [tree.root, lose], 0.0)
    assert not tree.solved()  # a simulation ended, in failure
    MCTS(None, None, SearchConfig()).backup(tree, [tree.root, win], 1.0)
    assert tree.solved()


def test_solved_survives_save_and_load(tmp_path):
    tree, win, _ = _fork()
    MCTS(None, None, SearchConfig()).backup(tree, [tree.root, win], 1.0)
    assert Tree.load(tree.save(tmp_path / "t1.json")).solved()
