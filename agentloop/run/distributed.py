"""The round loop's collection and evaluation spread over a Ray cluster (config `scale`).

`Cluster` starts (or joins) Ray, places `scale.engines` engine actors
(`agentloop.run.engine.Engine`: one LLM backend each, `scale.gpus_per_engine`
GPUs, a placement group of one-GPU bundles when an engine shards its model
over several GPUs) and `scale.workers` worker actors
(`agentloop.run.worker.Worker`), worker i on engine i mod `engines`. The
peers that scale this way (OpenRLHF's `LLMRayActor`, verl, SkyRL) do the same:
one engine per GPU group, many clients.

`collect` shards the train tasks not yet searched over the workers, each of
which saves its trees into the round's `trees.partial` as it finishes each
group; `evaluate_greedy` does the same with test episodes, one JSONL file per
worker in `test-trajectories.jsonl.partial/`. A killed worker or driver
therefore resumes on re-running the command with nothing lost and nothing
searched twice: only the unsaved tasks are sharded again. Every worker is
waited for before a failure is raised, so the other shards finish and are kept.

The run directory must be on storage all nodes see (NFS, a shared disk): the
workers write there and the engines load each round's checkpoint from there.

Example:
    >>> cluster = Cluster(config)
    >>> collect(cluster, model, tasks, run.partial(run.round_dir(1) / "trees"))
    >>> cluster.release()       # free the engines' GPUs while the round trains
    >>> cluster.close()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentloop.config import RunConfig
from agentloop.llm.config import LLMConfig, VLLMConfig
from agentloop.environments.protocol import Environment, Task
from agentloop.jsonl import read_jsonl
from agentloop.llm.protocol import LLM
from agentloop.records import EvalResult, Provenance, Trajectory
from agentloop.run.engine import Engine, LLMFactory, RemoteLLM
from agentloop.run.evaluate import summarize
from agentloop.run.from_config import build_llm
from agentloop.run.worker import Worker
from agentloop.search import load_trees
from agentloop.search.config import SearchConfig


def engine_llm(config: LLMConfig, tensor_parallel_size: int, model: str) -> LLM:
    """The backend an engine actor holds: the config's, on `model`; a vLLM engine over
    several GPUs runs its shards as Ray workers inside the engine's placement group."""
    if isinstance(config, VLLMConfig) and tensor_parallel_size > 1:
        config = config.model_copy(update={
            "tensor_parallel_size": tensor_parallel_size,
            "engine_args": {**config.engine_args, "distributed_executor_backend": "ray"}})
    return build_llm(config, model)


class Cluster:
    """The engine and worker actors of one run, started on first use.

    Args:
        config: the run config; its `scale` section must be set.
        llm_factory: builds an engine's backend on a model path (default: `engine_llm`
            on the config's `llm` section). Picklable: it runs in the engine's process.
        env_factory: builds a worker's environment (default: the config's `env`).
    """

    def __init__(self, config: RunConfig, llm_factory: LLMFactory | None = None,
                 env_factory: Callable[[], Environment] | None = None):
        if config.scale is None:
            raise ValueError("Cluster needs config.scale")
        self.config, self.scale = config, config.scale
        self.llm_factory = llm_factory or functools.partial(
            engine_llm, config.llm, config.scale.tensor_parallel_size)
        self.env_factory = env_factory
        self.engines: list[Any] = []
        self.workers: list[Any] = []
        self._groups: list[Any] = []
        self._started_ray = False
        self.model: str | None = None

    def _ray(self):
        import ray

        if not ray.is_initialized():
            if self.scale.address == "local":
                ray.init(num_cpus=self.scale.num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.scale.address, log_to_driver=False)
            self._started_ray = True
        return ray

    def _engine_options(self) -> dict[str, Any]:
        scale = self.scale
        if scale.tensor_parallel_size == 1:
            return {"num_gpus": scale.gpus_per_engine, "num_cpus": scale.cpus_per_engine}
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        # One GPU per bundle on one node; the actor itself takes none, vLLM's Ray
        # executor places the tensor-parallel shards in the bundles (as OpenRLHF does).
        group = placement_group([{"GPU": 1, "CPU": 1}] * scale.tensor_parallel_size, strategy="STRICT_PACK")
        self._ray().get(group.ready())
        self._groups.append(group)
        return {"num_gpus": 0, "num_cpus": 0, "scheduling_strategy": PlacementGroupSchedulingStrategy(
            placement_group=group, placement_group_capture_child_tasks=True)}

    def load(self, model: str) -> None:
        """Every engine serves `model` (started on it the first time)."""
        ray = self._ray()
        if not self.engines:
            engine = ray.remote(Engine)
            self.engines = [engine.options(**self._engine_options(), max_restarts=0)
                            .remote(self.llm_factory, model) for _ in range(self.scale.engines)]
            worker = ray.remote(Worker)
            # Workers mostly wait on engines: they reserve no CPU, so any number fit.
            self.workers = [worker.options(num_cpus=0, max_restarts=0).remote(
                self.config, self.engines[i % len(self.engines)], i, self.env_factory)
                for i in range(self.scale.workers)]
        elif model != self.model:
            ray.get([e.load.remote(model) for e in self.engines])
        self.model = model

    def llm(self, model: str) -> LLM:
        """The LLM protocol on engine 0 serving `model` (for work done in the driver)."""
        self.load(model)
        return RemoteLLM(self.engines[0])

    def map(self, method: str, shards: Sequence[Sequence[Any]], *args: Any) -> list[Any]:
        """`worker_i.method(shards[i], *args)` for every non-empty shard, in parallel; waits
        for all of them, then raises the first failure (the others' work is saved)."""
        ray = self._ray()
        refs = [getattr(w, method).remote(list(s), *args) for w, s in zip(self.workers, shards) if s]
        results, failure = [], None
        for ref in refs:
            try:
                results.append(ray.get(ref))
            except Exception as error:  # a dead worker's ActorDiedError, or its own error
                failure = failure or error
        if failure is not None:
            raise failure
        return results

    def shard(self, items: Sequence[Any]) -> list[list[Any]]:
        """Items dealt round-robin over the workers."""
        return [list(items[i::len(self.workers)]) for i in range(len(self.workers))]

    def stats(self) -> list[dict[str, int]]:
        """Each engine's requests received and backend calls made."""
        return self._ray().get([e.stats.remote() for e in self.engines])

    def release(self) -> None:
        """Free the engines' memory (GPUs) while training runs; the next `load` restarts them."""
        if self.engines:
            self._ray().get([e.release.remote() for e in self.engines])
            self.model = None

    def close(self) -> None:
        """Stop every actor, and Ray itself when this cluster started it."""
        if not self.engines and not self._started_ray:
            return
        import ray

        for actor in self.workers + self.engines:
            ray.kill(actor)
        for group in self._groups:
            ray.util.remove_placement_group(group)
        self.engines, self.workers, self._groups, self.model = [], [], [], None
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def collect(cluster: Cluster, model: str, tasks: Sequence[Task], partial: Path) -> list[str]:
    """Search the `tasks` without a tree in `partial` on the cluster's workers; returns the
    ids searched now (tasks whose tree was saved before are not searched again)."""
    partial.mkdir(parents=True, exist_ok=True)
    saved = {tree.task_id for tree in load_trees(partial)}
    pending = [t for t in tasks if t.id not in saved]
    if not pending:
        return []
    cluster.load(model)
    return [i for ids in cluster.map("collect", cluster.shard(pending), str(partial)) for i in ids]


def evaluate_greedy(cluster: Cluster, model: str, tasks: Sequence[Task], partial: Path,
                    provenance: Provenance) -> tuple[EvalResult, list[Trajectory]]:
    """Greedy episodes of the `tasks` not yet in `partial/*.jsonl`, sharded over the workers
    (worker i appends to `partial/worker-i.jsonl` as each episode ends); returns the result and every trajectory
    in task order."""
    partial.mkdir(parents=True, exist_ok=True)
    done = _trajectories(partial)
    pending = [t for t in tasks if t.id not in done]
    if pending:
        cluster.load(model)
        cluster.map("greedy", cluster.shard(pending), str(partial), provenance)
        done = _trajectories(partial)
    trajectories = [done[t.id] for t in tasks if t.id in done]
    return summarize(trajectories, "greedy", provenance), trajectories


def _trajectories(directory: Path) -> dict[str, Trajectory]:
    return {t.task_id: t for path in sorted(directory.glob("*.jsonl")) for t in read_jsonl(path, Trajectory)}


def evaluate_mcts(cluster: Cluster, model: str, tasks: Sequence[Task], search: SearchConfig,
                  provenance: Provenance) -> EvalResult:
    """Policy + MCTS at inference on the `tasks`, sharded over the workers."""
    cluster.load(model)
    results = {r.trajectory.task_id: r for shard in cluster.map("solve", cluster.shard(tasks), search)
               for r in shard}
    ordered = [results[t.id] for t in tasks]
    setting = ordered[0].setting if ordered else "mcts"
    return summarize([r.trajectory for r in ordered], setting, provenance)
