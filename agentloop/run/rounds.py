"""The round loop: evaluate the starting model, then per round
collect (MCTS on train tasks) -> build (pairs, revisions, best) -> train -> evaluate.

This is the one place where a round is written out. Round k searches with the
model round k-1 ended with. Every phase writes under a temporary name and is
recorded in `state.json` last (`agentloop.run.rundir`), so re-running the same
command after a crash continues from the last finished phase; inside a phase,
collection resumes by tree group, evaluation by episode and training by saved
step.

Example:
    >>> config = load_config("examples/default.yaml")
    >>> run_rounds(config)       # writes runs/<name>/...
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

from agentloop.agents.critic import build_critic
from agentloop.agents.feedback_agent import FeedbackAgent
from agentloop.atomic import write_atomic
from agentloop.config import ConfigError, RunConfig
from agentloop.environments.codec import codec_of
from agentloop.environments.protocol import Environment, Task
from agentloop.jsonl import read_jsonl, write_jsonl
from agentloop.llm.model_path import resolve_model
from agentloop.llm.protocol import LLM
from agentloop.progress import progress_bar
from agentloop.records import EvalResult, PreferencePair, Provenance, RevisionTrajectory
from agentloop.run import distributed
from agentloop.run.console import NoDisplay, PhaseDisplay, summarize
from agentloop.run.evaluate import evaluate_greedy, evaluate_mcts
from agentloop.run.from_config import (
    agent_sampling,
    build_agent,
    build_env,
    build_llm,
    close_llm,
    revision_prompt,
)
from agentloop.run.game_feedback import game_feedback
from agentloop.run.report import write_report
from agentloop.run.rundir import RunDir
from agentloop.search import (
    best_trajectories,
    load_trees,
    revision_trajectories,
    save_trees,
    search_tasks,
    step_pairs,
)
from agentloop.search.best import trajectories as tree_trajectories
from agentloop.search.deficiency import select_hardest


class Session:
    """What the phases share: config, run directory, environment, the live model and
    the display that shows each phase (`agentloop.run.console`)."""

    def __init__(self, config: RunConfig, run: RunDir, display: PhaseDisplay | None = None):
        self.config, self.run = config, run
        self.display: PhaseDisplay = display or NoDisplay()
        self.env: Environment = build_env(config.env, config.agent)
        self.all_train_tasks: list[Task] = list(self.env.tasks("train"))
        loop = config.loop
        needed = loop.train_tasks * (loop.rounds if loop.fresh_tasks else 1)
        if len(self.all_train_tasks) < needed:
            raise ConfigError(
                f"loop.train_tasks={loop.train_tasks} x loop.rounds={loop.rounds} fresh tasks need "
                f"{needed} train tasks, the environment has {len(self.all_train_tasks)}: raise the "
                "environment's task count, lower loop.train_tasks, or set loop.fresh_tasks=false")
        self.test_tasks: list[Task] = list(self.env.tasks("test"))[: config.loop.test_tasks]
        self._llm: LLM | None = None
        self._model: str | None = None
        # With `scale`, the model lives in Ray engine actors and the phases shard over workers.
        self.cluster = distributed.Cluster(config) if config.scale is not None else None

    def llm(self, model: str) -> LLM:
        """The backend on `model`, loading it only when it changed (vLLM swaps weights in place)."""
        if self.cluster is not None:
            return self.cluster.llm(model)
        if self._llm is not None and self._model == model:
            return self._llm
        loading = progress_bar(total=1, desc="load model", unit="")  # a vLLM engine takes a minute
        if self._llm is not None and hasattr(self._llm, "load_weights"):
            self._llm.load_weights(model)
        else:
            close_llm(self._llm)
            self._llm = build_llm(self.config.llm, model)
        self._model = model
        loading.update(1)
        loading.close()
        return self._llm

    def release(self) -> None:
        """Free the accelerator memory the live model holds, before the trainer loads its own
        copy: a vLLM engine sleeps (`VLLMBackend.release`; on the CPU build it stays up, RAM is
        not the constraint there), a transformers model on a GPU is dropped, Ray engines stop.
        The next `llm()` brings the model back, on the newest checkpoint."""
        if self.cluster is not None:
            self.cluster.release()
            return
        release = getattr(self._llm, "release", None)
        if callable(release):
            release()
        elif getattr(getattr(self._llm, "device", None), "type", "cpu") != "cpu":
            close_llm(self._llm)
            self._llm = self._model = None

    def close(self) -> None:
        close_llm(self._llm)
        self._llm = None
        if self.cluster is not None:
            self.cluster.close()

    def train_tasks(self, round: int) -> list[Task]:
        """The train tasks round `round` (1-based) searches: a fresh slice per round with
        `loop.fresh_tasks`, else the first slice."""
        size = self.config.loop.train_tasks
        start = (round - 1) * size if self.config.loop.fresh_tasks else 0
        return self.all_train_tasks[start : start + size]

    def new_env(self) -> Environment:
        return build_env(self.config.env, self.config.agent)


def run_rounds(config: RunConfig, allow_changed: bool = False, display: PhaseDisplay | None = None) -> RunDir:
    """Run (or resume) every round of `config`, each phase shown on `display`; return the run directory."""
    config.check_trainable()  # before the run directory is made
    run = RunDir.open(config, allow_changed)
    session = Session(config, run, display)
    if run.model_of(0) is None:
        run.set_model(0, str(resolve_model(config.llm.model)))
    try:
        evaluate_phase(session, 0)
        for round in range(1, config.loop.rounds + 1):
            collect_phase(session, round)
            build_phase(session, round)
            train_phase(session, round)
            evaluate_phase(session, round)
    finally:
        session.close()  # vLLM's engine processes must not outlive the run
    write_report(run.root)
    return run


def _begin(session: Session, round: int, name: str) -> float:
    """A phase starts: shown on the display; returns its start time."""
    session.display.start(f"round {round} · {name}")
    return time.time()


def _done(session: Session, phase: str, metrics: list[dict]) -> None:
    """A phase is over: recorded in the run directory (its last write), then shown."""
    session.run.mark_done(phase, metrics)
    session.display.finish(summarize(metrics))


def _metric(round: int, phase: str, started: float, **facts) -> dict:
    return {"round": round, "phase": phase, "seconds": round_(time.time() - started), **facts}


def round_(x: float) -> float:
    return float(f"{x:.4g}")


def collect_phase(session: Session, round: int) -> None:
    """MCTS on the train tasks with the previous round's model; trees saved in groups
    so a crash loses at most the group being searched."""
    run, config = session.run, session.config
    phase = f"round-{round}/collect"
    if run.done(phase):
        return
    started = _begin(session, round, "collect")
    llm = session.llm(run.model_of(round - 1))
    env = session.env
    agent, critic = build_agent(config.agent, llm, env), build_critic(config.critic, llm)
    trees_dir = run.round_dir(round) / "trees"
    partial = run.partial(trees_dir)
    partial.mkdir(parents=True, exist_ok=True)
    group = config.loop.search_batch
    searched = {tree.task_id for tree in load_trees(partial)}
    train_tasks = session.train_tasks(round)
    if config.loop.select_hardest is not None:  # iTool: search where the policy is weakest
        train_tasks = select_hardest(train_tasks, config.loop.select_hardest, llm, agent.prompt,
                                     session.new_env, getattr(agent, "response_prefix", ""))
    if config.loop.feedback:  # ICL-AIF's feedback, distilled: half of K read it, the data does not
        if session.cluster is not None:
            raise ConfigError("loop.feedback needs the local search (no scale.workers)")
        feedback = game_feedback(llm, session.new_env(), agent, train_tasks, getattr(env, "role", "player"),
                                 config.agent.max_steps, agent_sampling(config.agent, greedy=True))
        agent = FeedbackAgent(agent, feedback, llm)
    if session.cluster is not None:  # sharded over Ray workers, each saving its trees as it goes
        distributed.collect(session.cluster, run.model_of(round - 1), train_tasks, partial)
    else:
        for start in range(0, len(train_tasks), group):
            tasks = train_tasks[start : start + group]
            if all(t.id in searched for t in tasks):
                continue
            save_trees(search_tasks(session.new_env, tasks, agent, critic, config.search), partial)
    trees = load_trees(partial)
    trajectories = [t for tree in trees for t in tree_trajectories(tree, config.loop.name, round)]
    write_jsonl(run.round_dir(round) / "trajectories.jsonl", trajectories)
    run.commit(trees_dir)
    solved = sum(tree.solved() for tree in trees)  # as `agentloop search` counts
    _done(session, phase, [_metric(
        round, "collect", started, trees=len(trees), tasks_solved_in_search=solved,
        solved_rate=round_(solved / max(1, len(trees))),
        mean_tree_nodes=round_(sum(t.graph.number_of_nodes() for t in trees) / max(1, len(trees))))])


def build_phase(session: Session, round: int) -> None:
    """Trees -> step pairs (Agent Q), revisions (Agent-R), best trajectories (RFT)."""
    run, config = session.run, session.config
    phase = f"round-{round}/build"
    if run.done(phase):
        return
    started = _begin(session, round, "build")
    trees = load_trees(run.round_dir(round) / "trees")
    # The prompt needs no model; only the Agent-R judge does (a resumed run starts no engine for it).
    llm = session.llm(run.model_of(round - 1)) if "revisions" in config.loop.data else None
    agent = build_agent(config.agent, llm, session.env)
    name, out = config.loop.name, run.round_dir(round)
    imitable = config.build.imitable_with(codec_of(session.env))
    pairs = step_pairs(trees, agent.prompt, config.build.pairs, name, round, imitable) \
        if "pairs" in config.loop.data else []
    # An Agent-R revision shows the bad steps it revises, whatever agent.max_history.
    whole = revision_prompt(config.agent, config.search.max_depth, session.env)
    revisions = revision_trajectories(trees, whole, build_critic(config.critic, llm),
                                      config.build.revisions, name, round, imitable) \
        if "revisions" in config.loop.data else []
    best = best_trajectories(trees, agent.prompt, config.build.best_min_reward, name, round, imitable) \
        if "best" in config.loop.data else []
    write_jsonl(out / "pairs.jsonl", pairs)
    write_jsonl(out / "revisions.jsonl", revisions)
    write_jsonl(out / "best.jsonl", best)
    _done(session, phase, [_metric(round, "build", started, pairs=len(pairs), revisions=len(revisions),
                                  best=len(best))])


def train_phase(session: Session, round: int) -> None:
    """SFT on revisions + best trajectories, then DPO on the step pairs; each stage
    trains into `X.partial` (resumable by step) and is renamed when finished."""
    from agentloop.trainers.dpo import train_dpo, use_reference
    from agentloop.trainers.sft import train_sft

    run, config = session.run, session.config
    phase = f"round-{round}/train"
    if run.done(phase):
        return
    started = _begin(session, round, "train")
    out = run.round_dir(round)
    model = run.model_of(round - 1)
    sft_data = read_jsonl(out / "revisions.jsonl", RevisionTrajectory) + \
        read_jsonl(out / "best.jsonl", RevisionTrajectory)
    pairs = use_reference(read_jsonl(out / "pairs.jsonl", PreferencePair), config.trainer.reference)
    session.release()  # one GPU holds either the engine or the trainer, not both
    stages = [(name, train, data, cfg) for name, train, data, cfg in (
        ("sft", train_sft, sft_data, config.trainer.sft), ("dpo", train_dpo, pairs, config.trainer.dpo)) if data]
    if config.scale is not None and config.scale.train_processes > 1:  # ranks started by accelerate launch
        from agentloop.trainers.parallel import train_in_processes

        stages = [(name, functools.partial(train_in_processes, name, processes=config.scale.train_processes),
                   data, cfg) for name, _, data, cfg in stages]
    facts = {}
    for index, (name, train, data, cfg) in enumerate(stages):
        # The round's final model is always round-K/checkpoint; earlier stages keep their name.
        target = out / ("checkpoint" if index == len(stages) - 1 else f"checkpoint-{name}")
        model, facts[f"{name}_loss"] = _train_stage(train, model, data, cfg, config.loop.seed, target,
                                                    out / f"train-{name}.jsonl", run)
    _free_cuda_cache()  # the engine wakes into the memory the trainer's allocator still caches
    run.set_model(round, model)
    _done(session, phase, [_metric(round, "train", started, sft_examples=len(sft_data), dpo_pairs=len(pairs),
                                  **facts)])


def _free_cuda_cache() -> None:
    """Hand the memory PyTorch's allocator cached for the trainer back to the GPU, so an
    engine in another process (vLLM's) can take it."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _train_stage(train, model: str, data: list, config, seed: int, target: Path, log: Path,
                 run: RunDir) -> tuple[str, float | None]:
    """Train `model` on `data` into `target` (resumable by step in `target.partial`),
    its per-step log to `log`. Returns the new model and the final loss."""
    if not target.exists():
        result = train(model, data, config.model_copy(update={"seed": seed}), run.partial(target))
        write_atomic(log, "".join(json.dumps(entry) + "\n" for entry in result.logs))
        run.commit(target)
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return str(target), entries[-1]["loss"] if entries else None


def evaluate_phase(session: Session, round: int) -> None:
    """Greedy policy (and, when configured, policy + MCTS with critic values) on the test tasks."""
    run, config = session.run, session.config
    phase = f"round-{round}/evaluate"
    out = run.round_dir(round)
    if run.done(phase):
        return
    started = _begin(session, round, "evaluate")
    llm = session.llm(run.model_of(round))
    agent = build_agent(config.agent, llm, session.env, training=False)  # nothing trains on the test tasks
    provenance = Provenance(run=config.loop.name, round=round)
    if session.cluster is not None:  # each worker appends its episodes to a file of its own
        result, played = distributed.evaluate_greedy(session.cluster, run.model_of(round), session.test_tasks,
                                                     out / "test-trajectories.workers", provenance)
        write_jsonl(run.partial(out / "test-trajectories.jsonl"), played)
    else:
        result = evaluate_greedy(session.env, session.test_tasks, agent, config.agent.max_steps,
                                 agent_sampling(config.agent, greedy=True),
                                 output=run.partial(out / "test-trajectories.jsonl"), provenance=provenance)
    run.commit(out / "test-trajectories.jsonl")
    results = [result]
    if config.loop.evaluate_mcts:
        search = config.search.model_copy(update={"value_source": "critic"})
        results.append(distributed.evaluate_mcts(session.cluster, run.model_of(round), session.test_tasks,
                                                 search, provenance) if session.cluster is not None
                       else evaluate_mcts(session.new_env, session.test_tasks, agent,
                                          build_critic(config.critic, llm), search, provenance))
    named = {r.setting: r for r in results} | _evaluate_held_out(session, round, llm, provenance)
    write_atomic(out / "eval.json", json.dumps({name: r.model_dump(mode="json") for name, r in named.items()},
                                              indent=2))
    _done(session, phase, [_metric(round, f"evaluate-{name}", started,
                                  **item.model_dump(mode="json", exclude={"provenance"}))
                           for name, item in named.items()])


def _evaluate_held_out(session: Session, round: int, llm: LLM, provenance: Provenance) -> dict[str, EvalResult]:
    """The greedy policy on each `loop.held_out` benchmark, its episodes in
    `round-N/test-trajectories-<name>.jsonl`."""
    run, config = session.run, session.config
    results = {}
    for held_out in config.loop.held_out:
        env = build_env(held_out.env, config.agent)
        path = run.round_dir(round) / f"test-trajectories-{held_out.name}.jsonl"
        results[held_out.name] = evaluate_greedy(
            env, env.tasks("test")[: held_out.tasks], build_agent(config.agent, llm, env, training=False),
            held_out.max_steps or config.agent.max_steps, agent_sampling(config.agent, greedy=True),
            output=run.partial(path), provenance=provenance)
        run.commit(path)
    return results
