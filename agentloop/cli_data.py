"""The `agentloop` commands on trees, datasets, training and games: `search`, `build`,
`show-tree`, `train`, `selfplay`, `icl-aif`. `agentloop/cli.py` registers them on the
one app; each is a thin wrapper over library calls whose help text is its docstring."""

from __future__ import annotations

from pathlib import Path

import typer

from agentloop.run.console import VERBOSE_HELP, quiet_console


def config_and_overrides(config: str | None, overrides: list[str] | None) -> tuple[str | None, list[str]]:
    """CONFIG is optional: a first argument of the form key=value is an override."""
    overrides = list(overrides or [])
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        return None, [config] + overrides
    return config, overrides


def load_command_config(config: str | None, overrides: list[str] | None):
    """The run config of a command's CONFIG and overrides; a bad one is a usage error."""
    from agentloop.config import ConfigError, load_config

    try:
        return load_config(*config_and_overrides(config, overrides))
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from error



def search(
    config: str = typer.Argument(None, help="YAML run config (omit for all defaults)."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides such as search.simulations=16 search.value_source=critic."),
    split: str = typer.Option("train", help="Task split: train or test."),
    tasks: int = typer.Option(20, help="How many tasks of the split to search (from the first)."),
    output: str = typer.Option("search-out", "--output", "-o", help="Directory for trees/ and trajectories.jsonl."),
    batch: int = typer.Option(0, help="Trees searched at once (0: all)."),
    verbose: bool = typer.Option(False, "--verbose", help=VERBOSE_HELP),
) -> None:
    """Search tasks with MCTS and self-critique; write one tree per task and the trajectories.

    With search.value_source=reward (data collection) every simulated episode is
    written and the success rate is the share of tasks whose tree holds a success.
    With critic or oracle it acts after searching (policy + MCTS at inference) and
    the success rate is that of the episodes acted out. The engine and library logs
    go to OUTPUT/logs/engine.log (--verbose: to the console too).

    Example: `agentloop search examples/default.yaml search.simulations=8 --tasks 20 -o runs/s`
    """
    from agentloop.agents.critic import build_critic
    from agentloop.jsonl import write_jsonl
    from agentloop.run.from_config import build_agent, build_env, build_llm, close_llm
    from agentloop.run.logs import LOG_NAME
    from agentloop.search import save_trees, search_tasks, solve_tasks, trajectories

    run_config = load_command_config(config, overrides)
    out = Path(output)
    setting = run_config.search.value_source
    with quiet_console(out / "logs" / LOG_NAME, verbose) as display:
        display.start(f"search · {setting}")
        env = build_env(run_config.env, run_config.agent)
        llm = build_llm(run_config.llm)
        agent = build_agent(run_config.agent, llm, env, training=setting == "reward")
        critic = build_critic(run_config.critic, llm)
        chosen = list(env.tasks(split))[:tasks]
        factory = lambda: build_env(run_config.env, run_config.agent)  # noqa: E731 (one env per tree)
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
        display.finish(f"{solved}/{len(chosen)} tasks solved")
    save_trees(trees, out / "trees")
    write_jsonl(out / "trajectories.jsonl", records)
    typer.echo(f"{setting}: {solved}/{len(chosen)} tasks solved; wrote {out}/trees and "
               f"{out}/trajectories.jsonl ({len(records)} trajectories)\n"
               f"engine and library logs: {out / 'logs' / LOG_NAME}")


def build(
    trees: str = typer.Argument(..., help="Directory of tree JSON files (from `agentloop search`)."),
    config: str = typer.Argument(None, help="YAML run config: the agent's prompt format (and the judge's model)."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides."),
    output: str = typer.Option("data", "--output", "-o", help="Directory for pairs.jsonl, revisions.jsonl, best.jsonl."),
    data: str = typer.Option("pairs,revisions,best", help="Comma-separated: pairs, revisions, best."),
    threshold: float = typer.Option(0.1, help="Pairs: smallest Q difference (these four: fractions of the reward range)."),
    alpha: float = typer.Option(0.5, help="Revisions: a good leaf's return reaches alpha."),
    beta: float = typer.Option(0.2, help="Revisions: a bad leaf is at least beta below its good one."),
    min_reward: float = typer.Option(1.0, help="Best: smallest return of a kept trajectory (1.0: the top)."),
    verbose: bool = typer.Option(False, "--verbose", help=VERBOSE_HELP),
) -> None:
    """Turn search trees into training data: step-level pairs (Agent Q, TRL conversational
    preference JSONL), revision trajectories (Agent-R; the model judges the bad steps) and
    best trajectories (SFT). Only revisions start a model; its engine and library logs go
    to OUTPUT/logs/engine.log (--verbose: to the console too).

    Example: `agentloop build runs/s/trees examples/default.yaml -o runs/s/data --data pairs,best`
    """
    from pathlib import Path

    from agentloop.agents.critic import build_critic
    from agentloop.jsonl import write_jsonl
    from agentloop.environments.codec import codec_of
    from agentloop.run.from_config import build_agent, build_env, build_llm, close_llm, revision_prompt
    from agentloop.run.logs import LOG_NAME
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
    run_config = load_command_config(config, overrides)
    loaded = load_trees(trees)
    env = build_env(run_config.env, run_config.agent)
    agent = build_agent(run_config.agent, None, env)  # the prompt needs no model; only the Agent-R judge does
    imitable = run_config.build.imitable_with(codec_of(env))
    out = Path(output)
    if "pairs" in kinds:
        pairs = step_pairs(loaded, agent.prompt, PairConfig(threshold=threshold),
                           imitable=imitable)
        typer.echo(f"{len(pairs)} pairs -> {write_jsonl(out / 'pairs.jsonl', pairs)}")
    if "revisions" in kinds:
        log = out / "logs" / LOG_NAME
        with quiet_console(log, verbose) as display:
            display.start("build · revisions (the model judges the bad steps)")
            llm = build_llm(run_config.llm)
            try:
                whole = revision_prompt(run_config.agent, run_config.search.max_depth, env)
                revisions = revision_trajectories(loaded, whole, build_critic(run_config.critic, llm),
                                                  RevisionConfig(alpha=alpha, beta=beta),
                                                  imitable=imitable)
            finally:
                close_llm(llm)
            display.finish(f"{len(revisions)} revisions")
        typer.echo(f"{len(revisions)} revisions -> {write_jsonl(out / 'revisions.jsonl', revisions)} "
                   f"(engine and library logs: {log})")
    if "best" in kinds:
        best = best_trajectories(loaded, agent.prompt, min_reward=min_reward,
                                 imitable=imitable)
        typer.echo(f"{len(best)} best trajectories -> {write_jsonl(out / 'best.jsonl', best)}")


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


def train(
    data: str = typer.Argument(..., help="pairs.jsonl or revisions.jsonl of a run, or a TRL preference / messages JSONL file."),
    overrides: list[str] = typer.Argument(None, help="Dotted run-config overrides, as `agentloop run` takes them: trainer.dpo.lr=1e-5 trainer.dpo.epochs=2 trainer.reference=recompute trainer.sft.lora.r=16."),
    output: str = typer.Option(..., "--output", "-o", help="Checkpoint directory to write; rerun the same command to resume."),
    config: str = typer.Option(None, "--config", help="YAML run config whose trainer section (and llm.model) apply; omit for the defaults."),
    model: str = typer.Option(None, help='Model to train: "default" (SmolLM2-135M-Instruct) or a local Hugging Face model directory; omit for llm.model.'),
    method: str = typer.Option(None, help="dpo, ipo or simpo on preference pairs (omit: trainer.dpo.loss); sft on conversations."),
) -> None:
    """Train a model on an exported dataset (off-policy step-level DPO/IPO/SimPO, or
    masked SFT) and write a Hugging Face checkpoint that every backend loads. Settings come
    from the run config's `trainer` section (trainer.dpo, trainer.sft, trainer.reference).

    Example: `agentloop train runs/x/round-1/pairs.jsonl -o ckpt trainer.dpo.lr=5e-6 trainer.dpo.epochs=2`
    """
    from pydantic import ValidationError

    from agentloop.trainers.files import train_from_file

    run_config = load_command_config(config, overrides)
    try:
        result = train_from_file(data, output, run_config, method=method, model=model)
    except (ValueError, ValidationError) as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(f"{result.steps} steps, final loss {result.final_loss:.4f}; wrote {output}")


def selfplay(
    config: str = typer.Argument(None, help="YAML run config with env.kind=negotiation."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides such as selfplay.games=20 selfplay.seller_model=runs/x/round-1/checkpoint."),
    output: str = typer.Option("selfplay-out", "--output", "-o", help="Directory for games.jsonl and summary.json."),
) -> None:
    """Play buyer against seller on the test tasks, both agents from the config; write both
    roles' trajectories and print the deal rate, mean price and rewards with 95% intervals.

    Example: `agentloop selfplay examples/negotiation.yaml selfplay.games=100 -o runs/sp`
    """
    from pathlib import Path

    from agentloop.config import ConfigError
    from agentloop.run.bargaining import selfplay_from_config

    run_config = load_command_config(config, overrides)
    try:
        summary = selfplay_from_config(run_config, Path(output))
    except ConfigError as error:
        raise typer.BadParameter(str(error)) from error
    low, high = summary.deal_rate_ci95
    typer.echo(f"{summary.games} games: deal rate {summary.deal_rate:.2f} (95% CI {low:.2f}-{high:.2f})")
    if summary.mean_price is not None:
        low, high = summary.mean_price_ci95
        typer.echo(f"mean deal price {summary.mean_price:.2f} (95% CI {low:.2f}-{high:.2f})")
    for role, value in summary.mean_reward.items():
        low, high = summary.mean_reward_ci95[role]
        typer.echo(f"{role}: mean reward {value:.3f} (95% CI {low:.3f}-{high:.3f}), "
                   f"invalid moves {summary.invalid_rate[role]:.1%}")
    typer.echo(f"wrote {output}/games.jsonl and {output}/summary.json")


def icl_aif(
    config: str = typer.Argument(None, help="YAML run config with env.kind=negotiation."),
    overrides: list[str] = typer.Argument(None, help="Dotted overrides such as selfplay.games=100 selfplay.replays=5."),
    modes: str = typer.Option("none,constant,ai", help="Feedback modes, comma-separated: none, constant, ai."),
    output: str = typer.Option("icl-aif-out", "--output", "-o", help="Directory for icl-aif.sqlite and icl-aif.json; rerun to resume."),
) -> None:
    """In-context learning from AI feedback (Fu et al. 2023): the seller replays each game
    with a critic's feedback; prints mean deal price and deal rate per game index and mode.

    Example: `agentloop icl-aif examples/negotiation.yaml selfplay.games=100 -o runs/aif`
    """
    from pathlib import Path

    from agentloop.config import ConfigError
    from agentloop.run.bargaining import icl_aif_from_config

    run_config = load_command_config(config, overrides)
    try:
        table = icl_aif_from_config(run_config, Path(output), [m.strip() for m in modes.split(",") if m.strip()])
    except (ConfigError, ValueError) as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo("| mode | game | played | deal rate (95% CI) | mean price |\n|---|---|---|---|---|")
    for mode, rows in table.items():
        for row in rows:
            if not row["played"]:
                continue
            low, high = row["deal_rate_ci95"]
            price = "" if row["mean_price"] is None else f"{row['mean_price']:.2f}"
            typer.echo(f"| {mode} | {row['game']} | {row['played']} | {row['deal_rate']:.2f} "
                       f"({low:.2f}-{high:.2f}) | {price} |")
    typer.echo(f"wrote {output}/icl-aif.json")


COMMANDS = {"search": search, "build": build, "show-tree": show_tree, "train": train,
            "selfplay": selfplay, "icl-aif": icl_aif}
