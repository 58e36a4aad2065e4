"""A round's SFT and DPO: agentloop's trainers against TRL's SFTTrainer and DPOTrainer,
on the same token ids, batches, model and settings, side by side in one run.

Data: the training data one round of the loop wrote (`--run runs/default --round
1`: `best.jsonl` + `revisions.jsonl` for SFT, `pairs.jsonl` for DPO), or
`--synthetic N` Agent-Q-like nodes (prompts of about 250 tokens, 3 candidate actions).
Settings: the `trainer` section of `--config` (default `examples/default.yaml`).

What is the same on both sides: every record is encoded once by agentloop's encoder
(the tokens its trainer scores) and handed to TRL pre-tokenized (SFT: input ids and
labels, -100 where not trained; DPO: prompt, chosen and rejected ids), in agentloop's
micro-batch order for every epoch (TRL's sampler sequential over those batches laid
end to end), with the same batch size, learning rate, warm-up and cosine schedule,
gradient clipping, fused AdamW, float32. DPO's reference log-probs are computed by
the starting model on both sides before training (TRL's `precompute_ref_log_probs`;
agentloop's `trainer.reference: recompute`); that pass is not timed on either side.
Timing covers the optimiser steps (forward, backward, optimiser): agentloop's per-step
log and a TRL callback. Each (kind, side) runs in its own subprocess, so its peak RSS
is its own; TRL runs first for SFT and second for DPO.

The last line is JSON: `sft_speedup_vs_trl` and `dpo_speedup_vs_trl` (examples per
second of optimiser steps, ours / TRL's), both sides' peak RSS, and their losses at
the first step (the same batch on both sides), which should agree within 1e-3.

    python benchmarks/bench_train.py --run runs/default --round 1
    python benchmarks/bench_train.py --synthetic 16 --model /tmp/tiny   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_dpo import make_pairs, peak_rss_mib, step_timer


def load_data(args, tokenizer) -> tuple[list, list]:
    """(SFT records, preference pairs) of the round, or synthetic ones."""
    from agentloop.jsonl import read_jsonl
    from agentloop.records import PreferencePair, RevisionTrajectory

    if args.run is None:
        pairs = make_pairs(tokenizer, 3 * args.synthetic)
        records = [RevisionTrajectory(messages=(*p.prompt, *p.chosen), kind="good",
                                      train=(False,) * len(p.prompt) + (True,)) for p in pairs[::3]]
        return records, pairs
    round_dir = Path(args.run) / f"round-{args.round}"
    records = [r for name in ("revisions.jsonl", "best.jsonl")
               for r in read_jsonl(round_dir / name, RevisionTrajectory)]
    return records, read_jsonl(round_dir / "pairs.jsonl", PreferencePair)


def settings(args, kind: str):
    from agentloop.config import load_config

    section = getattr(load_config(args.config).trainer, kind)
    return section.model_copy(update={"epochs": args.epochs or section.epochs, "progress": False,
                                      "save_every": 100_000, "device": "cpu", "bf16": False})


def sft_batches(tokenizer, records, config) -> list[list[tuple[list[int], list[int]]]]:
    """Each epoch's micro-batches as agentloop's SFT plans them: (input ids, labels) rows."""
    from agentloop.trainers.encoding import end_of_turn
    from agentloop.trainers.sft import encode_record, mix_epoch

    eot = end_of_turn(tokenizer)
    encoded = [encode_record(tokenizer, r, eot) for r in records]
    usable = [i for i, e in enumerate(encoded) if e is not None and e[1].num_trained]
    kinds = [records[i].kind for i in usable]
    batches = []
    for epoch in range(config.epochs):
        order = [usable[j] for j in mix_epoch(kinds, config.good_per_revision, config.seed + epoch)]
        for start in range(0, len(order), config.batch_size):
            rows = []
            for i in order[start:start + config.batch_size]:
                prompt, rest = encoded[i]
                labels = [-100] * len(prompt) + [t if m else -100 for t, m in zip(rest.ids, rest.mask)]
                rows.append((list(prompt) + list(rest.ids), labels))
            batches.append(rows)
    return batches


def dpo_batches(tokenizer, pairs, config) -> list[list[dict]]:
    """Each epoch's micro-batches as agentloop's DPO plans them: TRL's tokenized pair rows."""
    from agentloop.trainers.dpo import plan_batches
    from agentloop.trainers.encoding import encode_pairs

    encoded = encode_pairs(tokenizer, pairs)

    def ids(candidate: int) -> list[int]:
        return list(encoded.candidates[candidate][1].ids)

    return [[{"prompt_ids": list(encoded.prompts[encoded.candidates[encoded.pairs[i][0]][0]]),
              "chosen_ids": ids(encoded.pairs[i][0]), "rejected_ids": ids(encoded.pairs[i][1])} for i in batch]
            for epoch in range(config.epochs)
            for batch in plan_batches(encoded, range(len(pairs)), config.batch_size, config.seed + epoch)]


def run_ours(kind: str, model: str, records, pairs, config, out: Path) -> dict:
    from agentloop.trainers.dpo import train_dpo, use_reference
    from agentloop.trainers.sft import train_sft

    result = train_sft(model, records, config, out) if kind == "sft" else \
        train_dpo(model, use_reference(pairs, "recompute"), config, out)
    return {"steps": result.steps, "examples": sum(e["examples"] for e in result.logs),
            "train_seconds": sum(e["seconds"] for e in result.logs), "first_loss": result.logs[0]["loss"]}


def run_trl(kind: str, model_dir: str, records, pairs, config, out: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    common = dict(output_dir=str(out), per_device_train_batch_size=config.batch_size, num_train_epochs=1,
                  learning_rate=config.lr, lr_scheduler_type="cosine", warmup_steps=config.warmup_ratio,
                  max_grad_norm=config.max_grad_norm, weight_decay=config.weight_decay,
                  optim="adamw_torch_fused", use_cpu=True, report_to=[], save_strategy="no",
                  logging_steps=1, disable_tqdm=True, dataloader_num_workers=0, seed=config.seed,
                  train_sampling_strategy="sequential", max_length=None)
    timer = step_timer()
    if kind == "sft":
        from trl import SFTConfig, SFTTrainer

        rows = [{"input_ids": ids, "labels": labels}
                for batch in sft_batches(tokenizer, records, config) for ids, labels in batch]
        trainer = SFTTrainer(model=model, args=SFTConfig(**common), train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer, callbacks=[timer])
    else:
        from trl import DPOConfig, DPOTrainer

        class PreTokenizedDPOTrainer(DPOTrainer):
            def _prepare_dataset(self, dataset, *args, **kwargs):
                return dataset  # agentloop's token ids, as they are

        rows = [row for batch in dpo_batches(tokenizer, pairs, config) for row in batch]
        args = DPOConfig(**common, beta=config.beta, loss_type=["sigmoid"], precompute_ref_log_probs=True,
                         precompute_ref_batch_size=config.batch_size)
        trainer = PreTokenizedDPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                         processing_class=tokenizer, callbacks=[timer])
    trainer.train()
    return {"steps": trainer.state.global_step, "examples": len(rows), "train_seconds": timer.seconds,
            "first_loss": timer.losses[0] if timer.losses else None}


def side(args) -> None:
    from transformers import AutoTokenizer

    from agentloop.llm.model_path import resolve_model

    model_dir = str(resolve_model(args.model))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    records, pairs = load_data(args, tokenizer)
    config = settings(args, args.kind)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = run_ours if args.side == "ours" else run_trl
        out = run(args.kind, model_dir, records, pairs, config, Path(tmp) / "out")
    out.update(kind=args.kind, side=args.side, wall_seconds=round(time.perf_counter() - started, 1),
               examples_per_second=out["examples"] / out["train_seconds"], peak_rss_mib=peak_rss_mib())
    print(json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run directory whose round's data to train on")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--synthetic", type=int, default=16, help="without --run: this many synthetic nodes")
    parser.add_argument("--config", default="examples/default.yaml", help="whose trainer section to use")
    parser.add_argument("--model", default="default")
    parser.add_argument("--epochs", type=int, help="override the config's epochs")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=["sft", "dpo"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side(args)
        return
    passed = [a for a in sys.argv[1:]]
    results = {}
    for kind, order in (("sft", ("trl", "ours")), ("dpo", ("ours", "trl"))):
        for name in order:
            done = subprocess.run([sys.executable, __file__, *passed, "--side", name, "--kind", kind],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{kind} {name}: exit {done.returncode}\n{done.stderr[-3000:]}")
            line = done.stdout.strip().splitlines()[-1]
            print(line, flush=True)
            results[kind, name] = json.loads(line)
    summary = {"data": args.run and f"{args.run} round {args.round}" or f"synthetic {args.synthetic} nodes",
               "model": args.model}
    for kind in ("sft", "dpo"):
        ours, trl = results[kind, "ours"], results[kind, "trl"]
        summary[f"{kind}_speedup_vs_trl"] = round(ours["examples_per_second"] / trl["examples_per_second"], 2)
        summary[f"{kind}_examples"] = [ours["examples"], trl["examples"]]
        summary[f"{kind}_peak_rss_mib"] = {"ours": round(ours["peak_rss_mib"]), "trl": round(trl["peak_rss_mib"])}
        summary[f"{kind}_first_loss"] = {"ours": ours["first_loss"], "trl": trl["first_loss"]}
        summary[f"{kind}_first_loss_agree_1e-3"] = trl["first_loss"] is not None and \
            abs(ours["first_loss"] - trl["first_loss"]) <= 1e-3
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
