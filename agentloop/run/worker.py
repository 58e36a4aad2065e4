"""A search / evaluation worker: the body of a Ray actor that plays its shard of the
tasks against one engine actor and writes what it finishes under the run directory.

The worker builds its own environment, agent and critic from the run config,
on a `RemoteLLM` to its engine, and runs the same functions the one-process
loop runs (`search_tasks`, `run_episodes`, `solve_tasks`): the distribution
changes where the work runs, never what it computes.

Collection saves each group of trees (`loop.search_batch` of them) the moment
the group is searched, into the round's `trees.partial` directory, and
greedy evaluation appends each finished episode to a JSONL file of its own;
so a worker killed mid-shard loses at most the group or episodes in flight,
and the next run skips everything saved. That directory is on storage every
node sees.

Example:
    >>> worker = ray.remote(Worker).remote(config, engine)
    >>> ray.get(worker.collect.remote(tasks, "runs/x/round-1/trees.partial"))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

from agentloop.agents.critic import build_critic
from agentloop.config import RunConfig
from agentloop.environments.protocol import Environment, Task
from agentloop.records import Provenance, Trajectory
from agentloop.run.engine import RemoteLLM
from agentloop.run.episodes import run_episodes
from agentloop.run.from_config import agent_sampling, build_agent, build_env
from agentloop.search import save_trees, search_tasks
from agentloop.search.config import SearchConfig
from agentloop.search.inference import SolveResult, solve_tasks


class Worker:
    """Plays tasks with the run's agent and critic on one engine actor.

    Args:
        config: the run config (its env, agent, critic, search and loop sections).
        engine: a Ray actor handle of `agentloop.run.engine.Engine`.
        index: the worker's number (names the files it writes).
        env_factory: builds a fresh environment (default: the config's `env`); must
            be picklable, it is shipped to the worker's process.
    """

    def __init__(self, config: RunConfig, engine, index: int = 0,
                 env_factory: Callable[[], Environment] | None = None):
        self.config, self.index = config, index
        self.llm = RemoteLLM(engine)
        self.new_env = env_factory or functools.partial(build_env, config.env, config.agent)
        self.env = self.new_env()
        self.agent = build_agent(config.agent, self.llm, self.env)
        self.critic = build_critic(config.critic, self.llm)

    def collect(self, tasks: Sequence[Task], partial: str) -> list[str]:
        """MCTS on `tasks`, `loop.search_batch` trees at once, each group's trees saved into
        `partial` as soon as it is searched; returns the ids of the tasks searched."""
        group, searched = self.config.loop.search_batch, []
        for start in range(0, len(tasks), group):
            batch = list(tasks[start:start + group])
            save_trees(search_tasks(self.new_env, batch, self.agent, self.critic, self.config.search), partial)
            searched += [t.id for t in batch]
        return searched

    def greedy(self, tasks: Sequence[Task], directory: str, provenance: Provenance) -> list[Trajectory]:
        """Greedy episodes of `tasks`, each appended to `directory/worker-<index>.jsonl` as
        it ends (tasks already there are not played again)."""
        output = Path(directory) / f"worker-{self.index}.jsonl"
        return run_episodes(self.env, tasks, self.agent, max_steps=self.config.agent.max_steps,
                            concurrency=64, sampling=agent_sampling(self.config.agent, greedy=True),
                            output=output, provenance=provenance, progress=False)

    def solve(self, tasks: Sequence[Task], search: SearchConfig) -> list[SolveResult]:
        """Policy + MCTS at inference on `tasks` (critic values)."""
        return solve_tasks(self.new_env, tasks, self.agent, self.critic, search)
