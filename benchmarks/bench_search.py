"""Batched search versus one tree after another: node expansions per second.

Searches the same N tasks with the same model and settings twice: all N trees
at once (one `propose` call and one critic call per wave for every tree) and
one tree after another (N times the calls, each with one tree's states). The
final line is JSON with both rates and "speedup" = batched / sequential rate.

    python benchmarks/bench_search.py                       # default model, WebShop, 8 tasks
    python benchmarks/bench_search.py --env maze --tiny     # a tiny random model: a smoke run

Runs on whatever device the transformers backend picks (CUDA when present).
"""

from __future__ import annotations

import argparse
import json
import time

from agentloop.environments.webshop import WebShopConfig
from agentloop.search import MCTS, SearchConfig

from agentloop.agents.critic import LLMCritic
from agentloop.config import AgentConfig, MazeConfig
from agentloop.run.from_config import build_agent, build_env


def tiny_llm():
    """A random 2-layer llama with the default model's tokenizer (for smoke runs)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.transformers_backend import TransformersBackend

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id))
    return TransformersBackend(model.eval(), tokenizer)


def timed_search(agent, critic, config, env_config, tasks, batch: int) -> dict:
    """Search `tasks` `batch` trees at a time; expansions, seconds and LLM calls."""
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
    parser.add_argument("--env", choices=("webshop", "maze"), default="webshop")
    parser.add_argument("--model", default="default", help="'default' or a HF model directory")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model instead")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--simulations", type=int, default=2)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-depth", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--products", type=int, default=1000, help="WebShop catalog size")
    args = parser.parse_args()

    if args.tiny:
        llm = tiny_llm()
    else:
        from agentloop.llm.model_path import resolve_model
        from agentloop.llm.transformers_backend import TransformersBackend

        llm = TransformersBackend.from_pretrained(resolve_model(args.model))
    env_config = (WebShopConfig(num_products=args.products, difficulty="easy")
                  if args.env == "webshop" else MazeConfig())
    env = build_env(env_config)
    tasks = env.tasks("train")[:args.tasks]
    agent = build_agent(AgentConfig(max_new_tokens=args.max_new_tokens), llm, env)
    critic = LLMCritic(llm)
    config = SearchConfig(simulations=args.simulations, k=args.k, max_depth=args.max_depth,
                          max_new_tokens=args.max_new_tokens)
    # Warm-up (first-call costs such as kernel selection stay out of both timings).
    timed_search(agent, critic, config.model_copy(update={"simulations": 1}), env_config,
                 tasks[:1], 1)
    batched = timed_search(agent, critic, config, env_config, tasks, len(tasks))
    print(json.dumps({"batched": batched}), flush=True)
    sequential = timed_search(agent, critic, config, env_config, tasks, 1)
    print(json.dumps({"sequential": sequential}), flush=True)
    device = str(getattr(llm, "device", "?"))
    print(json.dumps({"env": args.env, "model": "tiny-random" if args.tiny else args.model,
                      "device": device, "tasks": len(tasks), "simulations": args.simulations,
                      "k": args.k, "max_depth": args.max_depth,
                      "batched_expansions_per_s": batched["expansions_per_s"],
                      "sequential_expansions_per_s": sequential["expansions_per_s"],
                      "speedup": round(batched["expansions_per_s"]
                                       / max(sequential["expansions_per_s"], 1e-9), 2)}))


if __name__ == "__main__":
    main()
