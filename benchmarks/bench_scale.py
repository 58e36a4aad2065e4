"""Collection on Ray with 1, 2 and 4 engine actors: node expansions per second.

Each engine actor gets one search worker and the same number of trees
(`--trees-per-engine`, searched as one group), so N engines do N times the
work of one: scaling_efficiency_N = throughput(N) / (N x throughput(1)), 1.0
being perfect. Cluster start-up (actor processes, imports) is not timed;
`agentloop.run.distributed.collect` is, trees written to disk included.

By default the engines are stand-ins for GPUs: the seeded scripted maze model of
tests/run/scripted_llm.py, taking `--call-s` seconds per generate or score call
whatever its size (a GPU engine's batched call costs about the same at these
batch sizes), so the figure measures agentloop's distribution, not this CPU.
`--real` runs a tiny random transformers model in each engine instead, with 1
and 2 engines (one per CPU of a 2-CPU machine). The last line is JSON.

    python benchmarks/bench_scale.py                 # stand-in engines, 1/2/4
    python benchmarks/bench_scale.py --real          # tiny real models, 1/2
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import ray

from agentloop.config import parse_config
from agentloop.llm.tiny import save_tiny_model
from agentloop.run import distributed
from agentloop.run.from_config import build_env
from agentloop.search import load_trees

DOUBLES = Path(__file__).resolve().parent.parent / "tests" / "run"
sys.path.insert(0, str(DOUBLES))
from scripted_llm import stand_in  # noqa: E402


def measure(engines: int, args, model: str | None) -> dict:
    """Expansions per second of one collection with `engines` engines and workers."""
    trees = engines * args.trees_per_engine
    config = parse_config({
        "env": {"kind": "maze", "size": 7, "num_tasks": trees},
        "llm": {"kind": "transformers", "model": model or "default", "device": "cpu"},
        "loop": {"train_tasks": trees, "search_batch": args.trees_per_engine},
        "search": {"simulations": args.simulations, "k": args.k, "max_depth": args.depth,
                   "max_new_tokens": 8},
        # a stand-in engine mostly sleeps: it needs no CPU of its own
        "scale": {"engines": engines, "workers": engines, "cpus_per_engine": 1.0 if model else 0.0},
    })
    factory = None if model else functools.partial(stand_in, args.call_s)
    tasks = list(build_env(config.env).tasks("train"))[:trees]
    served = model or "stand-in"  # the model path every engine loads
    cluster = distributed.Cluster(config, llm_factory=factory)
    with tempfile.TemporaryDirectory() as out:
        try:
            cluster.load(served)  # start the actors before the clock
            ray.get([w.__ray_ready__.remote() for w in cluster.workers])
            began = time.perf_counter()
            distributed.collect(cluster, served, tasks, Path(out))
            seconds = time.perf_counter() - began
            calls = sum(s["calls"] for s in cluster.stats())
        finally:
            cluster.close()
        expansions = sum(tree.node(n)["expanded"] for tree in load_trees(out) for n in tree.graph.nodes)
    return {"engines": engines, "trees": trees, "expansions": expansions, "engine_calls": calls,
            "seconds": round(seconds, 3), "expansions_per_s": round(expansions / seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", action="store_true", help="tiny transformers models in the engines")
    parser.add_argument("--engines", type=int, nargs="+", default=None, help="default 1 2 4 (--real: 1 2)")
    parser.add_argument("--trees-per-engine", type=int, default=8)
    parser.add_argument("--simulations", type=int, default=4)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--call-s", type=float, default=0.2, help="seconds per stand-in engine call")
    args = parser.parse_args()
    counts = args.engines or ([1, 2] if args.real else [1, 2, 4])
    model = str(save_tiny_model(Path(tempfile.mkdtemp(prefix="bench-scale-model-")))) if args.real else None
    path = os.pathsep.join([str(DOUBLES), *filter(None, [os.environ.get("PYTHONPATH")])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    try:
        rows = [measure(n, args, model) for n in counts]
    finally:
        ray.shutdown()
    for row in rows:
        print(f"{row['engines']} engine(s): {row['expansions']} expansions in {row['seconds']} s "
              f"= {row['expansions_per_s']}/s ({row['engine_calls']} engine calls)", file=sys.stderr)
    base = rows[0]["expansions_per_s"] / rows[0]["engines"]
    result = {"mode": "real" if args.real else "stand-in", "call_s": None if args.real else args.call_s,
              "rows": rows}
    for row in rows[1:]:
        result[f"scaling_efficiency_{row['engines']}"] = round(row["expansions_per_s"] / (row["engines"] * base), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
