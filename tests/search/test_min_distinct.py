"""`search.min_distinct`: a confident policy's expansions still get alternatives."""

from __future__ import annotations

from collections.abc import Sequence

from agentloop.environments.maze import MazeEnv
from agentloop.search import SearchConfig, search_tasks
from search_doubles import RandomMazeAgent, maze_task

from agentloop.agents.protocol import AgentState, Proposal
from agentloop.llm import Sampling


class ConfidentMazeAgent(RandomMazeAgent):
    """Below temperature 1 it always proposes its first open direction (as a trained model
    samples one action K times); at 1 and above it moves at random."""

    def __init__(self, seed: int = 0):
        super().__init__(seed=seed, wander=0.0)
        self.temperatures: list[float] = []

    def propose(self, states: Sequence[AgentState], k: int = 1,
                sampling: Sampling | None = None) -> list[list[Proposal]]:
        temperature = sampling.temperature if sampling else 0.0
        self.temperatures.append(temperature)
        if temperature >= 1.0:
            return super().propose(states, k, sampling)
        self.calls.append((len(states), k))
        first = [s.observation.split("Open directions: ")[-1].split(",")[0].strip(" .") for s in states]
        return [[Proposal(f"Action: move[{d}]", f"move[{d}]", (1,), (-0.1,)) for _ in range(k)]
                for d in first]


def _expanded_children(tree) -> list[int]:
    return [len(tree.children(n)) for n in tree.graph.nodes if tree.node(n).get("expanded")]


def test_a_confident_policy_gets_one_child_per_node_without_it():
    config = SearchConfig(simulations=6, k=4, max_depth=4, temperature=0.5, rollout_temperature=0.5)
    tree = search_tasks(lambda: MazeEnv(size=7), [maze_task(4, 6)], ConfidentMazeAgent(), None, config)[0]
    assert set(_expanded_children(tree)) == {1}


def test_nodes_short_of_min_distinct_are_proposed_to_again_hotter():
    agent = ConfidentMazeAgent(seed=3)
    config = SearchConfig(simulations=6, k=4, max_depth=4, temperature=0.5, rollout_temperature=0.5,
                          min_distinct=2, resample_temperature=1.0, resamples=3)
    tree = search_tasks(lambda: MazeEnv(size=7), [maze_task(4, 6)], agent, None, config)[0]
    counts = _expanded_children(tree)
    assert counts and sum(c >= 2 for c in counts) > len(counts) / 2
    assert 1.0 in agent.temperatures and 0.5 in agent.temperatures
    # Resampling asks again only for nodes still short, never more than `resamples` times per expansion.
    hot = [i for i, t in enumerate(agent.temperatures) if t == 1.0]
    assert all(agent.calls[i][1] == 4 for i in hot)


def test_min_distinct_one_changes_nothing():
    runs = []
    for config in (SearchConfig(simulations=5, k=3, max_depth=4, seed=2),
                   SearchConfig(simulations=5, k=3, max_depth=4, seed=2, min_distinct=1, resamples=5)):
        tree = search_tasks(lambda: MazeEnv(size=7), [maze_task(4, 6)], RandomMazeAgent(seed=5), None, config)[0]
        runs.append(sorted(tree.graph.edges))
    assert runs[0] == runs[1]
