"""Seeded, verifiable tool-use tasks at three difficulties.

Each task holds the user's requests (a follow-up request comes after the first
answer), the store's items, the checks that score it, and a scripted solution
(the calls and answers that pass every check, found by running the tools).
Kinds: `arithmetic` (one calculator call), `direct` (the right move is to call
nothing), `weekday` (two dependent calendar calls), `conversion` (a unit
conversion feeding the calculator), `shopping` (search, cart, checkout),
`shopping_followup` (the cheapest item lacks stock, so the cart call returns a
real validation error, then a calendar follow-up), `schedule` (three dependent
calls that change the calendar). A task is test when a hash of its first
request says so (1 in 5), so no test request is a train request.

Example:
    >>> tasks = make_tasks("medium", 100, seed=0)["train"]
    >>> tasks[0].data["checks"]
"""

from __future__ import annotations

import datetime as dt
import json
import random
import zlib
from typing import Any

from agentloop.environments.protocol import Task
from agentloop.environments.tooluse.tools import Item, World, dispatch

KINDS = {"easy": ("arithmetic", "direct", "weekday"), "medium": ("conversion", "shopping"),
         "hard": ("shopping_followup", "schedule")}
PRODUCTS = ("mug", "notebook", "lamp", "scarf", "kettle", "backpack")
COLOURS = ("blue", "red", "green", "black", "white")
WORDS = ("ready", "thanks", "understood", "noted", "okay")
TITLES = ("dentist", "team lunch", "yoga class", "book club")


def call(tool: str, **arguments: Any) -> str:
    """A tool call as an action."""
    return json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True)


def answer(text: str) -> str:
    """A final answer as an action."""
    return json.dumps({"answer": text}, sort_keys=True)


def _date(rng: random.Random) -> str:
    return (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))).isoformat()


def _store(rng: random.Random, product: str, scarce: bool) -> list[Item]:
    colours = rng.sample(COLOURS, 4)
    prices = sorted(rng.sample(range(300, 3000), 4))
    items = [Item(f"{product[:2]}{i + 1}", f"{colours[i]} {product}", prices[i] / 100, rng.randint(5, 9))
             for i in range(4)]
    if scarce:  # the cheapest has too few for the order
        items[0] = Item(items[0].id, items[0].name, items[0].price, 1)
    rng.shuffle(items)
    return items


def _spec(kind: str, rng: random.Random) -> dict[str, Any]:
    """Requests, items, checks and the solution's actions (tool results filled in later)."""
    if kind == "arithmetic":
        a, b, p, q = rng.randint(2, 9), rng.randint(2, 9), rng.randint(150, 900) / 100, rng.randint(50, 400) / 100
        expression = f"{a} * {p} + {b} * {q}"
        return {"requests": [f"I buy {a} notebooks at ${p:.2f} each and {b} pens at ${q:.2f} each. "
                             "What do I pay in total?"],
                "plan": [[call("calculator", expression=expression)]], "answers": ["{0}"], "checks": ["number"]}
    if kind == "direct":
        word = rng.choice(WORDS)
        return {"requests": [f"No tools needed: just reply with the word '{word}'."], "plan": [[]],
                "answers": [word], "checks": ["word", "no_calls"]}
    if kind == "weekday":
        start, days = _date(rng), rng.randint(10, 200)
        return {"requests": [f"What weekday is it {days} days after {start}?"],
                "plan": [[call("add_days", date=start, days=days), call("weekday", date="{0}")]],
                "answers": ["{1}"], "checks": ["word"]}
    if kind == "conversion":
        miles, km = rng.randint(2, 30), rng.randint(1, 20)
        return {"requests": [f"A trail runs {miles} miles and then {km} km more. How many km is that in total?"],
                "plan": [[call("convert_units", value=miles, from_unit="mi", to_unit="km"),
                          call("calculator", expression="{0} + " + str(km))]],
                "answers": ["{1}"], "checks": ["number"]}
    product = rng.choice(PRODUCTS)
    quantity = rng.randint(2, 4)
    if kind == "shopping":
        items = _store(rng, product, scarce=False)
        cheapest = min(items, key=lambda i: i.price)
        return {"requests": [f"Buy {quantity} of the cheapest {product} in the store and tell me the order total."],
                "items": items, "order": {cheapest.id: quantity},
                "plan": [[call("search_items", query=product), call("add_to_cart", item_id=cheapest.id, quantity=quantity),
                          call("checkout")]], "answers": ["{2}"], "checks": ["order", "number"]}
    if kind == "shopping_followup":
        items = _store(rng, product, scarce=True)
        usable = min((i for i in items if i.stock >= quantity), key=lambda i: i.price)
        date, title = _date(rng), rng.choice(TITLES)
        return {"requests": [f"Buy {quantity} of the cheapest {product} that is in stock for that many, "
                             "and tell me the order total.",
                             f"Thanks. Now put '{title}' in my calendar on {date} and tell me its weekday."],
                "items": items, "order": {usable.id: quantity}, "event": [date, title],
                "plan": [[call("search_items", query=product), call("add_to_cart", item_id=usable.id, quantity=quantity),
                          call("checkout")],
                         [call("schedule_event", date=date, title=title), call("weekday", date=date)]],
                "answers": ["{2}", "{4}"], "checks": ["order", "number", "event", "word"]}
    start, days, title = _date(rng), rng.randint(5, 60), rng.choice(TITLES)
    return {"requests": [f"Put '{title}' in my calendar {days} days after {start} and tell me its weekday."],
            "plan": [[call("add_days", date=start, days=days), call("schedule_event", date="{0}", title=title),
                      call("weekday", date="{0}")]],
            "answers": ["{2}"], "checks": ["event_planned", "word"], "event_title": title}


def _solve(spec: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Run the plan on a fresh world: the solution's actions, the tool outputs, the answers."""
    world = World(items={i.id: i for i in spec.get("items", [])})
    outputs: list[str] = []
    actions: list[str] = []
    answers: list[str] = []
    for turn, calls in enumerate(spec["plan"]):
        for action in calls:
            filled = action
            for index, output in enumerate(outputs):
                filled = filled.replace("{" + str(index) + "}", _value(output))
            actions.append(filled)
            outputs.append(dispatch(world, json.loads(filled)))
        text = spec["answers"][turn]
        for index, output in enumerate(outputs):
            text = text.replace("{" + str(index) + "}", _value(output))
        answers.append(text)
        actions.append(answer(text))
    return actions, outputs, answers


def _value(output: str) -> str:
    """The value a later call or the answer takes from a tool's output."""
    if output.startswith("Placed "):
        return output.split("$")[-1]
    return output.split(" ")[0] if output[:1].isdigit() or output[:1] == "-" else output


def _checks(spec: dict[str, Any], answers: list[str]) -> list[dict[str, Any]]:
    checks, turn = [], 0
    for check in spec["checks"]:
        if check == "number":
            checks.append({"type": "number", "turn": turn, "value": float(answers[turn])})
            turn += 1
        elif check == "word":
            checks.append({"type": "word", "turn": turn, "value": answers[turn].lower()})
            turn += 1
        elif check == "no_calls":
            checks.append({"type": "no_calls"})
        elif check == "order":
            checks.append({"type": "order", "lines": spec["order"]})
        elif check == "event":
            checks.append({"type": "event", "date": spec["event"][0], "title": spec["event"][1]})
        elif check == "event_planned":
            date = json.loads(spec["resolved"][1])["arguments"]["date"]
            checks.append({"type": "event", "date": date, "title": spec["event_title"]})
    return checks


def make_tasks(difficulty: str, count: int, seed: int = 0) -> dict[str, list[Task]]:
    """`count` tasks per split of one difficulty ("easy", "medium", "hard")."""
    if difficulty not in KINDS:
        raise ValueError(f"difficulty must be one of {list(KINDS)}, got {difficulty!r}")
    rng = random.Random(f"{seed}-{difficulty}")
    tasks: dict[str, list[Task]] = {"train": [], "test": []}
    seen: set[str] = set()
    for attempt in range(count * 40):
        if min(len(v) for v in tasks.values()) >= count:
            break
        kind = KINDS[difficulty][attempt % len(KINDS[difficulty])]
        spec = _spec(kind, rng)
        key = spec["requests"][0] + json.dumps([list(i.__dict__.values()) for i in spec.get("items", [])])
        split = "test" if zlib.crc32(spec["requests"][0].encode()) % 5 == 0 else "train"
        if key in seen or len(tasks[split]) >= count:
            continue
        seen.add(key)
        actions, outputs, answers = _solve(spec)
        spec["resolved"] = actions
        data = {"kind": kind, "difficulty": difficulty, "requests": spec["requests"],
                "items": [list(i.__dict__.values()) for i in spec.get("items", [])],
                "checks": _checks(spec, answers), "solution": actions}
        tasks[split].append(Task(f"tool-{split}-{zlib.crc32(key.encode()):08x}", spec["requests"][0], split, data))
    if min(len(v) for v in tasks.values()) < count:
        raise ValueError(f"could not make {count} distinct {difficulty} tasks per split")
    return tasks
