"""Collection and evaluation on a local Ray cluster (2 CPUs) equal the one-process run,
and a worker killed mid-round costs only the unsaved part of its shard.

The engines hold the seeded scripted LLM of `scripted_llm` (what a prompt gets does not
depend on its batch), so equality is exact; see that module for why a real backend
would not give it."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from agentloop.agents.critic import build_critic  # noqa: E402
from agentloop.config import parse_config  # noqa: E402
from agentloop.environments.maze import MazeEnv  # noqa: E402
from agentloop.records import Provenance  # noqa: E402
from agentloop.run import distributed  # noqa: E402
from agentloop.run.evaluate import evaluate_greedy  # noqa: E402
from agentloop.run.from_config import agent_sampling, build_agent, build_env  # noqa: E402
from agentloop.search import best_trajectories, load_trees, save_trees, search_tasks, step_pairs  # noqa: E402
from scripted_llm import NamedLLM, ScriptedLLM, scripted  # noqa: E402

HERE = Path(__file__).parent
CONFIG = {
    "env": {"kind": "maze", "size": 5, "num_tasks": 6},
    "loop": {"train_tasks": 6, "test_tasks": 4, "rounds": 1, "search_batch": 2},
    "search": {"simulations": 3, "k": 2, "max_depth": 3},
    "agent": {"max_steps": 4},
    "scale": {"engines": 2, "workers": 3},
}


def test_scale_config_is_optional_and_checked():
    from agentloop.config import ConfigError

    assert parse_config({}).scale is None  # one process, as without Ray
    scale = parse_config({"scale": {"engines": 4, "address": "auto"}}).scale
    assert (scale.engines, scale.workers, scale.gpus_per_engine, scale.address) == (4, 2, 0.0, "auto")
    with pytest.raises(ConfigError, match="tensor_parallel_size"):
        parse_config({"scale": {"tensor_parallel_size": 2, "gpus_per_engine": 1}})
    with pytest.raises(ConfigError, match="scale.engines"):
        parse_config({"scale": {"engines": 0}})


@pytest.fixture(scope="module")
def cluster_ray():
    """A local Ray cluster on 2 CPUs whose workers import the scripted LLM from here."""
    path = os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def tree_files(directory: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def one_process_trees(config, tasks, out: Path) -> None:
    """What collect_phase does without `scale`: groups of `search_batch` in this process."""
    llm = ScriptedLLM()
    env = build_env(config.env)
    agent, critic = build_agent(config.agent, llm, env), build_critic(config.critic, llm)
    for start in range(0, len(tasks), config.loop.search_batch):
        group = tasks[start:start + config.loop.search_batch]
        save_trees(search_tasks(functools.partial(build_env, config.env), group, agent, critic,
                                config.search), out)


@pytest.mark.slow
def test_distributed_collection_and_evaluation_equal_one_process(cluster_ray, tmp_path):
    config = parse_config(dict(CONFIG))
    env = build_env(config.env)
    tasks = list(env.tasks("train"))[:6]
    one_process_trees(config, tasks, tmp_path / "one")

    cluster = distributed.Cluster(config, llm_factory=scripted)
    try:
        searched = distributed.collect(cluster, "scripted", tasks, tmp_path / "many")
        assert sorted(searched) == sorted(t.id for t in tasks)
        assert tree_files(tmp_path / "many") == tree_files(tmp_path / "one")
        # the datasets built from them too
        one, many = load_trees(tmp_path / "one"), load_trees(tmp_path / "many")
        agent = build_agent(config.agent, None, env)
        assert step_pairs(one, agent.prompt, config.build.pairs, "x", 1) == \
            step_pairs(many, agent.prompt, config.build.pairs, "x", 1)
        assert best_trajectories(one, agent.prompt, 0.0, "x", 1) == \
            best_trajectories(many, agent.prompt, 0.0, "x", 1)
        # a second run finds every tree saved and searches nothing
        assert distributed.collect(cluster, "scripted", tasks, tmp_path / "many") == []

        test = list(env.tasks("test"))[:4]
        provenance = Provenance(run="x", round=0)
        result, played = distributed.evaluate_greedy(cluster, "scripted", test, tmp_path / "eval", provenance)
        local = evaluate_greedy(env, test, build_agent(config.agent, ScriptedLLM(), env), config.agent.max_steps,
                                agent_sampling(config.agent, greedy=True), output=tmp_path / "local.jsonl",
                                provenance=provenance)
        assert result == local
        assert [t.task_id for t in played] == [t.id for t in test]
        assert sorted(p.name for p in (tmp_path / "eval").glob("*.jsonl")) == \
            ["worker-0.jsonl", "worker-1.jsonl", "worker-2.jsonl"]
        stats = cluster.stats()
        assert len(stats) == 2 and all(s["requests"] > 0 for s in stats)
    finally:
        cluster.close()


class PoisonMaze(MazeEnv):
    """The maze, except that resetting to `poison` kills the process while `flag` exists."""

    def __init__(self, poison: str, flag: str, **kwargs):
        super().__init__(**kwargs)
        self.poison, self.flag = poison, flag

    def reset(self, task):
        if task.id == self.poison and os.path.exists(self.flag):
            os._exit(1)  # a worker killed mid-round, as by the OOM killer or a lost node
        return super().reset(task)


@pytest.mark.slow
def test_killed_worker_resumes_its_shard_only(cluster_ray, tmp_path):
    config = parse_config({**CONFIG, "loop": {**CONFIG["loop"], "search_batch": 1},
                           "scale": {"engines": 1, "workers": 2}})
    tasks = list(build_env(config.env).tasks("train"))[:6]
    # worker 1's shard is tasks 1, 3, 5: it saves task 1's tree, then dies on task 3
    flag = tmp_path / "poisoned"
    flag.touch()
    env_factory = functools.partial(PoisonMaze, tasks[3].id, str(flag), size=5, num_tasks=6)
    out = tmp_path / "trees.partial"
    cluster = distributed.Cluster(config, llm_factory=scripted, env_factory=env_factory)
    try:
        with pytest.raises(ray.exceptions.RayActorError):
            distributed.collect(cluster, "scripted", tasks, out)
    finally:
        cluster.close()
    saved = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert sorted(saved) == sorted(f"{tasks[i].id}.json" for i in (0, 1, 2, 4))

    flag.unlink()
    cluster = distributed.Cluster(config, llm_factory=scripted, env_factory=env_factory)
    try:
        assert sorted(distributed.collect(cluster, "scripted", tasks, out)) == [tasks[3].id, tasks[5].id]
    finally:
        cluster.close()
    # the trees saved before the kill were not searched (nor written) again ...
    assert all((out / name).stat().st_mtime_ns == mtime for name, mtime in saved.items())
    # ... and the resumed collection is the uninterrupted one
    one_process_trees(config, tasks, tmp_path / "one")
    assert tree_files(out) == tree_files(tmp_path / "one")


@pytest.mark.slow
def test_round_loop_with_scale_runs_on_engine_actors(cluster_ray, tiny_model_dir, tmp_path, monkeypatch):
    """`scale` in the config: a whole round (collect, build, train, evaluate) on engine actors
    holding the scripted model (its moves are valid, so the round has paths to imitate),
    the tiny real model trained in the driver into round-1/checkpoint."""
    from agentloop.run import rounds
    from agentloop.run.rounds import run_rounds

    monkeypatch.setattr(rounds.distributed, "Cluster", functools.partial(distributed.Cluster, llm_factory=scripted))

    config = parse_config({
        "env": {"kind": "maze", "size": 5, "num_tasks": 4},
        "llm": {"kind": "transformers", "model": str(tiny_model_dir), "device": "cpu"},
        "loop": {"name": "scaled", "runs_dir": str(tmp_path), "train_tasks": 3, "test_tasks": 2,
                 "rounds": 1, "data": ["best"], "search_batch": 1},
        "search": {"simulations": 1, "k": 2, "max_depth": 2, "max_new_tokens": 4},
        "agent": {"max_steps": 2, "max_new_tokens": 4},
        "build": {"best_min_reward": 0.0, "well_formed_only": False},
        "trainer": {"sft": {"epochs": 1, "batch_size": 2, "progress": False}},
        "scale": {"engines": 1, "workers": 2},
    })
    run = run_rounds(config)
    state = json.loads((run.root / "state.json").read_text())
    assert state["done"] == ["round-0/evaluate", "round-1/collect", "round-1/build", "round-1/train",
                             "round-1/evaluate"]
    assert len(list((run.root / "round-1" / "trees").glob("*.json"))) == 3
    assert state["models"]["1"].endswith("round-1/checkpoint")
    assert (run.root / "round-1" / "checkpoint" / "model.safetensors").is_file()
    for round in (0, 1):
        played = (run.root / f"round-{round}" / "test-trajectories.jsonl").read_text().splitlines()
        assert len(played) == 2
        assert sorted(p.name for p in (run.root / f"round-{round}" / "test-trajectories.workers").iterdir()) == \
            ["worker-0.jsonl", "worker-1.jsonl"]


@pytest.mark.slow
def test_engines_serve_each_rounds_checkpoint_and_free_it_while_training(cluster_ray):
    config = parse_config({**CONFIG, "scale": {"engines": 2, "workers": 1}})
    cluster = distributed.Cluster(config, llm_factory=NamedLLM)
    try:
        assert cluster.llm("round-0").render("hi") == "[round-0] hi"
        cluster.release()  # training: every engine's backend releases its memory
        assert ray.get([e.render.remote(["hi"]) for e in cluster.engines]) == [["[round-0 asleep] hi"]] * 2
        assert cluster.llm("round-1/checkpoint").render("hi") == "[round-1/checkpoint] hi"
        assert ray.get(cluster.engines[1].render.remote(["hi"])) == ["[round-1/checkpoint] hi"]
        cluster.load("round-2/checkpoint")  # without a release in between: a new backend too
        assert ray.get([e.render.remote(["hi"]) for e in cluster.engines]) == [["[round-2/checkpoint] hi"]] * 2
    finally:
        cluster.close()
