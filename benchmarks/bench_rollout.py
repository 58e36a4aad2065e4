"""Share of wall time the episode runner spends outside the backend's model calls.

16 concurrent WebShop-style episodes (easy tasks, compact pages) played by the
ReAct agent on the default model. The backend times its own generate/score
calls; everything else (prompt building, parsing, environment steps,
snapshot/restore, JSONL writing, progress bar) is overhead. Prints a final
JSON line with "overhead_fraction" (goal <= 0.05).

    python benchmarks/bench_rollout.py [--episodes 16] [--max-steps 4] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from agentloop.environments.webshop import WebShopEnv

from agentloop.config import AgentConfig
from agentloop.llm.model_path import resolve_model
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.run.episodes import run_episodes
from agentloop.run.from_config import agent_sampling, build_agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    env = WebShopEnv(num_products=10_000, difficulty="easy")
    llm = TransformersBackend.from_pretrained(resolve_model("default"), dtype=args.dtype)
    agent_config = AgentConfig(max_history=0, max_new_tokens=args.max_new_tokens)
    agent = build_agent(agent_config, llm, env)
    sampling = agent_sampling(agent_config)
    tasks = env.tasks("test")[: args.episodes]
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        trajectories = run_episodes(env, tasks, agent, max_steps=args.max_steps, concurrency=args.episodes,
                                    sampling=sampling, output=Path(directory) / "t.jsonl", progress=True)
        wall = time.perf_counter() - start
    steps = sum(t.num_steps for t in trajectories)
    print(json.dumps({
        "episodes": len(trajectories), "steps": steps, "wall_s": round(wall, 2),
        "model_s": round(llm.model_seconds, 2), "dtype": args.dtype,
        "overhead_fraction": round((wall - llm.model_seconds) / wall, 4),
    }))


if __name__ == "__main__":
    main()
