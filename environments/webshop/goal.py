"""Shopping tasks: goals sampled from catalog products, with WebShop-style instructions.

WebShop (Yao et al. 2022, section 3.2) builds each instruction from a target
product: some of its attributes, one value of some of its options, and a price
bound above its price ("i need a long lasting argan lipstick, color: red, and
price lower than 40.00 dollars"). Any product that meets the goal earns the full reward.

Difficulty sets how much the instruction asks and how easy the product is to
find, so a tiny model can succeed on the easiest level:

- easy: 1 attribute, no options, a loose price bound; the target is the first
  search result for its product type alone and for type + attribute, and the
  first result for the whole instruction text also meets the goal.
- medium: 2 attributes, 1 option, and the target is on the first results page.
- hard: 2-3 attributes, 1-2 options, a tight price bound, target in the top 50.

A task lands in the test split when the CRC32 of its key (product type or id,
attributes, options) is divisible by 5, so train and test instructions differ
and the split is stable across catalog sizes.

Example:
    >>> tasks = make_tasks(catalog, index, "train", difficulty="easy", count=10, seed=0)
    >>> tasks[0].instruction
    'i need a dishwasher safe bamboo cutting board, and price lower than 41.00 dollars'
"""

from __future__ import annotations

import math
import random
import zlib
from typing import Literal

from agentloop.environments.protocol import Task
from agentloop.environments.webshop.catalog import Catalog, Product
from agentloop.environments.webshop.reward import Goal, purchase_reward
from agentloop.environments.webshop.search import SearchIndex

Difficulty = Literal["easy", "medium", "hard"]
OPENERS = ("i need a", "i am looking for a", "find me a", "i want to buy a", "show me a")
PAGE_SIZE = 10
"""WebShop shows 10 results per page."""


def _article(opener: str, noun_phrase: str) -> str:
    if noun_phrase[:1] in "aeio":  # "a usb c tablet", "an oak desk"
        opener = opener[:-1] + "an"
    return f"{opener} {noun_phrase}"


def instruction_text(goal: Goal, rng: random.Random) -> str:
    """A lowercase WebShop-style instruction for `goal`."""
    # Attributes go before the noun, options after it, as in WebShop's
    # instructions ("i'm looking for a long lasting eau de parfum spray ...").
    attrs = " and ".join(goal.attributes)
    text = _article(rng.choice(OPENERS), f"{attrs} {goal.type}".strip())
    text += "".join(f", {kind}: {value}" for kind, value in goal.options)
    return text + f", and price lower than {goal.price_upper:.2f} dollars"


def _goal_for(product: Product, rng: random.Random, difficulty: Difficulty) -> Goal | None:
    wanted_attrs = {"easy": 1, "medium": 2, "hard": rng.randint(2, 3)}[difficulty]
    wanted_opts = {"easy": 0, "medium": 1, "hard": rng.randint(1, 2)}[difficulty]
    if len(product.attributes) < wanted_attrs or len(product.options) < wanted_opts:
        return None
    attributes = tuple(rng.sample(product.attributes, wanted_attrs))
    options = tuple((kind, rng.choice(values)) for kind, values in rng.sample(product.options, wanted_opts))
    factor = {"easy": 1.6, "medium": rng.uniform(1.1, 1.5), "hard": rng.uniform(1.0, 1.2)}[difficulty]
    return Goal(type=product.type, category=product.category, attributes=attributes,
                options=options, price_upper=float(math.ceil(product.price * factor)))


def _meets(product: Product, goal: Goal) -> bool:
    return purchase_reward(product, dict(goal.options), goal).reward == 1.0


def _candidate(catalog: Catalog, index: SearchIndex, rng: random.Random,
               difficulty: Difficulty) -> tuple[Product, Goal, str, str] | None:
    """A (target, goal, expert query, instruction) or None when this draw does not qualify."""
    product = catalog.products[rng.randrange(len(catalog))]
    if difficulty == "easy":
        first = index.search(product.type, limit=1)
        if not first:
            return None
        product = catalog.products[first[0]]
    goal = _goal_for(product, rng, difficulty)
    if goal is None:
        return None
    query = " ".join((goal.type,) + goal.attributes)
    depth = {"easy": 1, "medium": PAGE_SIZE, "hard": 50}[difficulty]
    results = index.search(query, limit=depth)
    if product.index not in results:
        return None
    instruction = instruction_text(goal, rng)
    if difficulty == "easy":
        # A tiny model often searches with the instruction copied whole: that
        # must also put a product meeting the goal first.
        whole = index.search(instruction, limit=1)
        if not whole or not _meets(catalog.products[whole[0]], goal):
            return None
    return product, goal, query, instruction


def _split_of(key: str) -> str:
    return "test" if zlib.crc32(key.encode()) % 5 == 0 else "train"


def make_tasks(catalog: Catalog, index: SearchIndex, split: str, difficulty: Difficulty,
               count: int, seed: int = 0) -> list[Task]:
    """Up to `count` distinct tasks of `split`, the same list for the same arguments.

    Fewer come back only when the catalog is too small to hold `count` tasks.
    """
    rng = random.Random(f"webshop-{seed}-{difficulty}-{split}")
    tasks: list[Task] = []
    seen: set[str] = set()
    for _ in range(count * 200):
        if len(tasks) == count:
            break
        drawn = _candidate(catalog, index, rng, difficulty)
        if drawn is None:
            continue
        product, goal, query, instruction = drawn
        key = f"{product.type if difficulty == 'easy' else product.id}|{goal.attributes}|{goal.options}"
        if key in seen or _split_of(key) != split:
            continue
        seen.add(key)
        tasks.append(Task(
            id=f"webshop-{difficulty}-{split}-{len(tasks):04d}",
            instruction=instruction, split=split,
            data={"goal": goal.to_dict(), "target": product.id, "query": query,
                  "difficulty": difficulty, "catalog": [len(catalog), catalog.seed]}))
    return tasks
