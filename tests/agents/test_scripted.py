"""The generic scripted doubles drive MCTS and all three builders on any environment
(here WebShop and the maze) without a model."""

from __future__ import annotations

from functools import partial

import pytest

from agentloop.agents.parsing import parse_action
from agentloop.agents.protocol import AgentState
from agentloop.agents.scripted import RandomAgent, ScriptedCritic
from agentloop.config import AgentConfig, BuildConfig
from agentloop.environments.codec import codec_of
from agentloop.environments.maze import MazeEnv
from agentloop.environments.webshop import WebShopEnv
from agentloop.run.from_config import revision_prompt
from agentloop.search import (
    RevisionConfig,
    SearchConfig,
    best_trajectories,
    revision_trajectories,
    search_tasks,
    step_pairs,
)

ENVS = {"maze": partial(MazeEnv, size=5, num_tasks=3),
        "webshop": partial(WebShopEnv, num_products=300, num_tasks=3)}


def stable_score(state: AgentState, action: str) -> float:
    """A critic with opinions that do not depend on the process (no `hash`)."""
    return (sum(map(ord, action)) % 5) / 4


def test_random_agent_writes_listed_actions_in_the_envs_syntax():
    env = MazeEnv(size=5, num_tasks=3)
    agent = RandomAgent(MazeEnv(size=5, num_tasks=3), seed=1)
    task = env.tasks("train")[0]
    state = AgentState(task.instruction, env.reset(task))
    for proposal in agent.propose([state], k=8)[0]:
        assert proposal.action in env.available_actions() and proposal.parse_error is None
        assert parse_action(proposal.completion, codec=codec_of(env)).action == proposal.action
    moved = state.then(proposal.completion, env.step(proposal.action).observation)
    assert agent.available(moved) == env.available_actions()  # the agent replays the state


def test_garbage_proposals_are_invalid_turns_in_search():
    env_factory = ENVS["maze"]
    agent = RandomAgent(env_factory(), seed=0, garbage=1.0)
    trees = search_tasks(env_factory, env_factory().tasks("train")[:1], agent, ScriptedCritic(),
                         SearchConfig(simulations=2, k=2, max_depth=2))
    edges = [trees[0].edge(n) for n in trees[0].graph.nodes if n != trees[0].root]
    assert edges and all(e["invalid"] and e["parse_error"] for e in edges)
    assert all(e["action"] == e["completion"] for e in edges)  # no Action: label: the whole text


@pytest.mark.parametrize("name", sorted(ENVS))
def test_mcts_and_every_builder_run_on_the_env_with_the_doubles(name):
    make = ENVS[name]
    env = make()
    agent, critic = RandomAgent(make(), seed=0, garbage=0.1), ScriptedCritic(score=stable_score)
    config = SearchConfig(simulations=6, k=3, max_depth=4)
    trees = search_tasks(make, env.tasks("train")[:2], agent, critic, config)
    for tree in trees:
        assert tree.node(tree.root)["visits"] == config.simulations
        for node in tree.graph.nodes:
            children = tree.children(node)
            if children and tree.node(node)["expanded"]:
                assert tree.node(node)["visits"] == sum(tree.node(c)["visits"] for c in children)
    imitable = BuildConfig().imitable_with(codec_of(env))
    pairs = step_pairs(trees, agent.prompt, imitable=imitable)
    assert pairs, "the critic's opinions separate siblings: some pair must come out"
    for pair in pairs:
        assert pair.chosen_q > pair.rejected_q and imitable(pair.chosen[0].content)
    # alpha/beta 0: every leaf is "good" and partners any other, so revisions come out
    # whatever random play reached; the judge calls no turn bad.
    whole = revision_prompt(AgentConfig(), config.max_depth, env)  # as the loop builds them
    revisions = revision_trajectories(trees, whole, critic, RevisionConfig(alpha=0.0, beta=0.0),
                                      imitable=imitable)
    assert revisions and all(len(r.train) == len(r.messages) for r in revisions)
    assert all(any(r.train) for r in revisions)  # the revision thought at least is trained
    best = best_trajectories(trees, agent.prompt, min_reward=0.0, imitable=imitable)
    assert {b.provenance.task_id for b in best} == {t.task_id for t in trees}
