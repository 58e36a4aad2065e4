"""The entry point of one training process started by
`agentloop.trainers.parallel.train_in_processes` (`accelerate launch -m
agentloop.trainers.launched KIND MODEL RECORDS CONFIG OUTPUT`): a module of its own, so
running it does not re-import a module the package has already loaded.

Example:
    $ accelerate launch --num_processes 2 --cpu -m agentloop.trainers.launched sft default records.jsonl sft.json out
"""

from __future__ import annotations

from pathlib import Path


def main(kind: str, model: str, data: str, settings: str, output_dir: str) -> None:
    """Train as one rank: `kind` "sft" or "dpo", the records and config from their files."""
    from agentloop.jsonl import read_jsonl
    from agentloop.records import PreferencePair, RevisionTrajectory
    from agentloop.trainers.config import DPOConfig, SFTConfig

    if kind == "sft":
        from agentloop.trainers.sft import train_sft

        train_sft(model, read_jsonl(data, RevisionTrajectory),
                  SFTConfig.model_validate_json(Path(settings).read_text()), output_dir)
    else:
        from agentloop.trainers.dpo import train_dpo

        train_dpo(model, read_jsonl(data, PreferencePair),
                  DPOConfig.model_validate_json(Path(settings).read_text()), output_dir)


if __name__ == "__main__":
    import sys

    main(*sys.argv[1:6])
