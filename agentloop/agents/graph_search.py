"""Searching a user's LangGraph graph with agentloop's MCTS: the graph as an
Environment whose actions are the model's completions.

In search mode the graph's `AgentloopChatModel` does not generate: it calls
LangGraph's `interrupt()` with its prompt, so the graph pauses at every model
call. `GraphEnv` turns that into the Environment contract:
- the observation is the paused call (its node and prompt messages, as JSON);
- `step(completion)` resumes the graph with `Command(resume=completion)` and
  runs it to the next model call or to its end;
- `snapshot()` is the paused checkpoint's config (plus the state of the
  environment the graph acts in), so a tree node is a checkpoint.

Resuming the same paused checkpoint twice silently replays the first answer
(langgraph issue #6663: the first resume's value stays among that checkpoint's
pending writes). Every step therefore first forks the checkpoint with
`update_state(config, None, as_node="__copy__")` and resumes the fork. A
node that makes several calls re-runs from its start on resume, so the answers
its earlier calls got in this super-step are replayed into the fork first.

`GraphAgent` is the matching Agent: its prompt for a state is the paused
call's messages, so the tree -> data builders (`step_pairs`,
`best_trajectories`, `revision_trajectories`) train on exactly what the graph
showed the model.

Limits: one model call pending at a time (no parallel LLM branches in one
super-step), and a node that steps the environment must not do so before its
model call in the same node (it would step twice on replay). Cost: see
`tests/agents/test_graph_search.py` and the README (milliseconds per step).

Example:
    >>> graph = build_graph(AgentloopChatModel(llm=llm), checkpointer=InMemorySaver())
    >>> make = lambda: GraphEnv(graph, lambda: WebShopEnv(num_products=2000))
    >>> trees = search_tasks(make, tasks, GraphAgent(llm), None, SearchConfig(simulations=8))
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentloop.agents.chat_model import Episode
from agentloop.agents.graph_episodes import EpisodeEnv, default_input
from agentloop.agents.protocol import AgentState, Proposal
from agentloop.environments.protocol import Environment, StepResult, Task
from agentloop.llm.protocol import LLM, Sampling
from agentloop.records import Message


@dataclass(frozen=True)
class _Paused:
    """Where a search stands: the paused checkpoint and what the fork must replay."""

    config: dict[str, Any]
    answers: tuple[str, ...]
    """Answers already given to the paused node's earlier calls in this super-step."""
    observation: str
    env_state: Any
    env_steps: tuple
    episode: Episode
    env: EpisodeEnv | None
    done: bool = False


class GraphEnv:
    """A compiled graph (with a checkpointer) as an Environment for MCTS.

    Args:
        graph: the user's graph, compiled with a checkpointer, its model an `AgentloopChatModel`.
        make_env: the environment the graph acts in (handed to its nodes as
            `config["configurable"]["env"]`); None for a graph that acts alone.
        make_input: the graph's input for a task and the first observation.
        reward: the run's reward from its final state (None: the environment's last reward).
        tasks: the tasks when there is no environment to list them.
        recursion_limit: LangGraph super-steps per resume before the episode is truncated.
    """

    def __init__(self, graph: Any, make_env: Callable[[], Environment] | None = None,
                 make_input: Callable[[Task, str | None], Any] = default_input,
                 reward: Callable[[Any], float] | None = None, tasks: Sequence[Task] = (),
                 recursion_limit: int = 50):
        if getattr(graph, "checkpointer", None) is None:
            raise ValueError("GraphEnv needs a graph compiled with a checkpointer")
        self.graph, self.make_input, self.reward, self.recursion_limit = graph, make_input, reward, recursion_limit
        self.inner = make_env() if make_env is not None else None
        self.name = f"graph:{getattr(self.inner, 'name', 'none')}"
        self._tasks = list(tasks)
        self._episode: Episode | None = None
        self._env: EpisodeEnv | None = None
        self._paused: _Paused | None = None

    def tasks(self, split: str) -> Sequence[Task]:
        return self.inner.tasks(split) if self.inner is not None else [t for t in self._tasks if t.split == split]

    def reset(self, task: Task) -> str:
        self._episode = Episode(task.id, search=True)
        observation = self.inner.reset(task) if self.inner is not None else None
        self._env = EpisodeEnv(self.inner, self._episode, observation) if self.inner is not None else None
        config = {"configurable": {"thread_id": f"{task.id}-{uuid.uuid4().hex[:8]}"}}
        output = self._invoke(self.make_input(task, observation), config)
        paused = self._pause(output, self.graph.get_state(config).config, ())
        return paused.observation

    def step(self, action: str) -> StepResult:
        from langgraph.types import Command

        paused = self._paused
        if paused is None or paused.done:
            return StepResult("The episode is over.", 0.0, False, False, {"invalid": True})
        before = len(self._env.steps) if self._env is not None else 0
        # Fork first: resuming `paused.config` itself would replay its first answer (#6663).
        fork = self.graph.update_state(paused.config, None, as_node="__copy__")
        for answer in paused.answers:
            self._invoke(Command(resume=answer), fork)
        try:
            output = self._invoke(Command(resume=action), fork)
        except _Truncated:
            self._paused = _Paused(fork, (), "The episode was cut off.", None, (), self._episode, self._env,
                                   done=True)
            return StepResult("The episode was cut off.", 0.0, False, True, {"invalid": False})
        head = self.graph.get_state({"configurable": {"thread_id": fork["configurable"]["thread_id"]}}).config
        # Still the same super-step (no new checkpoint): the node paused again at a later call.
        same_step = head["configurable"]["checkpoint_id"] == fork["configurable"]["checkpoint_id"]
        now = self._pause(output, head, (*paused.answers, action) if same_step else ())
        taken = [result for _, _, result in (self._env.steps[before:] if self._env is not None else [])]
        info: dict[str, Any] = {"invalid": False, "env_steps": [a for _, a, _ in self._env.steps[before:]]
                                if self._env is not None else []}
        if self.reward is not None:  # the whole return, paid when the graph ends
            reward = float(self.reward(output)) if now.done else 0.0
            if now.done:
                info["success"] = reward >= 1.0
        else:  # the environment's rewards of the steps the graph took in this resume
            reward = sum(result.reward for result in taken)
            if now.done and taken:
                last = taken[-1]
                info["success"] = bool(last.info.get("success", last.terminated and last.reward >= 1.0))
        # The shop cut the episode off (its step limit): truncated, as the env said.
        cut = now.done and self._env is not None and bool(self._env.steps) and self._env.steps[-1][2].truncated
        return StepResult(now.observation, reward, now.done and not cut, cut, info)

    @property
    def reward_range(self) -> tuple[float, float]:
        from agentloop.environments.protocol import reward_range

        return reward_range(self.inner) if self.inner is not None else (0.0, 1.0)

    def available_actions(self) -> list[str]:
        return []  # any completion is an action

    def snapshot(self) -> _Paused:
        assert self._paused is not None, "reset first"
        return self._paused

    def restore(self, state: _Paused) -> None:
        # Another episode may have been reset since (the episode runner shares one env).
        self._paused, self._episode, self._env = state, state.episode, state.env
        if self._env is not None and state.env_state is not None:
            self.inner.restore(state.env_state)
            self._env.steps = list(state.env_steps)

    def _invoke(self, value: Any, config: dict[str, Any]) -> Any:
        from langgraph.errors import GraphRecursionError

        config = {**config, "recursion_limit": self.recursion_limit,
                  "configurable": {**config["configurable"], "env": self._env}}
        with self._episode.active():
            try:
                return self.graph.invoke(value, config)
            except GraphRecursionError:
                raise _Truncated() from None

    def _pause(self, output: Any, config: dict[str, Any], answers: tuple[str, ...]) -> _Paused:
        interrupts = output.get("__interrupt__", ()) if isinstance(output, dict) else ()
        env_state = self.inner.snapshot() if self.inner is not None else None
        steps = tuple(self._env.steps) if self._env is not None else ()
        if not interrupts:
            observation = self._env.observation if self._env is not None else "The graph has finished."
            self._paused = _Paused(config, (), observation, env_state, steps, self._episode, self._env, done=True)
        else:
            self._paused = _Paused(config, answers, json.dumps(interrupts[0].value), env_state, steps,
                                   self._episode, self._env)
        return self._paused


class _Truncated(Exception):
    """The graph ran past its recursion limit."""


def paused_messages(observation: str) -> list[Message]:
    """The prompt of the paused model call an observation of `GraphEnv` describes
    (a finished episode's last page, which no call reads, as one user message)."""
    try:
        return [Message.model_validate(m) for m in json.loads(observation)["prompt"]]
    except (json.JSONDecodeError, KeyError, TypeError):
        return [Message(role="user", content=observation)]


class GraphAgent:
    """The Agent that plays a `GraphEnv`: it completes the paused call's prompt.

    Args:
        llm: the backend the graph's model runs on.
        sampling: default sampling (MCTS passes its own).
    """

    def __init__(self, llm: LLM, sampling: Sampling = Sampling(max_new_tokens=64)):
        self.llm, self.sampling = llm, sampling

    def prompt(self, state: AgentState) -> list[Message]:
        return paused_messages(state.observation)

    def propose(self, states: Sequence[AgentState], k: int = 1,
                sampling: Sampling | None = None) -> list[list[Proposal]]:
        if not states:
            return []
        outputs = self.llm.generate([self.prompt(s) for s in states], n=k, sampling=sampling or self.sampling)
        return [[Proposal(c.text, c.text, c.token_ids, c.logprobs) for c in completions]
                for completions in outputs]
