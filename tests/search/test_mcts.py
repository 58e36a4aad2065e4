"""MCTS on the maze: finds the known optimum, keeps a tree, counts visits, mixes Q as written."""

from __future__ import annotations

import networkx as nx
import pytest
from agentloop.environments.maze import MazeEnv, shortest_path
from agentloop.environments.protocol import StepResult, Task
from agentloop.search import MCTS, SearchConfig, search_tasks
from agentloop.search.best import best_leaf
from search_doubles import DistanceCritic, RandomMazeAgent, maze_task

from agentloop.agents.protocol import Proposal


def _env(task, **kw):
    return MazeEnv(size=7, max_steps=task.data["optimal"], **kw)


def _moves(tree, node):
    return [tree.edge(n)["action"][5:-1] for n in tree.path(node)[1:] if not tree.edge(n)["invalid"]]


def _check_tree(tree, simulations):
    graph = tree.graph
    assert nx.is_tree(graph) and nx.is_directed_acyclic_graph(graph)
    assert tree.node(tree.root)["visits"] == simulations
    for node in graph.nodes:
        children = tree.children(node)
        if children and tree.node(node)["visits"]:
            # Every simulation through an internal node goes on to exactly one child.
            assert tree.node(node)["visits"] == sum(tree.node(c)["visits"] for c in children), node
        actions = [tree.edge(c)["action"].strip() for c in children]
        assert len(actions) == len(set(actions)), "duplicate actions were not merged"
    assert sum(tree.node(leaf)["visits"] for leaf in tree.leaves()) == simulations


def test_finds_the_shortest_path_and_keeps_a_tree():
    task = maze_task(5, 6)
    optimal = shortest_path({tuple(c) for c in task.data["cells"]}, tuple(task.data["start"]),
                            tuple(task.data["goal"]))
    config = SearchConfig(simulations=120, k=4, c=1.0, alpha=1.0, max_depth=len(optimal) + 2)
    # The episode is cut after `optimal` valid moves, so only a shortest path earns reward 1.
    tree = search_tasks(lambda: _env(task), [task], RandomMazeAgent(seed=1), None, config)[0]
    _check_tree(tree, 120)
    leaf = best_leaf(tree)
    assert tree.node(leaf)["ret"] == 1.0 and tree.node(leaf)["success"]
    assert _moves(tree, leaf) == optimal
    # A random walk almost never solves it in so few moves: the search found it.
    assert tree.node(tree.root)["q_mcts"] > 0


def test_alpha_one_is_pure_mcts_and_alpha_zero_pure_critic():
    task = maze_task(4, 6)
    critic = DistanceCritic([task])
    for alpha in (1.0, 0.0, 0.3):
        config = SearchConfig(simulations=20, k=4, alpha=alpha, max_depth=10)
        tree = search_tasks(lambda: _env(task), [task], RandomMazeAgent(seed=2), critic, config)[0]
        for node, data in tree.graph.nodes(data=True):
            qc = data["q_critic"]
            expected = data["q_mcts"] if qc is None else alpha * data["q_mcts"] + (1 - alpha) * qc
            assert data["q"] == pytest.approx(expected), (alpha, node)
    # alpha=0, c=0: selection follows the critic alone; a perfect critic walks the shortest
    # path one expansion per simulation, so after `optimal` simulations it is the most visited line.
    optimal = task.data["optimal"]
    config = SearchConfig(simulations=optimal, k=8, alpha=0.0, c=0.0, max_depth=optimal + 4)
    tree = search_tasks(lambda: MazeEnv(size=7), [task], RandomMazeAgent(seed=3), critic, config)[0]
    node, line = tree.root, []
    while tree.node(node)["expanded"]:
        node = max(tree.children(node), key=lambda c: tree.node(c)["q_critic"] or 0)
        line.append(node)
    assert _moves(tree, line[-1]) == shortest_path(
        {tuple(c) for c in task.data["cells"]}, tuple(task.data["start"]), tuple(task.data["goal"]))
    assert tree.node(line[-1])["success"]
    # An adversarial critic with alpha=0, c=0 is led astray: Q only follows the critic.
    bad = search_tasks(lambda: MazeEnv(size=7), [task], RandomMazeAgent(seed=3),
                       DistanceCritic([task], sign=-1), config)[0]
    first = max(bad.children(bad.root), key=lambda c: bad.node(c)["visits"])
    assert bad.edge(first)["invalid"]


def test_waves_batch_all_trees_into_one_call():
    tasks = MazeEnv(size=7, num_tasks=3).tasks("train")
    agent, critic = RandomMazeAgent(seed=4), DistanceCritic(tasks)
    config = SearchConfig(simulations=5, k=4, max_depth=6)
    trees = search_tasks(lambda: MazeEnv(size=7), tasks, agent, critic, config)
    assert len(trees) == 3 and [t.task_id for t in trees] == [t.id for t in tasks]
    # Wave 1: one expansion call with all 3 roots and K=4, then rollouts with K=1.
    assert agent.calls[0] == (3, 4)
    expansions = [n for n, k in agent.calls if k == 4]
    assert len(expansions) == len(critic.rank_calls) <= 5 and critic.rank_calls == expansions
    assert sum(n for n, k in agent.calls if k == 1) > 0
    for tree in trees:
        _check_tree(tree, 5)


class NoSnapshotMaze(MazeEnv):
    def snapshot(self):
        raise NotImplementedError


def test_replays_when_the_environment_cannot_snapshot():
    task = maze_task(4, 6)
    config = SearchConfig(simulations=15, k=3, max_depth=8, seed=7)
    mcts = MCTS(RandomMazeAgent(seed=5), None, config)
    replayed = mcts.search([NoSnapshotMaze(size=7)], [task])[0]
    snap = MCTS(RandomMazeAgent(seed=5), None, config).search([MazeEnv(size=7)], [task])[0]
    assert nx.utils.graphs_equal(replayed.graph, snap.graph)
    _check_tree(replayed, 15)


class FlippedRewardMaze(MazeEnv):
    """The same maze with the reward negated: a critic-valued search must not notice."""

    def step(self, action):
        result = super().step(action)
        return type(result)(result.observation, -result.reward, result.terminated,
                            result.truncated, result.info)


def test_critic_values_never_read_the_reward():
    task = maze_task(4, 6)
    config = SearchConfig(simulations=12, k=3, max_depth=8, value_source="critic")
    trees = [MCTS(RandomMazeAgent(seed=6), DistanceCritic([task]), config)
             .search([env], [task])[0] for env in (MazeEnv(size=7), FlippedRewardMaze(size=7))]
    for a, b in zip(trees[0].graph.nodes(data=True), trees[1].graph.nodes(data=True)):
        assert {k: v for k, v in a[1].items() if k not in ("reward", "ret")} == \
               {k: v for k, v in b[1].items() if k not in ("reward", "ret")}
    with pytest.raises(ValueError):
        MCTS(RandomMazeAgent(), None, config)


def test_invalid_and_unparsed_actions_are_kept_as_children():
    task = maze_task(4, 6)
    config = SearchConfig(simulations=10, k=6, max_depth=6)
    tree = search_tasks(lambda: MazeEnv(size=7), [task], RandomMazeAgent(seed=8, garbage=0.3),
                        None, config)[0]
    edges = [tree.graph.edges[e] for e in tree.graph.edges]
    assert any(e["invalid"] and e["parse_error"] for e in edges)
    assert any(e["invalid"] and not e["parse_error"] for e in edges)  # walls
    assert any(e["samples"] > 1 for e in edges)  # duplicates merged and counted


def test_puct_uses_the_critic_as_prior():
    task = maze_task(4, 6)
    critic = DistanceCritic([task])
    config = SearchConfig(simulations=16, k=6, c=2.0, alpha=1.0, selection="puct", max_depth=10)
    tree = search_tasks(lambda: MazeEnv(size=7), [task], RandomMazeAgent(seed=14), critic, config)[0]
    _check_tree(tree, 16)
    # With Q_mcts 0 everywhere before a success, the prior decides: the critic's favourite
    # root child gets the most visits.
    children = tree.children(tree.root)
    favourite = max(children, key=lambda c: tree.node(c)["q_critic"])
    assert tree.node(favourite)["visits"] == max(tree.node(c)["visits"] for c in children)


class ForkEnv:
    """Three roads from the start; only road a leads to the goal: sparse 0/1 reward."""

    name = "fork"

    def tasks(self, split):
        return [Task(id=f"fork-{split}", instruction="Take a road, then go.", split=split)]

    def reset(self, task):
        self.road = ""
        return "A fork: roads a, b and c."

    def step(self, action):
        if not self.road:
            self.road = action
            return StepResult(f"On road {action}.", 0.0, False, False, {})
        return StepResult("The road ends.", float(self.road == "a"), True, False,
                          {"success": self.road == "a"})

    def available_actions(self):
        return ["go"] if self.road else ["a", "b", "c"]

    def snapshot(self):
        return self.road

    def restore(self, road):
        self.road = road


class ForkAgent:
    """Proposes the three roads at the fork, in order, and `go` on a road."""

    def propose(self, states, k=1, sampling=None):
        return [[Proposal(a, a) for a in (["a", "b", "c"] if s.observation.startswith("A fork")
                                          else ["go"] * k)][:max(k, 1)] for s in states]


@pytest.mark.parametrize(("first_play", "unvisited"), [("parent", 0), ("zero", 2)])
def test_first_play_urgency_visits_the_siblings_of_a_success(first_play, unvisited):
    # Road a (the oldest child, so the first tried) succeeds at once. With an unvisited
    # child worth 0, Q(a) = 1 beats 0 + 0.25*sqrt(ln N) for any N < e^16: b and c are
    # never tried (the reproduction); worth its parent's Q, they compete on the bonus.
    config = SearchConfig(simulations=24, k=3, c=0.25, max_depth=3, first_play=first_play)
    tree = search_tasks(ForkEnv, ForkEnv().tasks("train"), ForkAgent(), None, config)[0]
    _check_tree(tree, 24)
    visits = [tree.node(child)["visits"] for child in tree.children(tree.root)]
    assert len(visits) == 3 and visits.count(0) == unvisited, visits
    assert tree.solved()
    if first_play == "parent":
        # b and c were tried and failed: a, the best road, still gets most simulations.
        assert visits[0] > 18 and tree.node(tree.children(tree.root)[1])["q_mcts"] == 0.0

