"""iTool's deficiency selection: search the tasks the policy finds hardest.

Each iteration of iTool (Zeng et al. 2025) scores every training sample by the
policy's perplexity on its ground-truth response and keeps the hardest 30%,
tool-call and plain answers sorted separately. Here a task's ground truth is
the env's scripted `solution(task)`: its actions are played through a fresh env
to get the observations the agent would see, each is written as the agent
writes a turn (`response_prefix`, a fixed thought, then `Action: <action>`),
and the policy scores the action text after the agent's own prompt. A task's
perplexity is exp of the mean negative log-prob per action token over its
steps. Tasks whose solution calls no tool (it only answers) form one group,
the rest another; the hardest `fraction` of each group is kept (at least one
task of a non-empty group), in the tasks' own order.

Example:
    >>> hardest = select_hardest(tasks, 0.3, llm, agent.prompt, env_factory)
    >>> len(hardest) <= len(tasks)
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

from agentloop.environments.protocol import Environment, Task
from agentloop.search.conversation import PromptFn

from agentloop.agents.protocol import AgentState
from agentloop.llm.protocol import LLM

THOUGHT = "I take the next step."
"""The thought written before each ground-truth action (only the action is scored)."""


def calls_a_tool(action: str) -> bool:
    """Whether a tool-world action is a call (`{"tool": ...}`) rather than an answer."""
    try:
        return "tool" in json.loads(action)
    except (json.JSONDecodeError, TypeError):
        return True  # another env's syntax (e.g. `cd(folder='x')`) is a call


def ground_truth_prompts(task: Task, actions: Sequence[str], env: Environment, prompt: PromptFn,
                         render: Callable[[list], str], response_prefix: str = "Thought:") -> list[str]:
    """For each action of the solution, the text the policy reads before writing it:
    the agent's prompt on the state so far, its response prefix, the thought and
    "Action: " (the action itself is the continuation that is scored)."""
    state = AgentState(task.instruction, env.reset(task))
    head = f"{response_prefix} {THOUGHT}\nAction: "
    texts = []
    for action in actions:
        texts.append(render(prompt(state)) + head)
        state = state.then(f"{head}{action}".strip(), env.step(action).observation)
    return texts


def task_perplexities(tasks: Sequence[Task], llm: LLM, prompt: PromptFn, make_env: Callable[[], Environment],
                      response_prefix: str = "Thought:") -> list[float]:
    """Each task's perplexity on its ground-truth actions under `llm` (one batched score call)."""
    env = make_env()
    solution = getattr(env, "solution", None)
    if not callable(solution):
        raise TypeError(f"deficiency selection needs the env's solution(task); {type(env).__name__} has none")
    prompts, actions, owner = [], [], []
    for index, task in enumerate(tasks):
        steps = list(solution(task))
        prompts += ground_truth_prompts(task, steps, env, prompt, llm.render, response_prefix)
        actions += steps
        owner += [index] * len(steps)
    totals, counts = [0.0] * len(tasks), [0] * len(tasks)
    for index, score in zip(owner, llm.score(prompts, actions) if prompts else []):
        totals[index] -= score.logprob
        counts[index] += len(score.logprobs)
    return [math.exp(total / count) if count else 0.0 for total, count in zip(totals, counts)]


def select_hardest(tasks: Sequence[Task], fraction: float, llm: LLM, prompt: PromptFn,
                   make_env: Callable[[], Environment], response_prefix: str = "Thought:",
                   is_call: Callable[[str], bool] = calls_a_tool) -> list[Task]:
    """The hardest `fraction` of `tasks` by ground-truth perplexity, tasks that call a
    tool and tasks that only answer ranked apart (see the module docstring)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    perplexities = task_perplexities(tasks, llm, prompt, make_env, response_prefix)
    env = make_env()
    groups: dict[bool, list[int]] = {}
    for index, task in enumerate(tasks):
        groups.setdefault(any(is_call(a) for a in env.solution(task)), []).append(index)
    kept: set[int] = set()
    for members in groups.values():
        ranked = sorted(members, key=lambda i: -perplexities[i])
        kept.update(ranked[: max(1, round(fraction * len(members)))])
    return [task for index, task in enumerate(tasks) if index in kept]
