"""Generation and scoring throughput: VLLMBackend against TransformersBackend.

The workload is what a search wave sends: 16 prompts that share a 250-token
prefix (task and history), 4 samples each, 32 new tokens, temperature 1. Both
backends run it in this one process, in the same dtype, on the same model; the
prefix cache of vLLM is cleared before each timed call, so no call profits from
the one before (within a call, both backends share the prefix).

Prints one line per measurement and, last, one JSON line with
"vllm_speedup" (generated tokens/s of vLLM over transformers).

    python benchmarks/bench_backends.py --dtype float32
    python benchmarks/bench_backends.py --dtype bfloat16 --repeats 3
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time

from agentloop.llm import Sampling
from agentloop.llm.model_path import resolve_model

PASSAGE = (
    "You are shopping in an online store. Each turn you read the page and reply with "
    "one action: search[query] to search, click[item] to open a result or press a "
    "button, and click[buy now] to buy. Buy the product that matches every attribute "
    "of the instruction, at the lowest price, without wasting turns. "
    "Instruction: find a pair of waterproof hiking boots for men, size 10, brown, "
    "with a rubber sole and ankle support, price lower than 90 dollars. "
    "History: search[waterproof hiking boots men] -> results: B07X1 Trailmaster Mid "
    "($84.99), B08Q3 Summit Ridge Low ($59.50), B09K2 Granite Peak Hiker ($112.00), "
    "B06T7 Cascade Leather Boot ($79.95), B05L9 Alpine Trek GTX ($134.00). "
    "click[B07X1] -> Trailmaster Mid, waterproof leather upper, rubber lug sole, "
    "padded collar for ankle support, colors: brown, black, olive; sizes 7 to 13. "
)


def build_prompts(tokenizer, count: int, prefix_tokens: int) -> list[str]:
    """`count` prompts: one `prefix_tokens`-token prefix, then a distinct question."""
    ids = tokenizer(PASSAGE * 4, add_special_tokens=False).input_ids[:prefix_tokens]
    prefix = tokenizer.decode(ids)
    return [f"{prefix}\nCandidate action {i + 1} of {count}. Next action:" for i in range(count)]


def shared_prefix_length(tokenizer, prompts: list[str]) -> int:
    rows = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    length = 0
    while all(len(r) > length and r[length] == rows[0][length] for r in rows):
        length += 1
    return length


def measure(llm, prompts, n, new_tokens, repeats, before_each=lambda: None) -> dict:
    """Median generated tokens/s over `repeats` timed calls (after one warm-up),
    and scoring tokens/s of the generated continuations."""
    def call(seed, n=n, new_tokens=new_tokens):
        before_each()
        start = time.perf_counter()
        out = llm.generate(prompts, n=n, sampling=Sampling(temperature=1.0, max_new_tokens=new_tokens, seed=seed))
        return out, time.perf_counter() - start

    call(seed=1000, n=1, new_tokens=4)  # warm-up: first-call allocations and compilations
    rates, outputs = [], None
    for seed in range(repeats):
        outputs, seconds = call(seed)
        tokens = sum(len(c.token_ids) for cs in outputs for c in cs)
        rates.append(tokens / seconds)
        print(f"  generate: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:.1f} tok/s", flush=True)
    # Score every sample after its prompt: 64 rows that share the prefix.
    score_prompts = [p for p, cs in zip(prompts, outputs) for _ in cs]
    continuations = [c.text for cs in outputs for c in cs]
    before_each()
    start = time.perf_counter()
    scores = llm.score(score_prompts, continuations)
    seconds = time.perf_counter() - start
    total = sum(len(llm.encode(p)) + len(s.token_ids) for p, s in zip(score_prompts, scores))
    print(f"  score: {total} tokens (prompt + continuation) in {seconds:.2f} s = {total / seconds:.1f} tok/s")
    return {"generate_tok_s": statistics.median(rates), "score_tok_s": total / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--prefix-tokens", type=int, default=250)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--enforce-eager", action="store_true", help="vLLM without torch.compile (starts faster)")
    args = parser.parse_args()

    import torch

    from agentloop.llm.transformers_backend import TransformersBackend
    from agentloop.llm.vllm_backend import VLLMBackend

    path = resolve_model(args.model)
    load_before = os.getloadavg()
    print(f"model {path}, dtype {args.dtype}, {os.cpu_count()} CPUs, load average {load_before}", flush=True)

    hf = TransformersBackend.from_pretrained(path, dtype=args.dtype)
    prompts = build_prompts(hf.tokenizer, args.prompts, args.prefix_tokens)
    shared = shared_prefix_length(hf.tokenizer, prompts)
    print(f"{len(prompts)} prompts, shared prefix {shared} tokens, n={args.n}, {args.new_tokens} new tokens")
    print(f"transformers ({torch.get_num_threads()} threads):", flush=True)
    transformers = measure(hf, prompts, args.n, args.new_tokens, args.repeats)
    del hf
    gc.collect()

    start = time.perf_counter()
    engine_args = {"enforce_eager": True} if args.enforce_eager else {}
    with VLLMBackend.from_pretrained(path, dtype=args.dtype, engine_args=engine_args,
                                   score_with="engine") as llm:  # the engine's own scoring
        start_s = time.perf_counter() - start
        print(f"vllm (engine start {start_s:.1f} s):", flush=True)
        vllm = measure(llm, prompts, args.n, args.new_tokens, args.repeats,
                       before_each=llm.engine.reset_prefix_cache)

    result = {
        "dtype": args.dtype,
        "workload": {"prompts": len(prompts), "shared_prefix_tokens": shared, "n": args.n,
                     "new_tokens": args.new_tokens, "repeats": args.repeats},
        "transformers_tok_s": round(transformers["generate_tok_s"], 1),
        "vllm_tok_s": round(vllm["generate_tok_s"], 1),
        "vllm_speedup": round(vllm["generate_tok_s"] / transformers["generate_tok_s"], 2),
        "transformers_score_tok_s": round(transformers["score_tok_s"], 1),
        "vllm_score_tok_s": round(vllm["score_tok_s"], 1),
        "vllm_engine_start_s": round(start_s, 1),
        "vllm_enforce_eager": args.enforce_eager,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":  # vLLM starts worker processes
    main()
