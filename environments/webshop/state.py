"""The shop's episode state and how an action moves it (WebShop's page graph).

Pages, as in WebShop (Yao et al. 2022, figure 2): the search page accepts
`search[query]`; a results page shows 10 products and `next >`, `< prev`,
`back to search`; an item page shows the product's options (clicking a value
selects it), `description`, `features`, `reviews`, `< prev` and `buy now`; a
detail page goes back with `< prev`.

`ShopState` is immutable, so a snapshot is the state object itself: taking
and restoring one costs nothing, and a snapshot can be restored any number of
times. `transition` is a pure function returning the next state, or a
`Rejection` that says why the action is invalid (the state is then unchanged).

Example:
    >>> state = ShopState(task_id="t", instruction="i need ...")
    >>> state = transition(state, "search[oak desk]", catalog, index)
    >>> state.page, state.results[:2]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from agentloop.environments.webshop.catalog import Catalog
from agentloop.environments.webshop.goal import PAGE_SIZE
from agentloop.environments.webshop.search import SearchIndex, tokenize

Page = Literal["search", "results", "item", "detail"]
ACTION = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.IGNORECASE | re.DOTALL)
MAX_ACTION_CHARS = 1000
MAX_QUERY_CHARS = 200
DETAILS = ("description", "features", "reviews")


@dataclass(frozen=True, slots=True)
class ShopState:
    """Everything about one episode; immutable, so it is its own snapshot."""

    task_id: str
    instruction: str
    page: Page = "search"
    query: str = ""
    results: tuple[int, ...] = ()
    """Catalog indices of the search results, best first."""
    page_no: int = 1
    item: int = -1
    """Catalog index of the open product (item and detail pages)."""
    detail: str = ""
    selected: tuple[tuple[str, str], ...] = ()
    """(option kind, value) pairs chosen on the open product's page."""
    steps: int = 0
    done: bool = False


@dataclass(frozen=True)
class Rejection:
    """Why an action is invalid here."""

    reason: str


@dataclass(frozen=True)
class Purchase:
    """`buy now` was clicked: the product and the options selected."""

    state: ShopState


def parse(action: object) -> tuple[str, str] | Rejection:
    """("search" | "click", argument) or a Rejection for text that is not an action."""
    if not isinstance(action, str):
        return Rejection(f"an action must be text, got {type(action).__name__}")
    if len(action) > MAX_ACTION_CHARS:
        return Rejection(f"the action is longer than {MAX_ACTION_CHARS} characters")
    match = ACTION.match(action)
    if match is None:
        return Rejection("write search[query] or click[element]")
    verb, argument = match.group(1).lower(), " ".join(match.group(2).split())
    if not argument:
        return Rejection(f"{verb}[] needs something inside the brackets")
    return verb, argument


def _search(state: ShopState, query: str, index: SearchIndex) -> ShopState | Rejection:
    if state.page != "search":
        return Rejection("search is only possible on the search page; click[back to search] first")
    if not tokenize(query):
        return Rejection("the query has no words (letters or digits)")
    query = query[:MAX_QUERY_CHARS]  # the page echoes the query: keep it short
    return replace(state, page="results", query=query, results=index.search(query), page_no=1)


def page_items(state: ShopState) -> tuple[int, ...]:
    """The catalog indices of the results shown on the current page."""
    start = (state.page_no - 1) * PAGE_SIZE
    return state.results[start:start + PAGE_SIZE]


def page_count(state: ShopState) -> int:
    """Number of results pages (at least 1, even with no results)."""
    return max(1, -(-len(state.results) // PAGE_SIZE))


def _click_results(state: ShopState, target: str, catalog: Catalog) -> ShopState | Rejection:
    if target == "next >":
        if state.page_no >= page_count(state):
            return Rejection("this is the last page of results")
        return replace(state, page_no=state.page_no + 1)
    if target == "< prev":
        if state.page_no <= 1:
            return Rejection("this is the first page of results")
        return replace(state, page_no=state.page_no - 1)
    product = catalog.get(target)
    if product is None or product.index not in page_items(state):
        return Rejection(f"there is no [{target}] on this page")
    return replace(state, page="item", item=product.index, selected=())


def _click_item(state: ShopState, target: str, catalog: Catalog) -> ShopState | Purchase | Rejection:
    if target == "< prev":
        return replace(state, page="results", item=-1, selected=())
    if target == "buy now":
        return Purchase(state)
    if target in DETAILS:
        return replace(state, page="detail", detail=target)
    kind = catalog.products[state.item].option_values().get(target)
    if kind is None:
        return Rejection(f"there is no [{target}] on this page")
    chosen = tuple(pair for pair in state.selected if pair[0] != kind) + ((kind, target),)
    return replace(state, selected=chosen)


def transition(state: ShopState, action: object, catalog: Catalog,
               index: SearchIndex) -> ShopState | Purchase | Rejection:
    """The state after `action` (steps not counted), a Purchase, or a Rejection."""
    if state.done:
        return Rejection("the episode is over")
    parsed = parse(action)
    if isinstance(parsed, Rejection):
        return parsed
    verb, argument = parsed
    if verb == "search":
        return _search(state, argument, index)
    target = argument.lower()
    if state.page == "search":
        return Rejection("there is nothing to click on the search page; use search[query]")
    if target == "back to search":
        return ShopState(task_id=state.task_id, instruction=state.instruction, steps=state.steps)
    if state.page == "results":
        return _click_results(state, target, catalog)
    if state.page == "detail":
        if target == "< prev":
            return replace(state, page="item", detail="")
        return Rejection(f"there is no [{target}] on this page")
    return _click_item(state, target, catalog)


def available(state: ShopState, catalog: Catalog) -> list[str]:
    """The valid actions in `state` (`search[...]` is a pattern)."""
    if state.done:
        return []
    if state.page == "search":
        return ["search[...]"]
    actions = ["click[back to search]"]
    if state.page == "results":
        actions += ["click[next >]"] if state.page_no < page_count(state) else []
        actions += ["click[< prev]"] if state.page_no > 1 else []
        actions += [f"click[{catalog.products[i].id}]" for i in page_items(state)]
        return actions
    actions.append("click[< prev]")
    if state.page == "detail":
        return actions
    product = catalog.products[state.item]
    actions += [f"click[{value}]" for _, values in product.options for value in values]
    return actions + [f"click[{d}]" for d in DETAILS] + ["click[buy now]"]
