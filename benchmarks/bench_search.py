"""Batched search versus one tree after another: node expansions per second.

Searches the same N train tasks with the same model and settings twice: all N
trees at once (one `propose` call and one critic call per wave for every tree)
and one tree after another (N times the calls, each with one tree's states).
Everything comes from a run config (`--config`, default `examples/default.yaml`:
its WebShop env, its backend (vLLM there), agent, critic and search sections),
with the overrides given; the prefix cache of a vLLM engine is cleared before
each side, so neither profits from the other's prompts. The final line is JSON
with both rates, the backend, and "speedup" = batched / sequential rate.

    python benchmarks/bench_search.py                              # the default config, 8 tasks
    python benchmarks/bench_search.py search.simulations=2         # dotted overrides of the config
    python benchmarks/bench_search.py --env maze --tiny            # a tiny random model: a smoke run
"""

from __future__ import annotations

import argparse
import json
import time

from agentloop.search import MCTS

from agentloop.agents.critic import build_critic
from agentloop.config import MazeConfig, load_config
from agentloop.run.from_config import build_agent, build_env, build_llm, close_llm


def tiny_llm():
    """A random 2-layer llama with the default model's tokenizer (for smoke runs)."""
    from transformers import AutoTokenizer

    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.tiny import tiny_model
    from agentloop.llm.transformers_backend import TransformersBackend

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    return TransformersBackend(tiny_model(tokenizer), tokenizer)


def timed_search(agent, critic, config, env_config, tasks, batch: int, llm) -> dict:
    """Search `tasks` `batch` trees at a time; expansions, seconds and LLM calls."""
    reset = getattr(getattr(llm, "engine", None), "reset_prefix_cache", None)
    if reset is not None:
        reset()
    expansions = calls = 0
    start = time.perf_counter()
    for first in range(0, len(tasks), batch):
        group = tasks[first:first + batch]
        search = MCTS(agent, critic, config)
        search.search([build_env(env_config) for _ in group], group)
        expansions += search.stats["expansions"]
        calls += search.stats["propose_calls"] + search.stats["critic_calls"]
    seconds = time.perf_counter() - start
    return {"trees_at_once": batch, "seconds": round(seconds, 2), "expansions": expansions,
            "search_calls": calls, "expansions_per_s": round(expansions / seconds, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="dotted overrides of the config (search.k=2)")
    parser.add_argument("--config", default="examples/default.yaml")
    parser.add_argument("--env", choices=("config", "maze"), default="config",
                        help="the config's environment, or the maze")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model (transformers) instead")
    parser.add_argument("--tasks", type=int, default=8)
    args = parser.parse_args()

    config = load_config(args.config, args.overrides)
    env_config = MazeConfig() if args.env == "maze" else config.env
    llm = tiny_llm() if args.tiny else build_llm(config.llm)
    try:
        env = build_env(env_config)
        tasks = env.tasks("train")[:args.tasks]
        agent = build_agent(config.agent, llm, env)
        critic = build_critic(config.critic, llm)
        search = config.search
        # Warm-up (first-call costs such as kernel selection stay out of both timings).
        timed_search(agent, critic, search.model_copy(update={"simulations": 1}), env_config, tasks[:1], 1, llm)
        batched = timed_search(agent, critic, search, env_config, tasks, len(tasks), llm)
        print(json.dumps({"batched": batched}), flush=True)
        sequential = timed_search(agent, critic, search, env_config, tasks, 1, llm)
        print(json.dumps({"sequential": sequential}), flush=True)
    finally:
        close_llm(llm)
    print(json.dumps({"config": args.config, "overrides": args.overrides, "env": env_config.kind,
                      "backend": "tiny-random transformers" if args.tiny else config.llm.kind,
                      "model": "tiny-random" if args.tiny else config.llm.model,
                      "tasks": len(tasks), "simulations": search.simulations, "k": search.k,
                      "max_depth": search.max_depth,
                      "batched_expansions_per_s": batched["expansions_per_s"],
                      "sequential_expansions_per_s": sequential["expansions_per_s"],
                      "speedup": round(batched["expansions_per_s"]
                                       / max(sequential["expansions_per_s"], 1e-9), 2)}))


if __name__ == "__main__":  # vLLM starts worker processes
    main()
