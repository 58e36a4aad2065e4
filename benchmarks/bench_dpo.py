"""Step-level DPO: agentloop's trainer vs TRL's DPOTrainer on the same 64 pairs.

The data looks like what Agent Q's search produces: 22 nodes, each a prompt of
about 250 tokens (the episode history) with 3 candidate actions of about 20
tokens, every ordered pair of candidates a preference pair (64 pairs in all),
each carrying the generating policy's log-probs. Both trainers run the default
model (SmolLM2-135M), full fine-tuning, float32 on CPU (bf16 on a GPU for
both), the same batch size, learning rate and schedule, one epoch.

TRL gets its best setting for off-policy data: `precompute_ref_log_probs=True`
(no reference model during training; the precompute is not timed). Timing
covers the optimiser steps only (forward, backward, optimiser) on both sides:
our per-step log and a TRL callback from step begin to step end. `speedup`
uses wall time (the issue's measure); `speedup_cpu_time` uses the process's
CPU time, which a machine shared with other jobs distorts less. Each side
runs in its own subprocess so its peak RSS is its own.

Both sides see the same load: they alternate, trl-ours then ours-trl and so on
(`--repeats` runs of each, 2 by default), so a load that drifts during the run
falls on both; each ratio is of the two sides' medians, and every run's line is
printed. The ratios include the optimiser steps only: not model loading, TRL's
dataset preparation and reference precompute, or our encoding.

    python benchmarks/bench_dpo.py              # one JSON line per run, then the summary
    python benchmarks/bench_dpo.py --pairs 16   # quicker
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("shoes red blue size price rating leather cotton small large pack home kitchen lamp desk chair "
         "wireless charger black white travel bag organic tea green coffee mug ceramic steel bottle").split()
BATCH_SIZE, LR, BETA = 8, 5e-6, 0.1


def make_pairs(tokenizer, count: int, seed: int = 0):
    """`count` pairs from nodes of 3 candidates: prompt ~250 tokens, actions ~20 tokens."""
    from agentloop.records import Message, PreferencePair

    rng = random.Random(seed)
    pairs = []
    node = 0
    while len(pairs) < count:
        history = [Message(role="system", content="You are a shopping agent. Reply with a thought and an action.")]
        while True:
            text = "Observation: " + " ".join(rng.choice(WORDS) for _ in range(40))
            history.append(Message(role="user", content=text))
            if len(tokenizer(tokenizer.apply_chat_template([m.model_dump() for m in history], tokenize=False,
                                                           add_generation_prompt=True)).input_ids) >= 240:
                break
            history.append(Message(role="assistant", content=f"Action: search[{rng.choice(WORDS)}]"))
        actions = [f"Thought: I should look at the {rng.choice(WORDS)} {rng.choice(WORDS)} item. "
                   f"Action: click[{rng.choice(WORDS)} {rng.choice(WORDS)}]" for _ in range(3)]
        logprobs = [-rng.uniform(10, 40) for _ in actions]
        for a, b in [(0, 1), (0, 2), (1, 2)]:
            pairs.append(PreferencePair(
                prompt=tuple(history), chosen=(Message(role="assistant", content=actions[a]),),
                rejected=(Message(role="assistant", content=actions[b]),),
                chosen_logprob=logprobs[a], rejected_logprob=logprobs[b]))
        node += 1
    return pairs[:count]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(pairs, output: Path, bf16: bool) -> dict:
    from agentloop.trainers.config import DPOConfig
    from agentloop.trainers.dpo import train_dpo

    from agentloop.llm.model_path import resolve_model

    config = DPOConfig(lr=LR, beta=BETA, batch_size=BATCH_SIZE, epochs=1, warmup_ratio=0.1,
                       schedule="cosine", max_grad_norm=1.0, bf16=bf16, progress=False,
                       save_every=10_000)
    result = train_dpo(resolve_model("default"), pairs, config, output)
    return {"steps": result.steps, "train_seconds": sum(e["seconds"] for e in result.logs),
            "train_cpu_seconds": sum(e["cpu_seconds"] for e in result.logs), "final_loss": result.final_loss}


def run_trl(pairs, output: Path, bf16: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from agentloop.llm.model_path import resolve_model

    path = resolve_model("default")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    rows = [{"prompt": [m.model_dump() for m in p.prompt], "chosen": [m.model_dump() for m in p.chosen],
             "rejected": [m.model_dump() for m in p.rejected]} for p in pairs]
    args = DPOConfig(output_dir=str(output), per_device_train_batch_size=BATCH_SIZE, num_train_epochs=1,
                     learning_rate=LR, lr_scheduler_type="cosine", warmup_steps=0.1, max_grad_norm=1.0,
                     beta=BETA, loss_type=["sigmoid"], precompute_ref_log_probs=True,
                     precompute_ref_batch_size=BATCH_SIZE, max_length=None, bf16=bf16,
                     use_cpu=not torch.cuda.is_available(), report_to=[], save_strategy="no",
                     logging_steps=1, disable_tqdm=True, dataloader_num_workers=0, seed=0)

    timer = step_timer()
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    return {"steps": trainer.state.global_step, "train_seconds": timer.seconds,
            "train_cpu_seconds": timer.cpu_seconds, "final_loss": timer.losses[-1] if timer.losses else None}


def step_timer():
    """A TRL/transformers callback timing the optimiser steps (begin to end) and keeping the logged losses."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds, self.cpu_seconds, self.began, self.began_cpu, self.losses = 0.0, 0.0, 0.0, 0.0, []

        def on_step_begin(self, *a, **k):
            self.began, self.began_cpu = time.perf_counter(), time.process_time()

        def on_step_end(self, *a, **k):
            self.seconds += time.perf_counter() - self.began
            self.cpu_seconds += time.process_time() - self.began_cpu

        def on_log(self, _args, _state, _control, logs=None, **k):
            if logs and "loss" in logs:
                self.losses.append(logs["loss"])

    return StepTimer()


def side(name: str, count: int) -> None:
    import torch
    from transformers import AutoTokenizer

    from agentloop.llm.model_path import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    pairs = make_pairs(tokenizer, count)
    bf16 = torch.cuda.is_available()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = (run_ours if name == "ours" else run_trl)(pairs, Path(tmp) / "out", bf16)
    out.update(side=name, pairs=count, wall_seconds=time.perf_counter() - started,
               pairs_per_second=count / out["train_seconds"],
               pairs_per_cpu_second=count / out["train_cpu_seconds"], peak_rss_mib=peak_rss_mib())
    print(json.dumps(out), flush=True)


def alternating(repeats: int) -> list[str]:
    """The sides in run order, ABBA...: each side first as often as second."""
    order = []
    for i in range(repeats):
        order += ["trl", "ours"] if i % 2 == 0 else ["ours", "trl"]
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side, alternating")
    parser.add_argument("--side", choices=["ours", "trl"], help="run one side here (used by the driver)")
    args = parser.parse_args()
    if args.side:
        side(args.side, args.pairs)
        return
    runs = {"ours": [], "trl": []}
    for name in alternating(args.repeats):
        done = subprocess.run([sys.executable, __file__, "--side", name, "--pairs", str(args.pairs)],
                              check=True, capture_output=True, text=True)
        line = done.stdout.strip().splitlines()[-1]
        print(line, flush=True)
        runs[name].append(json.loads(line))

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    print(json.dumps({"speedup": median("ours", "pairs_per_second") / median("trl", "pairs_per_second"),
                      "speedup_cpu_time": median("ours", "pairs_per_cpu_second") / median("trl", "pairs_per_cpu_second"),
                      "ours_pairs_per_second": median("ours", "pairs_per_second"),
                      "trl_pairs_per_second": median("trl", "pairs_per_second"),
                      "ours_peak_rss_mib": max(run["peak_rss_mib"] for run in runs["ours"]),
                      "trl_peak_rss_mib": max(run["peak_rss_mib"] for run in runs["trl"]),
                      "pairs": args.pairs, "batch_size": BATCH_SIZE, "runs_per_side": args.repeats}))


if __name__ == "__main__":
    main()
