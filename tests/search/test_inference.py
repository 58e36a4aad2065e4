"""Policy + MCTS at inference: acts after searching, never reads the reward unless an oracle."""

from __future__ import annotations

import pytest
from agentloop.environments.maze import MazeEnv
from agentloop.search import SearchConfig, solve_tasks
from search_doubles import DistanceCritic, RandomMazeAgent, maze_task

from agentloop.agents.protocol import AgentState


def test_critic_valued_search_solves_mazes_the_random_policy_does_not():
    tasks = [maze_task(5, 6), maze_task(7, 8)]
    config = SearchConfig(simulations=4, k=4, alpha=0.5, max_depth=12, value_source="critic")
    results = solve_tasks(lambda: MazeEnv(size=7), tasks, RandomMazeAgent(seed=12),
                          DistanceCritic(tasks), config)
    assert [r.setting for r in results] == ["mcts", "mcts"]
    for task, result in zip(tasks, results):
        record = result.trajectory
        assert record.success and record.num_steps == task.data["optimal"]
        assert record.provenance.node_ids[0] == "0" and record.task_id == task.id
    # The same budget of plain policy episodes (random walks) does not get there.
    env, agent = MazeEnv(size=7, max_steps=12), RandomMazeAgent(seed=12)
    solved = 0
    for task in tasks:
        state = AgentState(task.instruction, env.reset(task))
        for _ in range(12):
            result = env.step(agent.propose([state], 1)[0][0].action)
            state = state.then("", result.observation)
            if result.terminated or result.truncated:
                solved += result.reward == 1.0
                break
    assert solved < len(tasks)


def test_oracle_is_labelled_and_plain_reward_is_refused():
    task = maze_task(4, 5)
    config = SearchConfig(simulations=30, k=4, max_depth=8, value_source="oracle")
    (result,) = solve_tasks(lambda: MazeEnv(size=7), [task], RandomMazeAgent(seed=13), None, config)
    assert result.setting == "mcts-oracle" and result.trajectory.success
    with pytest.raises(ValueError, match="oracle"):
        solve_tasks(lambda: MazeEnv(size=7), [task], RandomMazeAgent(), None,
                    SearchConfig(value_source="reward"))
