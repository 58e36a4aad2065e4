"""The tools of the tool world, their signatures, and the one way to call them.

A call is data: `{"tool": NAME, "arguments": {...}}` decoded by `json.loads`.
`dispatch` looks NAME up in the explicit `TOOLS` map (no `getattr` on a
model-chosen name), checks the arguments against the tool's signature (names,
types, lengths) before anything runs, and returns the tool's text or a
`ToolError` whose message the agent reads. Tools act only on the episode's own
`World` (a store, a cart, orders, a calendar): nothing touches the host.

Example:
    >>> world = World(items={"m1": Item("m1", "blue mug", 4.5, 3)})
    >>> dispatch(world, {"tool": "add_to_cart", "arguments": {"item_id": "m1", "quantity": 2}})
    'Cart: 2 x blue mug ($4.50 each) = $9.00'
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentloop.environments.tooluse.calculator import ToolError, evaluate

MAX_TEXT = 200
MAX_OUTPUT = 600

# Unit conversion: each unit's size in its dimension's base unit.
UNITS = {"m": ("length", 1.0), "km": ("length", 1000.0), "cm": ("length", 0.01), "mi": ("length", 1609.344),
         "ft": ("length", 0.3048), "in": ("length", 0.0254), "kg": ("mass", 1.0), "g": ("mass", 0.001),
         "lb": ("mass", 0.45359237), "oz": ("mass", 0.028349523125), "l": ("volume", 1.0),
         "ml": ("volume", 0.001), "gal": ("volume", 3.785411784)}


@dataclass(frozen=True)
class Item:
    id: str
    name: str
    price: float
    stock: int


@dataclass
class World:
    """The episode's state: what the store holds, the cart, placed orders, the calendar."""

    items: dict[str, Item] = field(default_factory=dict)
    cart: dict[str, int] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)

    def copy(self) -> World:
        return World(dict(self.items), dict(self.cart), [dict(o) for o in self.orders], list(self.events))


@dataclass(frozen=True)
class Tool:
    """A tool: its description and typed parameters (all required), and the function."""

    name: str
    description: str
    parameters: dict[str, type]
    run: Callable[..., str]

    def signature(self) -> str:
        args = ", ".join(f"{p}: {'number' if t is float else t.__name__}" for p, t in self.parameters.items())
        return f"{self.name}({args}): {self.description}"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ToolError(f"dates are written YYYY-MM-DD, not {text[:30]!r}") from None


def _convert(world: World, value: float, from_unit: str, to_unit: str) -> str:
    source, target = UNITS.get(from_unit.lower()), UNITS.get(to_unit.lower())
    if source is None or target is None:
        raise ToolError(f"convert_units: known units are {', '.join(UNITS)}")
    if source[0] != target[0]:
        raise ToolError(f"convert_units: cannot convert {source[0]} ({from_unit}) to {target[0]} ({to_unit})")
    return f"{float(f'{value * source[1] / target[1]:.6g}'):g} {to_unit.lower()}"


def _add_days(world: World, date: str, days: int) -> str:
    if abs(days) > 36_500:
        raise ToolError("add_days: at most 36500 days")
    return (_date(date) + dt.timedelta(days=days)).isoformat()


def _search(world: World, query: str) -> str:
    words = query.lower().split()
    found = [i for i in world.items.values() if words and all(w in i.name for w in words)]
    if not found:
        return f"No items match {query!r}."
    return "; ".join(f"{i.id}: {i.name}, ${i.price:.2f}, {i.stock} in stock" for i in found)


def _add_to_cart(world: World, item_id: str, quantity: int) -> str:
    item = world.items.get(item_id)
    if item is None:
        raise ToolError(f"add_to_cart: no item {item_id!r}; search_items gives the ids")
    if quantity < 1:
        raise ToolError("add_to_cart: quantity must be at least 1")
    if world.cart.get(item_id, 0) + quantity > item.stock:
        raise ToolError(f"add_to_cart: only {item.stock} of {item.name} in stock")
    world.cart[item_id] = world.cart.get(item_id, 0) + quantity
    return "Cart: " + "; ".join(f"{n} x {world.items[i].name} (${world.items[i].price:.2f} each)"
                                for i, n in world.cart.items()) + f" = ${_total(world, world.cart):.2f}"


def _total(world: World, cart: dict[str, int]) -> float:
    return round(sum(world.items[i].price * n for i, n in cart.items()), 2)


def _checkout(world: World) -> str:
    if not world.cart:
        raise ToolError("checkout: the cart is empty")
    order = {"id": f"order-{len(world.orders) + 1}", "lines": dict(world.cart), "total": _total(world, world.cart)}
    for item_id, quantity in world.cart.items():
        item = world.items[item_id]
        world.items[item_id] = Item(item.id, item.name, item.price, item.stock - quantity)
    world.orders.append(order)
    world.cart = {}
    return f"Placed {order['id']}: total ${order['total']:.2f}"


def _schedule(world: World, date: str, title: str) -> str:
    _date(date)
    if len(world.events) >= 20:
        raise ToolError("schedule_event: the calendar is full")
    world.events.append((date, title))
    return f"Scheduled {title!r} on {date}."


TOOLS: dict[str, Tool] = {tool.name: tool for tool in (
    Tool("calculator", "the value of an arithmetic expression", {"expression": str},
         lambda world, expression: f"{evaluate(expression):g}"),
    Tool("convert_units", f"convert a value between units ({', '.join(UNITS)})",
         {"value": float, "from_unit": str, "to_unit": str}, _convert),
    Tool("add_days", "the date a number of days after a date", {"date": str, "days": int}, _add_days),
    Tool("weekday", "the weekday of a date", {"date": str},
         lambda world, date: _date(date).strftime("%A")),
    Tool("days_between", "days from one date to another", {"start": str, "end": str},
         lambda world, start, end: str((_date(end) - _date(start)).days)),
    Tool("search_items", "find store items by words of their name", {"query": str}, _search),
    Tool("add_to_cart", "put a quantity of an item (by id) in the cart", {"item_id": str, "quantity": int},
         _add_to_cart),
    Tool("checkout", "order what is in the cart", {}, lambda world: _checkout(world)),
    Tool("schedule_event", "add an event to the calendar", {"date": str, "title": str}, _schedule),
    # Distractors: listed and working, never needed by a task.
    Tool("get_weather", "today's weather in a city", {"city": str},
         lambda world, city: f"{city[:40]}: 18 C, light wind."),
    Tool("translate", "translate a text into a language", {"text": str, "language": str},
         lambda world, text, language: f"[{language[:20]}] {text[:100]}"),
)}


def _check_arguments(tool: Tool, arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, dict):
        raise ToolError(f"{tool.name}: arguments must be an object of {list(tool.parameters) or 'no fields'}")
    if set(arguments) != set(tool.parameters):
        raise ToolError(f"{tool.name}: takes exactly {list(tool.parameters) or 'no arguments'}, "
                        f"got {sorted(map(str, arguments))[:6]}")
    checked = {}
    for name, kind in tool.parameters.items():
        value = arguments[name]
        if kind is float and type(value) in (int, float):
            value = float(value)
        elif type(value) is not kind:
            raise ToolError(f"{tool.name}: {name} must be a {'number' if kind is float else kind.__name__}")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ToolError(f"{tool.name}: {name} is at most {MAX_TEXT} characters")
        if isinstance(value, (int, float)) and abs(value) > 1e12:
            raise ToolError(f"{tool.name}: {name} must be at most 1e12")
        checked[name] = value
    return checked


def dispatch(world: World, call: dict[str, Any]) -> str:
    """Run one decoded call on `world`; a `ToolError` says what was wrong and changes nothing."""
    name = call.get("tool")
    tool = TOOLS.get(name) if isinstance(name, str) else None
    if tool is None:
        raise ToolError(f"unknown tool {str(name)[:40]!r}; the tools are {', '.join(TOOLS)}")
    arguments = _check_arguments(tool, call.get("arguments", {}))
    trial = world.copy()  # a failing tool leaves the world as it was
    output = tool.run(trial, **arguments)
    world.items, world.cart, world.orders, world.events = trial.items, trial.cart, trial.orders, trial.events
    return output[:MAX_OUTPUT]
