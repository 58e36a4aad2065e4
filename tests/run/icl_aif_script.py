"""Runs ICL-AIF experiments on a scripted model (for tests/run/test_icl_aif.py, which kills it).

    python icl_aif_script.py DATABASE OUTPUT.json [SECONDS_PER_CALL]
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path

from agentloop.environments.negotiation import NegotiationEnv
from agentloop.llm.protocol import Completion
from agentloop.run.icl_aif import MODES, run_experiments


class ScriptedLLM:
    """Seller: asks $19 and drops $1 a turn, or, told to beat $p, holds at $p+1; buyer: takes
    $16 or less (from its fourth line on, $17), else offers $12; critic: three fixed suggestions."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay

    def generate(self, prompts, n=1, sampling=None):
        time.sleep(self.delay)
        return [[Completion(self.answer(p), (1,), (-0.5,), "stop")] * n for p in prompts]

    def answer(self, messages) -> str:
        system = messages[0].content
        if system.startswith("You coach"):
            return "1. Open high. 2. Concede slowly. 3. Stay polite."
        own = sum(m.role == "assistant" for m in messages)
        if "You are the seller" in system:
            target = re.search(r"higher than \$(\d+)", system)
            return f"I can do ${int(target.group(1)) + 1 if target else max(19 - own, 11)}."
        asked = [float(x) for x in re.findall(r"\$(\d+)", messages[-1].content)]
        return "Deal!" if asked and asked[-1] <= 16 + (own >= 4) else "Would you take $12?"


def main() -> None:
    database, output = Path(sys.argv[1]), Path(sys.argv[2])
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    env = NegotiationEnv(num_tasks=60)
    tasks = [t for t in env.tasks("test") if t.data["low"] == 10.0][:4]
    results = asyncio.run(run_experiments(ScriptedLLM(delay), tasks, MODES, 3, database))
    output.write_text(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
