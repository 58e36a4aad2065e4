"""Benchmark the WebShop-style environment on a large catalog.

Measures catalog generation and index build, the latency of search steps and
of other steps, snapshot + restore, peak memory, and plays every task with the
scripted expert (must score 1.0) and the random player (the floor). The last
line printed is one JSON object.

Goals (issue 3): search step p50 < 10 ms, snapshot+restore p50 < 100 us,
peak RSS < 1.5 GB, index build < 60 s.

    python benchmarks/bench_webshop.py                 # 100k products
    python benchmarks/bench_webshop.py --products 10000 --tasks 50
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time

from agentloop.environments.webshop import WebShopEnv, load_shop
from agentloop.environments.webshop.catalog import generate_catalog
from agentloop.environments.webshop.scripted import play_expert, play_random


def _p50(samples: list[float]) -> float:
    return statistics.median(samples)


def _timed_steps(env: WebShopEnv, tasks: list, rng: random.Random) -> tuple[list[float], list[float], list[float]]:
    """Per-step latencies (s) of searches and of clicks, and of snapshot+restore pairs."""
    search, click, snap = [], [], []
    for task in tasks:
        env.reset(task)
        for query in (task.data["query"], task.instruction, " ".join(task.instruction.split()[:3])):
            start = time.perf_counter()
            env.step(f"search[{query}]")
            search.append(time.perf_counter() - start)
            for _ in range(4):
                actions = [a for a in env.available_actions() if a != "click[buy now]"]
                action = rng.choice(actions)
                if action.startswith("search"):
                    break
                start = time.perf_counter()
                env.step(action)
                click.append(time.perf_counter() - start)
                start = time.perf_counter()
                state = env.snapshot()
                env.restore(state)
                snap.append(time.perf_counter() - start)
            env.reset(task)
    return search, click, snap


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=100, help="tasks per split and difficulty")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    generate_catalog(args.products, args.seed)
    catalog_s = time.perf_counter() - start
    start = time.perf_counter()
    load_shop(args.products, args.seed)  # catalog + BM25 index, cached for the envs below
    index_build_s = time.perf_counter() - start

    rng = random.Random(args.seed)
    report: dict = {"products": args.products, "catalog_s": round(catalog_s, 2),
                    "index_build_s": round(index_build_s, 2)}
    search, click, snap = [], [], []
    for difficulty in ("easy", "medium", "hard"):
        env = WebShopEnv(num_products=args.products, seed=args.seed, difficulty=difficulty,
                         num_tasks=args.tasks)
        start = time.perf_counter()
        tasks = env.tasks("train") + env.tasks("test")
        report[f"{difficulty}_tasks_s"] = round(time.perf_counter() - start, 2)
        expert = [play_expert(env, task).reward for task in tasks]
        randoms = [play_random(env, task, rng) for task in env.tasks("test") for _ in range(5)]
        report[f"{difficulty}_tasks"] = len(tasks)
        report[f"{difficulty}_expert_min_reward"] = min(expert)
        report[f"{difficulty}_random_mean_reward"] = round(statistics.mean(r.reward for r in randoms), 4)
        report[f"{difficulty}_random_success"] = round(statistics.mean(r.success for r in randoms), 4)
        s, c, n = _timed_steps(env, env.tasks("test"), rng)
        search, click, snap = search + s, click + c, snap + n

    report.update(
        search_steps=len(search), search_step_ms_p50=round(_p50(search) * 1e3, 3),
        search_step_ms_p95=round(sorted(search)[int(0.95 * len(search))] * 1e3, 3),
        step_ms_p50=round(_p50(click) * 1e3, 4),
        snapshot_restore_us_p50=round(_p50(snap) * 1e6, 3),
        # ru_maxrss is in kilobytes on Linux
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )
    print(json.dumps(report))
    sys.stdout.flush()
    return report


if __name__ == "__main__":
    main()
