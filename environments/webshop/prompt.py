"""The system prompt that tells an LLM agent how to shop (ReAct, Yao et al. 2023).

ReAct's WebShop prompt interleaves a thought and an action per turn and shows
one worked episode; ours does the same, short enough for a 135M-parameter
model's context and our CPU's prefill budget. The agent answers each turn with

    Thought: <one sentence>
    Action: <search[query] or click[element]>

Example:
    >>> "Action: search[" in system_prompt("compact")
    True
"""

from __future__ import annotations

_RULES = """You shop in a web store for the product the instruction describes.
Answer each turn in exactly this format:
Thought: <one short sentence>
Action: <one action>

Actions:
- search[query]: on the search page, search for the product type and features.
- click[element]: click an element shown in brackets, e.g. a product id \
click[B0K2M4XQ1Z], an option click[red], click[buy now], click[next >], click[< prev], \
click[back to search].
Pick a product of the right type with the asked features under the price limit, \
click each option the instruction names, then click[buy now]."""

_EXAMPLE_COMPACT = """Example:
Instruction: i need a vegan rose lip balm, scent: mint, and price lower than 12.00 dollars
Observation: Search page. Type search[keywords] to look for products.
Thought: I search for the product.
Action: search[vegan rose lip balm]
Observation: Results for "vegan rose lip balm" (page 1 of 5):
[B0K2M4XQ1Z] Lumora Vegan Rose Lip Balm $8.99
[B07TQ2LM9A] Rose Lip Balm for Kids $14.99
Thought: The first one matches and costs less than 12 dollars.
Action: click[B0K2M4XQ1Z]
Observation: Item B0K2M4XQ1Z: Lumora Vegan Rose Lip Balm
Price: $8.99
scent: [vanilla] [mint]
Thought: I need scent mint.
Action: click[mint]
Observation: ... Selected: scent mint
Thought: Everything matches.
Action: click[buy now]"""

_EXAMPLE_TEXT = """Example:
Observation: WebShop Instruction: i need a vegan rose lip balm, scent: mint, and price \
lower than 12.00 dollars [Search]
Thought: I search for the product.
Action: search[vegan rose lip balm]
Observation: ... [Next >] [B0K2M4XQ1Z] Lumora Vegan Rose Lip Balm $8.99 \
[B07TQ2LM9A] Rose Lip Balm for Kids $14.99
Thought: The first one matches and costs less than 12 dollars.
Action: click[B0K2M4XQ1Z]
Observation: ... [< Prev] scent [vanilla] [mint] ... Price: $8.99 ... [Buy Now]
Thought: I need scent mint.
Action: click[mint]
Observation: ... Selected: scent mint ... [Buy Now]
Thought: Everything matches.
Action: click[buy now]"""


def system_prompt(mode: str = "compact") -> str:
    """Instructions for an agent in the given observation mode ("text" or "compact")."""
    return _RULES + "\n\n" + (_EXAMPLE_TEXT if mode == "text" else _EXAMPLE_COMPACT)
