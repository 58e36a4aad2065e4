"""`loop.feedback`: the collect phase plays each train task once, asks the same model for
feedback, and searches with a `FeedbackAgent` whose prompt is the plain agent's."""

from __future__ import annotations

import pytest

from agentloop.agents.feedback_agent import FEEDBACK_HEADER, FeedbackAgent
from agentloop.agents.protocol import AgentState
from agentloop.config import load_config
from agentloop.run import rounds
from agentloop.run.rundir import RunDir


class Searched(Exception):
    """Raised by the stand-in search once it has seen the agent (the search itself is MCTS's)."""


def test_collect_searches_with_feedback_on_the_plain_prompt(tmp_path, tiny_model_dir, monkeypatch):
    config = load_config(None, ["env.kind=negotiation", "env.num_tasks=20", "loop.train_tasks=2",
                                "loop.rounds=1", "loop.feedback=true", f"loop.runs_dir={tmp_path}",
                                "agent.max_steps=2", "agent.max_new_tokens=8"])
    run = RunDir.open(config)
    run.set_model(0, str(tiny_model_dir))
    seen = []

    def search_tasks(new_env, tasks, agent, critic, search_config):
        seen.append((tasks, agent))
        raise Searched

    made = []
    real_feedback = rounds.game_feedback

    def game_feedback(llm, env, agent, tasks, *args):
        made.append((tasks, real_feedback(llm, env, agent, tasks, *args)))
        return made[-1][1]

    monkeypatch.setattr(rounds, "search_tasks", search_tasks)
    monkeypatch.setattr(rounds, "game_feedback", game_feedback)
    session = rounds.Session(config, run)
    with pytest.raises(Searched):
        rounds.collect_phase(session, 1)
    (tasks, agent), = seen
    assert isinstance(agent, FeedbackAgent)
    # The feedback was made on the tasks searched (a tiny random model's critic may say nothing).
    (feedback_tasks, feedback), = made
    assert feedback_tasks == tasks and agent.feedback == {k: v for k, v in feedback.items() if v.strip()}
    assert set(feedback) == {t.instruction for t in tasks}
    state = AgentState(tasks[0].instruction, session.env.reset(tasks[0]))
    assert agent.prompt(state) == agent.agent.prompt(state)
    assert all(FEEDBACK_HEADER not in m.content for m in agent.prompt(state))
