"""Running a user's compiled LangGraph graph on many tasks at once, and turning
each run into agentloop records.

`arun_graph_episodes` starts one `graph.ainvoke` per task (at most
`concurrency` at once, `asyncio.gather`), each under its own `Episode`, with
one `Batcher` over the backend shared by all of them: the graph's
`AgentloopChatModel` calls of concurrent episodes merge into batched backend
calls. An environment, when given, is made per episode, wrapped in an
`EpisodeEnv` that records every step, and handed to the graph's nodes as
`config["configurable"]["env"]`. LangGraph runs a synchronous node in the event
loop's default executor, whose size caps how many of them wait on the model at
once (Python's default: 6 threads on 2 cores, so batches of 6):
`run_graph_episodes` gives its loop one thread per concurrent episode; callers
of `arun_graph_episodes` size their loop's executor themselves.

Each run becomes
- a `Trajectory`: one `Step` per LLM call (`role` is the graph node that made
  it; `action`/`reward`/`invalid` are those of the environment steps the graph
  took before its next call), the reward and success of the run;
- `RevisionTrajectory` records (`kind="good"`), one conversation per LLM node:
  the calls of a node whose prompt extends the node's previous prompt and
  completion are merged into one conversation (a new one starts where a
  prompt does not); every generated turn is flagged for the loss, nothing
  else is. `trainers.sft.train_sft` trains on them as they are.

The reward is the environment's last reward, or `reward(final_state)` when a
function is given (a graph without an environment).

Example:
    >>> graph = build_graph(AgentloopChatModel(llm=llm))
    >>> runs = run_graph_episodes(graph, env.tasks("train")[:8], llm, make_env=lambda: WebShopEnv())
    >>> conversations = [c for run in runs for c in run.conversations()]
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from agentloop.agents.chat_model import Episode, LLMCall
from agentloop.environments.protocol import Environment, StepResult, Task
from agentloop.llm.protocol import LLM
from agentloop.progress import progress_bar
from agentloop.records import Message, Provenance, RevisionTrajectory, Step, Trajectory
from agentloop.serve.batcher import Batcher


class EpisodeEnv:
    """One episode's environment as the graph sees it: `step` and `available_actions`,
    with every step recorded (and which LLM call it followed).

    Args:
        env: the environment, already `reset` to the episode's task.
        episode: the episode whose calls the steps are ordered against.
        observation: the first observation.
    """

    def __init__(self, env: Environment, episode: Episode, observation: str):
        self.env, self.episode, self.observation = env, episode, observation
        self.steps: list[tuple[int, str, StepResult]] = []
        """(number of LLM calls made before the step, action, result)."""

    def step(self, action: str) -> StepResult:
        result = self.env.step(action)
        self.steps.append((len(self.episode.calls), action, result))
        self.observation = result.observation
        return result

    def available_actions(self) -> list[str]:
        return self.env.available_actions()

    @property
    def done(self) -> bool:
        """The episode has ended (terminated or truncated)."""
        return bool(self.steps) and (self.steps[-1][2].terminated or self.steps[-1][2].truncated)


@dataclass
class GraphRun:
    """One finished run of the graph on a task."""

    task: Task
    episode: Episode
    final_state: Any
    reward: float
    success: bool
    truncated: bool
    env_steps: list[tuple[int, str, StepResult]] = field(default_factory=list)
    provenance: Provenance = field(default_factory=Provenance)

    def trajectory(self) -> Trajectory:
        """The run as a `Trajectory`: one step per LLM call (`role` = node)."""
        steps = []
        for index, call in enumerate(self.episode.calls):
            acted = [(a, r) for before, a, r in self.env_steps if before == index + 1]
            steps.append(Step(
                observation=call.prompt[-1].content if call.prompt else "", completion=call.completion,
                action="\n".join(a for a, _ in acted), token_ids=call.token_ids, logprobs=call.logprobs,
                reward=acted[-1][1].reward if acted else 0.0,
                invalid=any(r.info.get("invalid") for _, r in acted), role=call.node))
        last = self.env_steps[-1][2] if self.env_steps else None
        conversations = self.conversations()
        return Trajectory(
            task_id=self.task.id, instruction=self.task.instruction, steps=tuple(steps), reward=self.reward,
            success=self.success, terminated=bool(last and last.terminated), truncated=self.truncated,
            provenance=self.provenance.model_copy(update={"task_id": self.task.id}),
            messages=conversations[-1].messages if conversations else ())

    def conversations(self) -> list[RevisionTrajectory]:
        """One conversation per LLM node (split where a prompt does not extend the last)."""
        provenance = self.provenance.model_copy(update={"task_id": self.task.id})
        return [RevisionTrajectory(messages=tuple(m), train=tuple(t), kind="good", good_reward=self.reward,
                                   provenance=provenance) for m, t in merge_calls(self.episode.calls)]


def merge_calls(calls: Sequence[LLMCall]) -> list[tuple[list[Message], list[bool]]]:
    """Calls grouped into conversations: per node, a call whose prompt starts with the
    node's conversation so far continues it. Returns (messages, train flags) pairs in
    the order their first call was made; only generated turns are flagged."""
    open_by_node: dict[str, int] = {}
    out: list[tuple[list[Message], list[bool]]] = []
    for call in calls:
        generated = Message(role="assistant", content=call.completion)
        index = open_by_node.get(call.node)
        if index is not None:
            messages, flags = out[index]
            if list(call.prompt[: len(messages)]) == messages:
                new = list(call.prompt[len(messages):])
                messages += [*new, generated]
                flags += [False] * len(new) + [True]
                continue
        open_by_node[call.node] = len(out)
        out.append(([*call.prompt, generated], [False] * len(call.prompt) + [True]))
    return out


CONCURRENCY = 16
"""Episodes running at once, by default."""


def default_input(task: Task, observation: str | None) -> dict[str, Any]:
    """The graph's input when none is given: `{"instruction", "observation"}`."""
    return {"instruction": task.instruction, "observation": observation or ""}


async def arun_graph_episodes(
    graph: Any,
    tasks: Sequence[Task],
    llm: LLM,
    make_env: Callable[[], Environment] | None = None,
    make_input: Callable[[Task, str | None], Any] = default_input,
    reward: Callable[[Any], float] | None = None,
    concurrency: int = CONCURRENCY,
    recursion_limit: int = 50,
    provenance: Provenance | None = None,
    progress: bool = True,
) -> list[GraphRun]:
    """Run `graph` once per task, `concurrency` at a time; return the runs in task order.

    Args:
        graph: a compiled LangGraph graph whose model is an `AgentloopChatModel` on `llm`.
        tasks: tasks to play, each once.
        llm: the backend (one `Batcher` over it serves every episode).
        make_env: makes a fresh environment per episode (None: the graph acts alone).
        make_input: the graph's input for a task and its first observation.
        reward: the run's reward from the final graph state (None: the environment's last reward).
        concurrency: episodes running at once.
        recursion_limit: LangGraph super-steps before a run is cut off (then `truncated`).
        provenance: run/round recorded on every record.
        progress: show a bar of runs done and successes so far (`agentloop.progress`).
    """
    from langgraph.errors import GraphRecursionError

    if make_env is None and reward is None:
        raise ValueError("give make_env (the reward is the environment's) or a reward function")
    batcher = Batcher(llm)
    await batcher.start()
    gate = asyncio.Semaphore(concurrency)
    bar = progress_bar(total=len(tasks), desc="graph runs", unit="run", enabled=progress)
    finished = successes = 0

    async def play(task: Task) -> GraphRun:
        async with gate:
            episode = Episode(task.id, batcher=batcher, loop=asyncio.get_running_loop())
            env = _episode_env(make_env, task, episode)
            config = {"recursion_limit": recursion_limit,
                      "configurable": {"thread_id": task.id, "env": env}}
            final, truncated = None, False
            with episode.active():
                try:
                    final = await graph.ainvoke(make_input(task, env.observation if env else None), config)
                except GraphRecursionError:
                    truncated = True
            run = _result(task, episode, env, final, truncated, reward, provenance or Provenance())
        nonlocal finished, successes
        finished, successes = finished + 1, successes + run.success
        bar.update(1)
        bar.set_postfix(success=f"{successes}/{finished}")
        return run

    try:
        return list(await asyncio.gather(*(play(task) for task in tasks)))
    finally:
        bar.close()
        await batcher.stop()


def run_graph_episodes(graph: Any, tasks: Sequence[Task], llm: LLM, **options: Any) -> list[GraphRun]:
    """`arun_graph_episodes` from synchronous code, on an event loop of its own whose
    default executor (where LangGraph runs synchronous nodes) has a thread per
    concurrent episode, so their model calls merge into batches of `concurrency`."""
    threads = ThreadPoolExecutor(max_workers=options.get("concurrency", CONCURRENCY),
                                 thread_name_prefix="agentloop-graph")
    with threads, asyncio.Runner() as runner:
        runner.get_loop().set_default_executor(threads)
        return runner.run(arun_graph_episodes(graph, tasks, llm, **options))


def _episode_env(make_env: Callable[[], Environment] | None, task: Task, episode: Episode) -> EpisodeEnv | None:
    if make_env is None:
        return None
    env = make_env()
    return EpisodeEnv(env, episode, env.reset(task))


def _result(task: Task, episode: Episode, env: EpisodeEnv | None, final: Any, truncated: bool,
            reward: Callable[[Any], float] | None, provenance: Provenance) -> GraphRun:
    steps = env.steps if env is not None else []
    last = steps[-1][2] if steps else None
    if reward is not None:
        value = 0.0 if final is None else float(reward(final))
        success = value >= 1.0
    else:
        value = last.reward if last else 0.0
        success = bool(last and last.info.get("success", last.terminated and last.reward >= 1.0))
    truncated = truncated or bool(last and last.truncated) or (env is not None and not env.done)
    return GraphRun(task, episode, final, value, success, truncated and not success, list(steps), provenance)


def calls_from_server(entries: Sequence[dict[str, Any]], node: str = "") -> list[LLMCall]:
    """`LLMCall`s from what `agentloop serve` recorded for one rollout
    (`GET /rollouts/<id>/calls`, `agentloop.serve.rollouts`), for graphs that keep
    `ChatOpenAI`; the server does not know the graph node, so all get `node`."""
    return [LLMCall(node, tuple(Message.model_validate(m) for m in entry["prompt"]), entry["completion"],
                    tuple(entry["token_ids"]), tuple(entry["logprobs"]), entry.get("finish_reason", "stop"))
            for entry in entries]
