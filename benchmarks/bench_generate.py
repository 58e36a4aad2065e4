"""TransformersBackend.generate(n=4) versus plain transformers generate(num_return_sequences=4).

One 300-token prompt, 4 samples of 32 new tokens, on the default model
(SmolLM2-135M-Instruct), both sides in this process with the same weights and
threads. Plain `generate` prefills the prompt once per sample; our backend
prefills it once and copies the KV cache. On CPU in float32 our backend also
runs the linear layers through oneDNN with packed weights
(`agentloop.llm.packed_linear`), several times faster than PyTorch's default MKL
path there; "plain_onednn_s" times plain `generate` with those same kernels, so
"speedup_same_kernels" is what the decode loop alone gains. Prints a final JSON
line with "speedup" (plain seconds / ours seconds, medians over repeats).

    python benchmarks/bench_generate.py [--repeats 3] [--new-tokens 32] [--dtype float32]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch

from agentloop.llm import Sampling
from agentloop.llm.model_path import resolve_model
from agentloop.llm.transformers_backend import TransformersBackend

WORDS = ("search click product price size color shoes lamp dress organic gluten free wireless "
         "charger leather wallet cotton shirt").split()


def prompt_of(llm: TransformersBackend, tokens: int) -> str:
    text, i = "", 0
    while len(llm.encode(text)) < tokens:
        text += WORDS[i % len(WORDS)] + " "
        i += 1
    return text


def time_ours(llm, prompt, n, new_tokens, seed):
    start = time.perf_counter()
    out = llm.generate([prompt], n=n, sampling=Sampling(max_new_tokens=new_tokens, seed=seed))
    return time.perf_counter() - start, sum(len(c.token_ids) for c in out[0])


def time_plain(llm, prompt, n, new_tokens, seed, onednn=False):
    ids = torch.tensor([llm.encode(prompt)])
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.inference_mode(), llm.linears if onednn else contextlib.nullcontext():
        out = llm.model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, top_p=1.0,
                                 top_k=0, temperature=1.0, max_new_tokens=new_tokens,
                                 num_return_sequences=n, pad_token_id=llm.tokenizer.pad_token_id)
    return time.perf_counter() - start, (out.shape[1] - ids.shape[1]) * n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--prompt-tokens", type=int, default=300)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    llm = TransformersBackend.from_pretrained(resolve_model("default"), dtype=args.dtype)
    prompt = prompt_of(llm, args.prompt_tokens)
    time_ours(llm, prompt, args.n, 4, 0)  # warm-up both paths
    time_plain(llm, prompt, args.n, 4, 0)
    time_plain(llm, prompt, args.n, 4, 0, onednn=True)
    ours, plain, plain_onednn = [], [], []
    for repeat in range(args.repeats):
        ours.append(time_ours(llm, prompt, args.n, args.new_tokens, repeat)[0])
        plain.append(time_plain(llm, prompt, args.n, args.new_tokens, repeat)[0])
        plain_onednn.append(time_plain(llm, prompt, args.n, args.new_tokens, repeat, onednn=True)[0])
    result = {
        "prompt_tokens": len(llm.encode(prompt)), "n": args.n, "new_tokens": args.new_tokens,
        "dtype": args.dtype, "threads": torch.get_num_threads(),
        "ours_s": round(statistics.median(ours), 3), "plain_s": round(statistics.median(plain), 3),
        "plain_onednn_s": round(statistics.median(plain_onednn), 3),
        "speedup": round(statistics.median(plain) / statistics.median(ours), 2),
        "speedup_same_kernels": round(statistics.median(plain_onednn) / statistics.median(ours), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
