"""The `agentloop` command line. Each command is a thin wrapper over library calls;
its help text is the function's docstring."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from agentloop.cli_data import COMMANDS, config_and_overrides, load_command_config
from agentloop.run.console import VERBOSE_HELP, quiet_console

app = typer.Typer(
    name="agentloop",
    help="Self-improving LLM agents: search, critique, build data, train, repeat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts contain actions like search[query]: print them as written
)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@app.callback()
def _stop_cleanly_on_sigterm() -> None:
    # SIGTERM (a scheduler's stop, `kill`) ends a command as Ctrl-C does: its `finally`
    # blocks and exit handlers run, so a vLLM engine's processes stop with it instead of
    # spinning on the CPUs as orphans.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)


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
    verbose: bool = typer.Option(False, "--verbose", help=VERBOSE_HELP),
) -> None:
    """Run (or resume) the self-improvement loop: evaluate the starting model, then for
    each round collect (MCTS on train tasks) -> build (pairs, revisions, best) -> train ->
    evaluate. Writes runs/NAME/ and ends by printing the table of all rounds.

    Re-running the same command after a crash or Ctrl-C continues from the last
    finished phase. The console shows each phase as it runs; the engine and library
    logs go to runs/NAME/logs/engine.log (--verbose: to the console too).
    Example: `agentloop run examples/default.yaml loop.rounds=3`
    """
    from agentloop.config import ConfigError, load_config
    from agentloop.llm.model_path import ModelNotFoundError, resolve_model
    from agentloop.run.report import read_metrics, round_table
    from agentloop.run.rounds import run_rounds
    from agentloop.run.logs import LOG_NAME
    from agentloop.run.rundir import ConfigChangedError

    try:
        run_config = load_config(*config_and_overrides(config, overrides))
        run_config.check_trainable()
        resolve_model(run_config.llm.model)  # fail now, not after the first phase
    except (ConfigError, ModelNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    log = Path(run_config.loop.runs_dir) / run_config.loop.name / "logs" / LOG_NAME
    try:
        with quiet_console(log, verbose) as display:
            directory = run_rounds(run_config, allow_changed=allow_changed_config, display=display)
    except (ConfigChangedError, ConfigError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(round_table(read_metrics(directory.root)))
    typer.echo(f"\nrun directory: {directory.root}\nengine and library logs: {log}")


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
    verbose: bool = typer.Option(False, "--verbose", help=VERBOSE_HELP),
) -> None:
    """Play tasks with the configured agent and write one trajectory per task to JSONL,
    with the log-probs of every generated token; prints the success rate. The engine
    and library logs go to OUTPUT's name with .log (--verbose: to the console too).

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

    run_config = load_command_config(config, overrides)
    log = Path(output).with_suffix(".log")
    with quiet_console(log, verbose) as display:
        display.start(f"rollout · {split}")
        env = build_env(run_config.env, run_config.agent)
        llm = build_llm(run_config.llm)
        try:
            agent = build_agent(run_config.agent, llm, env, training=False)
            chosen = list(env.tasks(split))[:tasks]
            trajectories = run_episodes(env, chosen, agent, max_steps=run_config.agent.max_steps,
                                        concurrency=concurrency,
                                        sampling=agent_sampling(run_config.agent, greedy), output=output)
        finally:
            close_llm(llm)  # vLLM's engine processes must not outlive the command
        successes = sum(t.success for t in trajectories)
        display.finish(f"{successes}/{len(trajectories)} succeeded")
    mean_reward = sum(t.reward for t in trajectories) / max(1, len(trajectories))
    typer.echo(f"{successes}/{len(trajectories)} succeeded, mean reward {mean_reward:.3f}; wrote {output}\n"
               f"engine and library logs: {log}")


@app.command()
def serve(
    model: str = typer.Argument("default", help='"default" (SmolLM2-135M-Instruct) or a local Hugging Face model directory.'),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    backend: str = typer.Option("transformers", help="transformers or vllm."),
    dtype: str = typer.Option(None, help="float32, bfloat16 or float16 (vllm also: auto); default: the backend's."),
    eager: bool = typer.Option(False, "--eager", help="vllm: skip torch.compile (starts in about a third of "
                                                      "the time on a CPU, generates more slowly)."),
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
    if eager and backend != "vllm":
        raise typer.BadParameter("only the vllm backend compiles", param_hint="--eager")
    path = resolve_model(model)
    options = {"dtype": dtype} if dtype else {}
    if backend == "vllm":
        from agentloop.llm.vllm_backend import VLLMBackend

        with VLLMBackend.from_pretrained(path, **options, engine_args={"enforce_eager": True} if eager else None) as llm:
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


# The commands on trees, datasets, training and games live in agentloop/cli_data.py.
for _name, _command in COMMANDS.items():
    app.command(_name)(_command)


if __name__ == "__main__":
    app()
