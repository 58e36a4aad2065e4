"""The episode runner: one batched agent call per wave, trajectories with token
log-probs, JSONL written as episodes end, and an interrupted run resumed."""

from __future__ import annotations

import pytest
from agentloop.environments.maze import MazeEnv, shortest_path

from agentloop.agents.protocol import AgentState, Proposal
from agentloop.agents.react import ReActAgent
from agentloop.jsonl import read_jsonl
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.records import Message, Trajectory
from agentloop.run.episodes import run_episodes


class ExpertMazeAgent:
    """Scripted agent (test double): walks the shortest path; counts its calls."""

    def __init__(self, env: MazeEnv, crash_after: int | None = None):
        self.env, self.calls, self.crash_after = env, [], crash_after
        self.by_instruction = {t.instruction: t for split in ("train", "test") for t in env.tasks(split)}

    def prompt(self, state):
        return []

    def propose(self, states, k=1, sampling=None):
        if self.crash_after is not None and len(self.calls) >= self.crash_after:
            raise KeyboardInterrupt
        self.calls.append(len(states))
        out = []
        for state in states:
            task = self.by_instruction[state.instruction]
            cells = {tuple(c) for c in task.data["cells"]}
            here = tuple(int(x) for x in state.observation.split("(")[1].split(")")[0].split(","))
            move = shortest_path(cells, here, tuple(task.data["goal"]))[0]
            out.append([Proposal(f"Action: move[{move}]", f"move[{move}]", (1,), (-0.1,))] * k)
        return out


def test_live_episodes_share_one_call_per_wave(tmp_path):
    env = MazeEnv(size=7, num_tasks=6)
    agent = ExpertMazeAgent(env)
    tasks = env.tasks("test")
    trajectories = run_episodes(env, tasks, agent, max_steps=50, concurrency=4, progress=False)
    assert all(t.success and t.reward == 1.0 for t in trajectories)
    assert [t.num_steps for t in trajectories] == [t.data["optimal"] for t in tasks]
    assert agent.calls[0] == 4 and max(agent.calls) == 4
    assert sum(agent.calls) == sum(t.num_steps for t in trajectories)


def test_interrupted_run_keeps_finished_work_and_resumes(tmp_path):
    env = MazeEnv(size=9, num_tasks=8)
    tasks = env.tasks("train")
    output = tmp_path / "traj.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_episodes(env, tasks, ExpertMazeAgent(env, crash_after=20), max_steps=50, concurrency=2,
                     output=output, progress=False)
    kept = read_jsonl(output, Trajectory)
    assert 0 < len(kept) < len(tasks)
    resumed_agent = ExpertMazeAgent(env)
    trajectories = run_episodes(env, tasks, resumed_agent, max_steps=50, concurrency=2, output=output,
                                progress=False)
    assert [t.task_id for t in trajectories] == [t.id for t in tasks]
    assert sorted(t.task_id for t in read_jsonl(output, Trajectory)) == sorted(t.id for t in tasks)
    assert sum(resumed_agent.calls) < sum(t.num_steps for t in trajectories)  # finished ones not replayed


def test_react_agent_on_a_real_tiny_model_records_token_logprobs(tiny_model_dir):
    env = MazeEnv(size=5, num_tasks=3, max_steps=3)
    llm = TransformersBackend.from_pretrained(tiny_model_dir)
    agent = ReActAgent(llm, env.system_prompt, verbs=env.action_verbs)
    trajectories = run_episodes(env, env.tasks("test"), agent, max_steps=2, progress=False)
    assert len(trajectories) == 3
    for trajectory in trajectories:
        assert trajectory.truncated or trajectory.terminated
        for step in trajectory.steps:
            assert len(step.token_ids) == len(step.logprobs) > 0
            assert all(lp <= 0 for lp in step.logprobs)
            assert step.invalid  # a random model does not write valid moves
        assert trajectory.messages[-1].role == "assistant"
        assert trajectory.messages[0].content == env.system_prompt


def test_prompt_keeps_task_and_recent_history():
    agent = ReActAgent(llm=None, system_prompt="sys", max_history=2)
    state = AgentState("find the goal", "obs0")
    for i in range(1, 5):
        state = state.then(f"act{i - 1}", f"obs{i}")
    messages = agent.prompt(state)
    assert messages[0].content == "sys"
    assert "find the goal" in messages[1].content and "obs0" in messages[1].content
    assert "2 earlier steps" in messages[2].content
    assert [m.content for m in messages[3:]] == ["Observation: obs2", "act2", "Observation: obs3", "act3",
                                                 "Observation: obs4"]


def test_prompt_puts_the_demonstration_between_rules_and_task():
    example = (Message(role="user", content="example obs"), Message(role="assistant", content="example act"))
    agent = ReActAgent(llm=None, system_prompt="sys", max_history=0, demonstration=example)
    state = AgentState("find the goal", "obs0").then("act0", "obs1")
    contents = [m.content for m in agent.prompt(state)]
    assert contents[:3] == ["sys", "example obs", "example act"]
    assert "find the goal" in contents[3] and "1 earlier step." in contents[4]
    assert contents[5:] == ["Observation: obs1"]
