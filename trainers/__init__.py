"""Losses, DPO and SFT trainers, tokenisation with loss masks, checkpoints."""
