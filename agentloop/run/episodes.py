"""The episode runner: many episodes at once, one batched LLM call per wave.

All live episodes share one environment object: each episode's state is a
snapshot, restored before its step and taken again after it (snapshot/restore
is part of the Environment contract and costs microseconds), so a 100k-product
shop is held once, not once per episode. An environment without snapshots is
replayed instead (reset and the episode's actions before each step). An
episode's reward is the sum of its step rewards, and a turn is invalid by
`invalid_turn`, as in search. Each wave asks the agent for one
action for every live episode in a single `propose` call, steps them, and
writes each finished trajectory to JSONL at once; re-running with the same
output file skips the tasks already there, so an interrupted run keeps what it
finished.

Example:
    >>> trajectories = run_episodes(env, env.tasks("test")[:16], agent,
    ...                             output="runs/demo/trajectories.jsonl")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentloop.agents.protocol import Agent, AgentState, Proposal, invalid_turn
from agentloop.environments.protocol import Environment, Task, reward_range, succeeded, try_snapshot
from agentloop.jsonl import JsonlWriter, read_jsonl
from agentloop.llm.protocol import Sampling
from agentloop.progress import progress_bar
from agentloop.records import Message, Provenance, Step, Trajectory


@dataclass
class _Episode:
    task: Task
    state: AgentState
    env_state: Any
    """The env's snapshot after the last step; None: the env has none (replay)."""
    steps: list[Step] = field(default_factory=list)
    reward: float = 0.0
    success: bool = False
    terminated: bool = False
    truncated: bool = False


def _finish(episode: _Episode, agent: Agent, provenance: Provenance) -> Trajectory:
    last = episode.steps[-1] if episode.steps else None
    messages = list(agent.prompt(episode.state)) if last is None else [
        *agent.prompt(_state_before_last(episode.state)), Message(role="assistant", content=last.completion)]
    return Trajectory(
        task_id=episode.task.id, instruction=episode.task.instruction, steps=tuple(episode.steps),
        reward=episode.reward, success=episode.success, terminated=episode.terminated,
        truncated=episode.truncated, provenance=provenance.model_copy(update={"task_id": episode.task.id}),
        messages=tuple(messages),
    )


def _state_before_last(state: AgentState) -> AgentState:
    previous = state.history[-1]
    return AgentState(state.instruction, previous.observation, state.history[:-1], state.role)


def run_episodes(
    env: Environment,
    tasks: Sequence[Task],
    agent: Agent,
    max_steps: int = 15,
    concurrency: int = 16,
    sampling: Sampling | None = None,
    output: str | os.PathLike | None = None,
    provenance: Provenance | None = None,
    progress: bool = True,
) -> list[Trajectory]:
    """Play `tasks` with `agent`, `concurrency` episodes at a time; return the trajectories.

    Args:
        env: the environment (one object serves all episodes via snapshot/restore).
        tasks: tasks to play, each once.
        agent: proposes one action per live episode per wave.
        max_steps: agent turns before an episode is cut off (truncated).
        concurrency: episodes live at once (the LLM batch size).
        sampling: sampling for the agent (None: the agent's default).
        output: JSONL file; finished trajectories are appended as they end and
            tasks already in it are not played again.
        provenance: run/round recorded on every trajectory.
        progress: show a bar of episodes done and success so far
            (`agentloop.progress`: tqdm, or the display of `agentloop run`).
    """
    provenance = provenance or Provenance()
    done: dict[str, Trajectory] = {}
    if output is not None and Path(output).exists():
        done = {t.task_id: t for t in read_jsonl(output, Trajectory)}
    pending = [t for t in tasks if t.id not in done]
    span = reward_range(env)
    writer = JsonlWriter(output) if output is not None else None
    bar = progress_bar(total=len(tasks), initial=len(tasks) - len(pending), desc="episodes",
                       unit="ep", enabled=progress)
    live: list[_Episode] = []
    try:
        while pending or live:
            while pending and len(live) < concurrency:
                task = pending.pop(0)
                observation = env.reset(task)
                live.append(_Episode(task, AgentState(task.instruction, observation), try_snapshot(env)))
            proposals = agent.propose([e.state for e in live], k=1, sampling=sampling)
            still = []
            for episode, (proposal,) in zip(live, proposals):
                _advance(env, episode, proposal, max_steps, span)
                if episode.terminated or episode.truncated:
                    trajectory = _finish(episode, agent, provenance)
                    done[episode.task.id] = trajectory
                    if writer:
                        writer.write(trajectory)
                    bar.update(1)
                    bar.set_postfix(success=f"{sum(t.success for t in done.values())}/{len(done)}")
                else:
                    still.append(episode)
            live = still
    finally:
        bar.close()
        if writer:
            writer.close()
    return [done[t.id] for t in tasks if t.id in done]


def _resume(env: Environment, episode: _Episode) -> None:
    """Put the shared env back into `episode`'s state: restore, or replay without snapshots."""
    if episode.env_state is not None:
        env.restore(episode.env_state)
        return
    env.reset(episode.task)
    for step in episode.steps:
        env.step(step.action)


def _advance(env: Environment, episode: _Episode, proposal: Proposal, max_steps: int,
             span: tuple[float, float]) -> None:
    _resume(env, episode)
    result = env.step(proposal.action)
    episode.env_state = try_snapshot(env)
    invalid = invalid_turn(proposal, result.info)
    episode.steps.append(Step(
        observation=episode.state.observation, completion=proposal.completion, action=proposal.action,
        token_ids=proposal.token_ids, logprobs=proposal.logprobs, reward=result.reward, invalid=invalid,
        role=episode.state.role,
    ))
    episode.state = episode.state.then(proposal.completion, result.observation)
    episode.reward += result.reward
    episode.success = succeeded(result.info, episode.reward, result.terminated, span)
    episode.terminated = result.terminated
    episode.truncated = result.truncated or (not result.terminated and len(episode.steps) >= max_steps)
