"""Scripted doubles for any environment: a seeded random agent and a scripted critic.

They stand in for the model, so search, the runner and the training-data
builders can be smoke-tested on a new environment in seconds:

- `RandomAgent` writes `Thought: ...` / `Action: <action>` for an action drawn
  (seeded) from the env's `available_actions()` in that state, in the env's
  own syntax (its codec), and reads it back with the same parser as the ReAct
  agent. It knows the state by replaying the state's actions in its own env
  instance, so it needs nothing but the Environment protocol.
- `ScriptedCritic` ranks candidates by a function you give (uniform without
  one), calls no turn a mistake, and values states with another function.

Example:
    >>> env = MazeEnv()
    >>> agent, critic = RandomAgent(MazeEnv(), seed=0), ScriptedCritic()
    >>> trees = search_tasks(MazeEnv, env.tasks("train")[:2], agent, critic, SearchConfig(simulations=4))
    >>> pairs = step_pairs(trees, agent.prompt)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from agentloop.agents.parsing import parse_action
from agentloop.agents.protocol import AgentState, Proposal
from agentloop.agents.react import ReActAgent, system_prompt_of
from agentloop.environments.codec import codec_of
from agentloop.environments.protocol import Environment, Task
from agentloop.llm.protocol import Sampling
from agentloop.records import Message

Score = Callable[[AgentState, str], float]


class RandomAgent:
    """Picks a listed action at random (seeded); with probability `garbage` writes text
    that holds no action, so invalid turns are exercised too.

    Args:
        env: an instance for the agent alone (it is reset and stepped to read the
            available actions of each state; never the one being searched).
        seed: seed of the choices.
        garbage: probability of a completion without an action.
        fill: the text put in a pattern's `...` (`search[...]`); default: the
            instruction's first words.
        splits: the splits whose tasks the agent may be asked about.
    """

    def __init__(self, env: Environment, seed: int = 0, garbage: float = 0.0,
                 fill: Callable[[AgentState], str] | None = None,
                 splits: Sequence[str] = ("train", "test")):
        self.env, self.rng, self.garbage = env, random.Random(seed), garbage
        self.codec = codec_of(env)
        self.fill = fill or (lambda state: " ".join(state.instruction.split()[:6]))
        self.tasks: dict[str, Task] = {}
        for split in splits:
            for task in env.tasks(split):
                self.tasks.setdefault(task.instruction, task)
                for role in getattr(env, "roles", ()) if hasattr(env, "instruction") else ():
                    self.tasks.setdefault(env.instruction(task, role), task)  # what each role is told
        self._react = ReActAgent(None, system_prompt=system_prompt_of(env),
                                 demonstration=getattr(env, "demonstration", ()), codec=self.codec)

    def available(self, state: AgentState) -> list[str]:
        """The env's available actions in `state` (replayed from the task's start)."""
        task = self.tasks.get(state.instruction)
        if task is None:
            raise KeyError(f"no task of the env has the instruction {state.instruction[:60]!r}")
        self.env.reset(task)
        if state.actions:  # a tree's state: every role's actions (its history is the role's own)
            for action in state.actions:
                self.env.step(action)
        for turn in () if state.actions else state.history:
            parsed = parse_action(turn.completion, codec=self.codec)
            self.env.step(parsed.action if parsed.action is not None else parsed.written)
        return [a.replace("...", self.fill(state)) for a in self.env.available_actions()]

    def _one(self, actions: list[str]) -> Proposal:
        if not actions or self.rng.random() < self.garbage:
            completion = "Thought: I am not sure what to do."
        else:
            action = self.rng.choice(actions)
            completion = f"Thought: I will try {action}.\nAction: {self.codec.format(action)}"
        parsed = parse_action(completion, codec=self.codec)
        return Proposal(completion, parsed.action if parsed.action is not None else parsed.written,
                        parse_error=parsed.error)

    def propose(self, states: Sequence[AgentState], k: int = 1,
                sampling: Sampling | None = None) -> list[list[Proposal]]:
        return [[self._one(actions) for _ in range(k)]
                for actions in (self.available(state) for state in states)]

    def prompt(self, state: AgentState) -> list[Message]:
        """The prompt a ReAct agent on this env would read (what the builders record)."""
        return self._react.prompt(state)


class ScriptedCritic:
    """A critic from plain functions.

    Args:
        score: `score(state, action)` in [0, 1] for `rank` (None: 0.5 for all).
        value: `value(state)` in [0, 1] for MCTS at inference (None: 0.5).
    """

    def __init__(self, score: Score | None = None, value: Callable[[AgentState], float] | None = None):
        self.score, self._value = score, value

    def rank(self, states: Sequence[AgentState], candidates: Sequence[Sequence[str]]) -> list[list[float]]:
        return [[self.score(s, a) if self.score else 0.5 for a in actions]
                for s, actions in zip(states, candidates, strict=True)]

    def judge(self, paths: Sequence[AgentState]) -> list[list[float]]:
        return [[0.0] * len(path.history) for path in paths]

    def value(self, states: Sequence[AgentState]) -> list[float]:
        return [self._value(s) if self._value else 0.5 for s in states]
