"""One rule of what may be trained, applied by every builder: invalid detours are cut
out of paths (the next valid turn trained on the page before them), and no trained
or chosen turn is invalid or not imitable."""

from __future__ import annotations

import random

from agentloop.environments.maze import MazeEnv
from agentloop.search import (
    PairConfig,
    RevisionConfig,
    SearchConfig,
    Tree,
    best_trajectories,
    revision_trajectories,
    search_tasks,
    step_pairs,
    trainable_path,
)
from agentloop.search.best import best_leaf
from agentloop.search.revisions import REVISION_THOUGHT
from search_doubles import DistanceCritic, RandomMazeAgent

from agentloop.agents.parsing import well_formed

PROMPT = RandomMazeAgent().prompt  # shows every past turn: system, then user/assistant


def visit(tree: Tree) -> Tree:
    for node in tree.graph.nodes:
        tree.node(node).update(visits=1, q=1.0, q_mcts=1.0, value_sum=1.0)
    return tree


def detour_tree() -> Tree:
    """root -x(invalid)-> 1 -a-> 2 -y(invalid)-> 3 -z(invalid)-> 4 -c-> 5 (goal)
       root -b-> 6 (a dead end)"""
    tree = Tree.new("t1", "Reach the goal.", "S0")
    n1 = tree.add_child("0", "S0 (no such move)", "x", "Thought: X\nAction: go[x]", invalid=True)
    n2 = tree.add_child(n1, "S2", "a", "Thought: A\nAction: go[a]")
    n3 = tree.add_child(n2, "S2 (no such move)", "y", "Thought: Y\nAction: go[y]", invalid=True)
    n4 = tree.add_child(n3, "S2 (no such move)", "z", "Thought: Z\nAction: go[z]", invalid=True)
    tree.add_child(n4, "goal", "c", "Thought: C\nAction: go[c]", reward=1.0, terminated=True,
                   success=True)
    tree.add_child("0", "S6", "b", "Thought: B\nAction: go[b]", truncated=True)
    return visit(tree)


def test_trainable_path_cuts_detours_and_trains_the_next_turn_on_the_page_before_them():
    path = trainable_path(detour_tree(), "5")
    assert [(t.observation, t.completion) for t in path.turns] == [
        ("S0", "Thought: A\nAction: go[a]"), ("S2", "Thought: C\nAction: go[c]")]
    assert path.train == (True, True) and path.nodes == ("0", "2", "5")
    assert trainable_path(detour_tree(), "5", start="2").nodes == ("2", "5")
    drift = trainable_path(detour_tree(), "5", imitable=lambda c: "go[a]" not in c)
    assert drift.train == (False, True)  # a valid turn that is not imitable is shown, untrained


def test_a_revision_trains_no_invalid_turn_and_the_next_valid_turn_under_the_page_before_it():
    class Judge:
        def judge(self, paths):
            return [[0.9] * len(p.history) for p in paths]

    (revision,) = revision_trajectories([detour_tree()], PROMPT, Judge(), RevisionConfig(alpha=1.0))
    assert revision.provenance.node_ids == ("0", "6", "5")
    assert [(m.role, m.content, f) for m, f in zip(revision.messages, revision.train)][1:] == [
        ("user", "Reach the goal.\nS0", False), ("assistant", "Thought: B\nAction: go[b]", False),
        ("user", "S6", False), ("assistant", REVISION_THOUGHT, True),
        ("user", "ok.\nS0", False), ("assistant", "Thought: A\nAction: go[a]", True),
        ("user", "S2", False), ("assistant", "Thought: C\nAction: go[c]", True)]


def test_the_sft_encoding_trains_the_revision_and_good_turns_and_masks_the_bad_step(tokenizer):
    from agentloop.trainers.encoding import end_of_turn
    from agentloop.trainers.sft import encode_record

    class Judge:
        def judge(self, paths):
            return [[0.9] * len(p.history) for p in paths]

    (revision,) = revision_trajectories([detour_tree()], PROMPT, Judge(), RevisionConfig(alpha=1.0))
    _, continuation = encode_record(tokenizer, revision)
    trained = [t for t, m in zip(continuation.ids, continuation.mask) if m]
    eot = end_of_turn(tokenizer)
    expected = "".join(text + eot for text in (REVISION_THOUGHT, "Thought: A\nAction: go[a]",
                                               "Thought: C\nAction: go[c]"))
    assert tokenizer.decode(trained) == expected  # the bad step go[b] is context only


def random_tree(rng: random.Random, index: int) -> Tree:
    """A tree of up to depth 4 whose edges are invalid a third of the time and drifted
    (not in the ReAct format) a fifth of the time; leaves end with return 0, 0.5 or 1."""
    tree = Tree.new(f"t{index}", "Reach the goal.", "S0")
    frontier = [tree.root]
    while frontier:
        node = frontier.pop()
        depth = tree.node(node)["depth"]
        width = rng.choice((2, 3)) if depth == 0 else rng.choice((0, 1, 2, 3)) if depth < 4 else 0
        for j in range(width):
            invalid = rng.random() < 1 / 3
            text = "Thought: lost" if rng.random() < 0.2 else f"Thought: t\nAction: go[{node}.{j}]"
            page = f"{tree.node(node)['observation']} (no such move)" if invalid else f"S{node}.{j}"
            frontier.append(tree.add_child(node, page, f"go[{node}.{j}]", text, invalid=invalid))
        if width == 0:
            tree.node(node).update(done=True, ret=rng.choice((0.0, 0.5, 1.0)))
    for node in tree.graph.nodes:
        tree.node(node).update(visits=rng.randint(1, 3), q=rng.random())
    return tree


class RandomJudge:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def judge(self, paths):
        return [[self.rng.random() for _ in p.history] for p in paths]


def valid_after(tree: Tree, start: str, end: str) -> list[str]:
    """The nodes after `start` on the path to `end` that valid actions led to."""
    path = tree.path(end)
    return [n for n in path[path.index(start) + 1:] if not tree.edge(n)["invalid"]]


def assistant_turns(record) -> list[tuple[str, bool]]:
    return [(m.content, f) for m, f in zip(record.messages, record.train) if m.role == "assistant"]


def pages(record) -> list[str]:
    """The observation each assistant turn answers (the user message before it)."""
    return [record.messages[i - 1].content for i, m in enumerate(record.messages)
            if m.role == "assistant"]


def expected_turns(tree: Tree, nodes: list[str]) -> list[tuple[str, bool]]:
    completions = [tree.edge(n)["completion"] for n in nodes]
    return [(c, well_formed(c)) for c in completions]


def expected_pages(tree: Tree, start: str, nodes: list[str]) -> list[str]:
    """Each kept turn answers the page of the kept node before it (`start` for the first)."""
    return [tree.node(n)["observation"] for n in [start, *nodes[:-1]]]


def check_builders(trees: list[Tree], judge) -> tuple[int, int, int]:
    """Every pair's chosen turn is valid and imitable; a best path trains exactly its valid
    imitable turns, each on the page before it; a revision shows its bad prefix untrained,
    trains the revision thought, then exactly the good path's valid imitable turns."""
    pairs = step_pairs(trees, PROMPT, PairConfig(threshold=0.1))
    by_task = {tree.task_id: tree for tree in trees}
    for pair in pairs:
        tree, (_, chosen, _) = by_task[pair.provenance.task_id], pair.provenance.node_ids
        assert not tree.edge(chosen)["invalid"] and well_formed(pair.chosen[0].content)
    best = best_trajectories(trees, PROMPT, min_reward=0.5)
    for record in best:
        tree = by_task[record.provenance.task_id]
        kept = valid_after(tree, tree.root, best_leaf(tree))
        trained = [n for n, (_, f) in zip(kept, expected_turns(tree, kept)) if f]
        kept = kept[: kept.index(trained[-1]) + 1]  # nothing to learn after the last trained turn
        assert assistant_turns(record) == expected_turns(tree, kept)
        assert pages(record)[1:] == expected_pages(tree, tree.root, kept)[1:]
    revisions = revision_trajectories(trees, PROMPT, judge, RevisionConfig(alpha=0.5, beta=0.2))
    for record in revisions:
        tree = by_task[record.provenance.task_id]
        parent, bad, good = record.provenance.node_ids
        turns = assistant_turns(record)
        cut = record.revision_step + 1
        bad_prefix = tree.path(bad)[1:cut + 1]
        assert [c for c, _ in turns[:cut]] == [tree.edge(n)["completion"] for n in bad_prefix]
        assert not any(f for _, f in turns[:cut]) and turns[cut] == (REVISION_THOUGHT, True)
        kept = valid_after(tree, parent, good)
        assert turns[cut + 1:] == expected_turns(tree, kept)
        assert pages(record)[cut + 1:] == ["ok.\n" + p if i == 0 else p for i, p in
                                           enumerate(expected_pages(tree, parent, kept))]
    return len(pairs), len(revisions), len(best)


def test_no_builder_trains_or_chooses_an_invalid_or_drifted_turn_on_random_trees():
    rng = random.Random(0)
    trees = [random_tree(rng, i) for i in range(60)]
    counts = check_builders(trees, RandomJudge(1))
    assert all(n >= 10 for n in counts), counts  # the rule was exercised, not vacuous
    with_detours = [t for t in trees if any(d["invalid"] for _, _, d in t.graph.edges(data=True))]
    assert len(with_detours) >= 30


def test_no_builder_trains_or_chooses_an_invalid_or_drifted_turn_on_maze_searches():
    tasks = MazeEnv(size=7, num_tasks=4).tasks("train")
    agent = RandomMazeAgent(seed=3, garbage=0.1, wander=0.5)  # walls and unparseable text
    trees = search_tasks(lambda: MazeEnv(size=7), tasks, agent, DistanceCritic(tasks),
                         SearchConfig(simulations=12, k=4, max_depth=10))
    pairs, revisions, best = check_builders(trees, DistanceCritic(tasks))
    assert pairs and revisions and best
