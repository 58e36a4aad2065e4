"""Run reports: `metrics.jsonl` (one line per finished phase), `report.md` with a
table of all rounds, and PNG plots (success and reward per round, DPO loss and
margins, tree sizes).

Example:
    >>> write_report(Path("runs/default"))      # after or during a run
    >>> print(round_table(read_metrics(Path("runs/default"))))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentloop.records import EVAL_SETTINGS

METRICS = "metrics.jsonl"


def read_metrics(root: Path) -> list[dict[str, Any]]:
    path = Path(root) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _by_round(metrics: list[dict[str, Any]]) -> dict[int, dict[str, dict[str, Any]]]:
    rounds: dict[int, dict[str, dict[str, Any]]] = {}
    for entry in metrics:
        rounds.setdefault(entry["round"], {})[entry["phase"]] = entry
    return rounds


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def held_out_names(metrics: list[dict[str, Any]]) -> list[str]:
    """The `loop.held_out` benchmarks the metrics hold, in the order first seen."""
    names = [m["phase"][len("evaluate-"):] for m in metrics if m["phase"].startswith("evaluate-")]
    return [name for name in dict.fromkeys(names) if name not in EVAL_SETTINGS]


def round_table(metrics: list[dict[str, Any]]) -> str:
    """A Markdown table with one row per round (round 0: the starting model), with a column
    of greedy success per `loop.held_out` benchmark."""
    held_out = held_out_names(metrics)
    header = ("| round | greedy success % (95% CI) | mean reward | mean steps | invalid % | "
              "MCTS success % | " + "".join(f"{name} success % | " for name in held_out) +
              "solved in search | tree nodes | pairs | SFT examples | DPO loss | minutes |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for number, phases in sorted(_by_round(metrics).items()):
        greedy = phases.get("evaluate-greedy", {})
        mcts = phases.get("evaluate-mcts", {})
        collect, build, train = phases.get("collect", {}), phases.get("build", {}), phases.get("train", {})
        ci = greedy.get("success_ci95")
        success = f"{_pct(greedy.get('success_rate'))} ({_pct(ci[0])}-{_pct(ci[1])})" if ci else ""
        solved = f"{collect['tasks_solved_in_search']}/{collect['trees']}" if collect else ""
        nodes = f"{collect['mean_tree_nodes']:.1f}" if "mean_tree_nodes" in collect else ""
        # A round's evaluations are one phase: each of its entries carries that phase's seconds.
        evaluating = max((p.get("seconds", 0) for name, p in phases.items() if name.startswith("evaluate-")), default=0)
        minutes = (evaluating + sum(p.get("seconds", 0) for name, p in phases.items()
                                    if not name.startswith("evaluate-"))) / 60
        loss = train.get("dpo_loss")
        lines.append(
            f"| {number} | {success} | {greedy.get('mean_reward', 0):.3f} | {greedy.get('mean_steps', 0):.1f} | "
            f"{_pct(greedy.get('invalid_action_rate'))} | {_pct(mcts.get('success_rate'))} | "
            + "".join(f"{_pct(phases.get(f'evaluate-{name}', {}).get('success_rate'))} | " for name in held_out) +
            f"{solved} | {nodes} | "
            f"{build.get('pairs', '')} | {train.get('sft_examples', '')} | "
            f"{'' if loss is None else f'{loss:.3f}'} | {minutes:.1f} |")
    return "\n".join(lines)


def write_plots(root: Path, metrics: list[dict[str, Any]]) -> list[Path]:
    """Success/reward per round, DPO loss and margins per step, tree sizes per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = root / "plots"
    plots.mkdir(exist_ok=True)
    rounds = _by_round(metrics)
    numbers = sorted(n for n, p in rounds.items() if "evaluate-greedy" in p)
    written = []
    if numbers:
        figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        greedy = [rounds[n]["evaluate-greedy"] for n in numbers]
        low = [g["success_rate"] - g["success_ci95"][0] for g in greedy]
        high = [g["success_ci95"][1] - g["success_rate"] for g in greedy]
        axes[0].errorbar(numbers, [g["success_rate"] for g in greedy], yerr=[low, high], marker="o", capsize=4)
        axes[0].set(title="success rate (greedy, 95% CI)", xlabel="round", ylim=(0, 1), xticks=numbers)
        axes[1].plot(numbers, [g["mean_reward"] for g in greedy], marker="o")
        axes[1].set(title="mean reward", xlabel="round", ylim=(0, 1), xticks=numbers)
        written.append(_save(figure, plots / "success.png"))
    logs = sorted(root.glob("round-*/train-dpo.jsonl"))
    if logs:
        figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        offset = 0
        for path in logs:
            entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            steps = [offset + e["step"] for e in entries]
            axes[0].plot(steps, [e["loss"] for e in entries], label=path.parent.name)
            axes[1].plot(steps, [e.get("margin", 0.0) for e in entries], label=path.parent.name)
            offset = steps[-1] if steps else offset
        axes[0].set(title="DPO loss", xlabel="step")
        axes[1].set(title="DPO reward margin", xlabel="step")
        axes[0].legend()
        written.append(_save(figure, plots / "dpo.png"))
    collected = sorted(n for n, p in rounds.items() if "collect" in p)
    if collected:
        figure, axis = plt.subplots(figsize=(4.5, 3.5))
        axis.bar(collected, [rounds[n]["collect"]["mean_tree_nodes"] for n in collected])
        axis.set(title="mean tree size (nodes)", xlabel="round", xticks=collected)
        written.append(_save(figure, plots / "trees.png"))
    return written


def _save(figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path


def write_report(root: Path) -> Path:
    """Write report.md (the round table and the plots) into the run directory `root`."""
    metrics = read_metrics(root)
    plots = write_plots(root, metrics)
    text = [f"# Run {root.name}", "", round_table(metrics), ""]
    text += [f"![{p.stem}](plots/{p.name})" for p in plots]
    path = root / "report.md"
    path.write_text("\n".join(text) + "\n")
    return path
