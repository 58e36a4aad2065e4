"""The `agentloop` command line. Each command is a thin wrapper over library calls;
its help text is the function's docstring."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="agentloop",
    help="Self-improving LLM agents: search, critique, build data, train, repeat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts contain actions like search[query]: print them as written
)


def _config_and_overrides(config: str | None, overrides: list[str] | None) -> tuple[str | None, list[str]]:
    """CONFIG is optional: a first argument of the form key=value is an override."""
    overrides = list(overrides or [])
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        return None, [config] + overrides
    return config, overrides


def _load_config(config: str | None, overrides: list[str] | None):
    """The run config of a command's CONFIG and overrides; a bad one is a usage error."""
    from agentloop.config import ConfigError, load_config

    try:
        return load_config(*_config_and_overrides(config, overrides))
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from error


@app.command()
def version() -> None:
    """Print the agentloop version."""
    from agentloop import __version__

    typer.echo(__version__)


@app.command()
def run(
    config: str = typer.Argument(None, help="YAML run config (omit for all defaults)."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides such as loop.rounds=3 search.simulations=16."),
    allow_changed_config: bool = typer.Option(False, help="Resume even though the config differs from the saved one."),
) -> None:
    """Run (or resume) the self-improvement loop: evaluate the starting model, then for
    each round collect (MCTS on train tasks) -> build (pairs, revisions, best) -> train ->
    evaluate. Writes runs/NAME/ and ends by printing the table of all rounds.

    Re-running the same command after a crash or Ctrl-C continues from the last
    finished phase. Example: `agentloop run examples/default.yaml loop.rounds=3`
    """
    from agentloop.config import ConfigError, load_config
    from agentloop.llm.model_path import ModelNotFoundError, resolve_model
    from agentloop.run.report import read_metrics, round_table
    from agentloop.run.rounds import run_rounds
    from agentloop.run.rundir import ConfigChangedError

    try:
        run_config = load_config(*_config_and_overrides(config, overrides))
        if run_config.llm.kind != "openai":
            resolve_model(run_config.llm.model)  # fail now, not after the first phase
    except (ConfigError, ModelNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    try:
        directory = run_rounds(run_config, allow_changed=allow_changed_config)
    except (ConfigChangedError, ConfigError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(round_table(read_metrics(directory.root)))
    typer.echo(f"\nrun directory: {directory.root}")


@app.command()
def report(run_dir: str = typer.Argument(..., help="A run directory, e.g. runs/default.")) -> None:
    """Print the table of all rounds of a run (and rewrite its report.md and plots)."""
    from pathlib import Path

    from agentloop.run.report import read_metrics, round_table, write_report

    root = Path(run_dir)
    if not (root / "metrics.jsonl").is_file():
        typer.echo(f"error: {root} has no metrics.jsonl (not a run directory, or nothing finished yet)", err=True)
        raise typer.Exit(2)
    write_report(root)
    typer.echo(round_table(read_metrics(root)))


@app.command()
def rollout(
    config: str = typer.Argument(None, help="YAML run config (omit for all defaults)."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides such as env.difficulty=easy llm.dtype=bfloat16."),
    split: str = typer.Option("test", help="Task split: train or test."),
    tasks: int = typer.Option(16, help="How many tasks of the split to play (from the first)."),
    output: str = typer.Option("rollouts.jsonl", "--output", "-o", help="Trajectories JSONL (appended; finished tasks are skipped on rerun)."),
    greedy: bool = typer.Option(True, help="Greedy decoding (--no-greedy samples at agent.temperature)."),
    concurrency: int = typer.Option(16, help="Episodes played at once (the LLM batch size)."),
) -> None:
    """Play tasks with the configured agent and write one trajectory per task to JSONL,
    with the log-probs of every generated token; prints the success rate.

    Example: `agentloop rollout examples/default.yaml env.difficulty=easy --tasks 50 -o test.jsonl`
    """
    from agentloop.run.episodes import run_episodes
    from agentloop.run.from_config import (
        agent_sampling,
        build_agent,
        build_env,
        build_llm,
        close_llm,
    )

    run_config = _load_config(config, overrides)
    env = build_env(run_config.env)
    llm = build_llm(run_config.llm)
    try:
        agent = build_agent(run_config.agent, llm, env)
        chosen = list(env.tasks(split))[:tasks]
        trajectories = run_episodes(env, chosen, agent, max_steps=run_config.agent.max_steps,
                                    concurrency=concurrency, sampling=agent_sampling(run_config.agent, greedy),
                                    output=output)
    finally:
        close_llm(llm)  # vLLM's engine processes must not outlive the command
    successes = sum(t.success for t in trajectories)
    mean_reward = sum(t.reward for t in trajectories) / max(1, len(trajectories))
    typer.echo(f"{successes}/{len(trajectories)} succeeded, mean reward {mean_reward:.3f}; wrote {output}")


@app.command()
def serve(
    model: str = typer.Argument("default", help='"default" (SmolLM2-135M-Instruct) or a local Hugging Face model directory.'),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    backend: str = typer.Option("transformers", help="transformers or vllm."),
    dtype: str = typer.Option(None, help="float32, bfloat16 or float16 (vllm also: auto); default: the backend's."),
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions,
    /v1/chat/completions; the model's id is MODEL as given).

    Example: `agentloop serve default --port 8000`, then from Python
    `OpenAIBackend("http://127.0.0.1:8000/v1", tokenizer=...)` or any OpenAI client.
    """
    from agentloop.llm.model_path import resolve_model
    from agentloop.serve.server import serve as serve_llm

    if backend not in ("transformers", "vllm"):
        raise typer.BadParameter(f"{backend!r} is not one of: transformers, vllm", param_hint="--backend")
    path = resolve_model(model)
    options = {"dtype": dtype} if dtype else {}
    if backend == "vllm":
        from agentloop.llm.vllm_backend import VLLMBackend

        with VLLMBackend.from_pretrained(path, **options) as llm:
            serve_llm(llm, host=host, port=port, model_name=model, tokenizer=llm.tokenizer)
    else:
        from agentloop.llm.transformers_backend import TransformersBackend

        llm = TransformersBackend.from_pretrained(path, **options)
        serve_llm(llm, host=host, port=port, model_name=model, tokenizer=llm.tokenizer)


@app.command()
def play(
    env: str = typer.Argument("webshop", help="The environment to play: webshop."),
    seed: int = typer.Option(0, help="Seed of the catalog and the tasks."),
    products: int = typer.Option(10_000, help="Products in the generated catalog."),
    difficulty: str = typer.Option("easy", help="easy, medium or hard."),
    mode: str = typer.Option("compact", help="Observation mode: compact or text."),
    split: str = typer.Option("test", help="Task split: train or test."),
    task: int = typer.Option(0, help="Index of the task in the split."),
    agent: str = typer.Option("human", help="human (type actions), expert or random (watch them)."),
) -> None:
    """Play an environment in the terminal: read the instruction, then type actions
    such as search[red lipstick] or click[buy now] ('quit' stops).

    Example: `agentloop play webshop --difficulty medium --task 3`, or
    `agentloop play webshop --agent expert` to watch the scripted expert.
    """
    from agentloop.environments.webshop.play import play as play_webshop

    if env != "webshop":
        raise typer.BadParameter(f"{env!r} is not one of: webshop", param_hint="ENV")
    try:
        play_webshop(num_products=products, seed=seed, difficulty=difficulty, observation_mode=mode,
                     split=split, task_index=task, agent=agent)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@app.command()
def search(
    config: str = typer.Argument(None, help="YAML run config (omit for all defaults)."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides such as search.simulations=16 search.value_source=critic."),
    split: str = typer.Option("train", help="Task split: train or test."),
    tasks: int = typer.Option(20, help="How many tasks of the split to search (from the first)."),
    output: str = typer.Option("search-out", "--output", "-o", help="Directory for trees/ and trajectories.jsonl."),
    batch: int = typer.Option(0, help="Trees searched at once (0: all)."),
) -> None:
    """Search tasks with MCTS and self-critique; write one tree per task and the trajectories.

    With search.value_source=reward (data collection) every simulated episode is
    written and the success rate is the share of tasks whose tree holds a success.
    With critic or oracle it acts after searching (policy + MCTS at inference) and
    the success rate is that of the episodes acted out.

    Example: `agentloop search examples/default.yaml search.simulations=8 --tasks 20 -o runs/s`
    """
    from pathlib import Path

    from agentloop.agents.critic import build_critic
    from agentloop.jsonl import write_jsonl
    from agentloop.run.from_config import build_agent, build_env, build_llm, close_llm
    from agentloop.search import save_trees, search_tasks, solve_tasks, trajectories

    run_config = _load_config(config, overrides)
    env = build_env(run_config.env)
    llm = build_llm(run_config.llm)
    agent = build_agent(run_config.agent, llm, env)
    critic = build_critic(run_config.critic, llm)
    chosen = list(env.tasks(split))[:tasks]
    factory = lambda: build_env(run_config.env)  # noqa: E731 (one env per tree)
    out = Path(output)
    setting = run_config.search.value_source
    try:
        if setting == "reward":
            trees = search_tasks(factory, chosen, agent, critic, run_config.search, batch=batch or None)
            records = [t for tree in trees for t in trajectories(tree)]
            solved = sum(tree.solved() for tree in trees)  # as the loop counts
        else:
            results = solve_tasks(factory, chosen, agent, critic, run_config.search, batch=batch or None)
            trees, records = [r.tree for r in results], [r.trajectory for r in results]
            solved = sum(r.trajectory.success for r in results)
    finally:
        close_llm(llm)
    save_trees(trees, out / "trees")
    write_jsonl(out / "trajectories.jsonl", records)
    typer.echo(f"{setting}: {solved}/{len(chosen)} tasks solved; wrote {out}/trees and "
               f"{out}/trajectories.jsonl ({len(records)} trajectories)")


@app.command()
def build(
    trees: str = typer.Argument(..., help="Directory of tree JSON files (from `agentloop search`)."),
    config: str = typer.Argument(None, help="YAML run config: the agent's prompt format (and the judge's model)."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides."),
    output: str = typer.Option("data", "--output", "-o", help="Directory for pairs.jsonl, revisions.jsonl, best.jsonl."),
    data: str = typer.Option("pairs,revisions,best", help="Comma-separated: pairs, revisions, best."),
    threshold: float = typer.Option(0.1, help="Pairs: smallest Q difference."),
    alpha: float = typer.Option(0.5, help="Revisions: a good leaf's return reaches alpha."),
    beta: float = typer.Option(0.2, help="Revisions: a bad leaf is at least beta below its good one."),
    min_reward: float = typer.Option(1.0, help="Best: smallest return of a kept trajectory."),
) -> None:
    """Turn search trees into training data: step-level pairs (Agent Q, TRL conversational
    preference JSONL), revision trajectories (Agent-R; the model judges the bad steps) and
    best trajectories (SFT).

    Example: `agentloop build runs/s/trees examples/default.yaml -o runs/s/data --data pairs,best`
    """
    from pathlib import Path

    from agentloop.agents.critic import build_critic
    from agentloop.jsonl import write_jsonl
    from agentloop.run.from_config import build_agent, build_env, build_llm, close_llm, revision_prompt
    from agentloop.search import (
        PairConfig,
        RevisionConfig,
        best_trajectories,
        load_trees,
        revision_trajectories,
        step_pairs,
    )

    kinds = {k.strip() for k in data.split(",") if k.strip()}
    if not kinds or kinds - {"pairs", "revisions", "best"}:
        raise typer.BadParameter(f"{data!r}: use pairs, revisions and/or best", param_hint="--data")
    run_config = _load_config(config, overrides)
    loaded = load_trees(trees)
    # The prompt needs no model; only the Agent-R judge does.
    llm = build_llm(run_config.llm) if "revisions" in kinds else None
    env = build_env(run_config.env)
    agent = build_agent(run_config.agent, llm, env)
    out = Path(output)
    if "pairs" in kinds:
        pairs = step_pairs(loaded, agent.prompt, PairConfig(threshold=threshold),
                           imitable=run_config.build.imitable)
        typer.echo(f"{len(pairs)} pairs -> {write_jsonl(out / 'pairs.jsonl', pairs)}")
    if "revisions" in kinds:
        try:
            whole = revision_prompt(run_config.agent, run_config.search.max_depth, env)
            revisions = revision_trajectories(loaded, whole, build_critic(run_config.critic, llm),
                                              RevisionConfig(alpha=alpha, beta=beta),
                                              imitable=run_config.build.imitable)
        finally:
            close_llm(llm)
        typer.echo(f"{len(revisions)} revisions -> {write_jsonl(out / 'revisions.jsonl', revisions)}")
    if "best" in kinds:
        best = best_trajectories(loaded, agent.prompt, min_reward=min_reward,
                                 imitable=run_config.build.imitable)
        typer.echo(f"{len(best)} best trajectories -> {write_jsonl(out / 'best.jsonl', best)}")


@app.command("show-tree")
def show_tree(
    tree: str = typer.Argument(..., help="A tree JSON file (from `agentloop search`)."),
    png: str = typer.Option(None, help="Write a PNG drawing here."),
    html: str = typer.Option(None, help="Write a self-contained HTML page here (open it offline)."),
    max_nodes: int = typer.Option(150, help="PNG: draw at most this many (most visited) nodes."),
) -> None:
    """Draw a search tree: a PNG for reports and/or an HTML page where you open nodes to
    read observations, actions and critic scores.

    Example: `agentloop show-tree runs/s/trees/ws-train-0.json --png t.png --html t.html`
    """
    from agentloop.search import Tree, draw_png, write_html

    if not png and not html:
        raise typer.BadParameter("give --png and/or --html")
    loaded = Tree.load(tree)
    if png:
        typer.echo(f"wrote {draw_png(loaded, png, max_nodes=max_nodes)}")
    if html:
        typer.echo(f"wrote {write_html(loaded, html)}")


@app.command()
def train(
    data: str = typer.Argument(..., help="pairs.jsonl or revisions.jsonl of a run, or a TRL preference / messages JSONL file."),
    overrides: list[str] = typer.Argument(None, help="Trainer settings such as lr=1e-5 epochs=2 beta=0.2 lora.r=16."),
    output: str = typer.Option(..., "--output", "-o", help="Checkpoint directory to write; rerun the same command to resume."),
    model: str = typer.Option("default", help='"default" (SmolLM2-135M-Instruct) or a local Hugging Face model directory.'),
    method: str = typer.Option("dpo", help="dpo, ipo or simpo on preference pairs; sft on conversations."),
) -> None:
    """Train a model on an exported dataset (off-policy step-level DPO/IPO/SimPO, or
    masked SFT) and write a Hugging Face checkpoint that every backend loads.

    Example: `agentloop train runs/x/round-1/pairs.jsonl -o ckpt lr=5e-6 epochs=2`
    """
    from pydantic import ValidationError

    from agentloop.trainers.files import train_from_file

    try:
        result = train_from_file(data, output, model=model, method=method, overrides=overrides or [])
    except (ValueError, ValidationError) as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(f"{result.steps} steps, final loss {result.final_loss:.4f}; wrote {output}")

if __name__ == "__main__":
    app()
