"""The runner and search agree on the protocol's rules: an episode's return is the sum
of its step rewards, success is read in the env's reward range, a turn is invalid when
it did not parse OR the env flagged it, and an env without snapshots is replayed. The
builders' thresholds are fractions of the declared range."""

from __future__ import annotations

import pytest

from agentloop.agents.protocol import AgentState, Proposal
from agentloop.environments.protocol import StepResult, Task
from agentloop.run.episodes import run_episodes
from agentloop.search import MCTS, SearchConfig, Tree, best_trajectories, step_pairs


class StairsEnv:
    """`up[]` climbs one of four stairs, each paying `top / 4`; the fourth ends the episode.
    Anything else is answered but NOT flagged invalid (a lax env), and changes nothing."""

    name = "stairs"

    def __init__(self, top: float = 1.0, snapshots: bool = True):
        self.reward_range = (0.0, top)
        self.top, self.snapshots, self.height = top, snapshots, 0

    def tasks(self, split):
        return [Task(f"stairs-{split}-{i}", "Climb the stairs.", split) for i in range(2)]

    def reset(self, task):
        self.height = 0
        return "You stand at the bottom, step 0."

    def step(self, action):
        if action != "up[]":
            return StepResult(f"Nothing happens, step {self.height}.", 0.0, False, False, {})
        self.height += 1
        return StepResult(f"You are on step {self.height}.", self.top / 4, self.height == 4, False, {})

    def available_actions(self):
        return ["up[]"]

    def snapshot(self):
        if not self.snapshots:
            raise NotImplementedError
        return self.height

    def restore(self, state):
        self.height = state


class Climber:
    """Climbs; at `garbled` turns writes text without an action (a parse error)."""

    def __init__(self, garbled=()):
        self.garbled = set(garbled)

    def prompt(self, state):
        return []

    def propose(self, states, k=1, sampling=None):
        def one(state: AgentState) -> Proposal:
            if len(state.history) in self.garbled:
                return Proposal("Thought: hmm.", "Thought: hmm.", parse_error="no action")
            return Proposal("Thought: up.\nAction: up[]", "up[]")
        return [[one(s) for _ in range(k)] for s in states]


@pytest.mark.parametrize("top", [1.0, 10.0])
@pytest.mark.parametrize("snapshots", [True, False])
def test_runner_sums_step_rewards_and_reads_success_in_the_range(top, snapshots):
    env = StairsEnv(top, snapshots)
    (trajectory, _) = run_episodes(env, env.tasks("train"), Climber(garbled=[1]), max_steps=8,
                                   progress=False)
    assert trajectory.reward == pytest.approx(top) and trajectory.success and trajectory.terminated
    assert [s.invalid for s in trajectory.steps] == [False, True, False, False, False]
    assert [s.reward for s in trajectory.steps] == [top / 4, 0.0, top / 4, top / 4, top / 4]


def test_runner_and_search_count_the_same_turn_invalid_and_the_same_return():
    env = StairsEnv(10.0)
    task = env.tasks("train")[0]
    (trajectory,) = run_episodes(env, [task], Climber(garbled=[1]), max_steps=8, progress=False)
    search = MCTS(Climber(garbled=[1]), None, SearchConfig(simulations=1, k=1, max_depth=8), progress=False)
    (tree,) = search.search([StairsEnv(10.0)], [task])
    leaf = next(iter(tree.leaves()))
    path = tree.path(leaf)[1:]
    assert [tree.edge(n)["invalid"] for n in path] == [s.invalid for s in trajectory.steps]
    assert tree.node(leaf)["ret"] == trajectory.reward and tree.node(leaf)["success"] == trajectory.success
    assert tree.reward_range == (0.0, 10.0)


def _two_children(span, q_a, q_b) -> Tree:
    tree = Tree.new("t", "Climb.", "bottom", reward_range=list(span))
    tree.node(tree.root).update(visits=2, expanded=True)
    for q in (q_a, q_b):
        child = tree.add_child(tree.root, "next", "up[]", completion=f"Thought: q {q}.\nAction: up[]",
                               reward=q, terminated=True)
        tree.node(child).update(visits=1, q=q)
    return tree


def test_builder_thresholds_are_fractions_of_the_declared_range():
    prompt = lambda state: []  # noqa: E731
    # Q differs by 0.5: a pair in a (0, 1) env, within the default margin (0.1 of 10) in a (0, 10) one.
    assert len(step_pairs([_two_children((0.0, 1.0), 0.2, 0.7)], prompt)) == 1
    assert step_pairs([_two_children((0.0, 10.0), 5.0, 5.5)], prompt) == []
    assert len(step_pairs([_two_children((0.0, 10.0), 5.0, 7.0)], prompt)) == 1
    # best path minimum 1.0 is the top of the range: 7 of 10 is not enough, 10 is.
    assert best_trajectories([_two_children((0.0, 10.0), 5.0, 7.0)], prompt, min_reward=1.0) == []
    assert len(best_trajectories([_two_children((0.0, 10.0), 5.0, 10.0)], prompt, min_reward=1.0)) == 1
