"""Observations of the shop's pages, in two modes.

"text" follows WebShop's text observation (Yao et al. 2022, appendix: the
instruction, then the page's clickable elements in brackets). "compact" drops
the instruction (the agent's prompt already holds it) and puts each result on
one line, so a results page stays under about 300 tokens: on our CPU, prompt
prefill dominates the cost of a step for the default 135M model.

Example:
    >>> render(state, catalog, instruction, mode="compact")
    'Search page. Type search[keywords] to look for products.'
"""

from __future__ import annotations

from typing import Literal

from agentloop.environments.webshop.catalog import (
    Catalog,
    Product,
    description,
    features,
    reviews,
)
from agentloop.environments.webshop.state import ShopState, page_count, page_items

Mode = Literal["text", "compact"]


def _detail_lines(product: Product, detail: str) -> list[str]:
    if detail == "description":
        return [description(product)]
    return [f"- {line}" for line in (features(product) if detail == "features" else reviews(product))]


def _selected(state: ShopState) -> str:
    return ", ".join(f"{kind} {value}" for kind, value in state.selected) or "none"


def render_compact(state: ShopState, catalog: Catalog) -> str:
    """The short observation of the current page."""
    if state.page == "search":
        # Worded by trial with the 135M default model (greedy, 6 easy tasks, the
        # system prompt's example showing the same line): "search[keywords]" gave
        # 5/6 well-formed and 3/6 on-topic searches; "search[your query]" 4/6 and
        # 2/6 (the rest copied "your query"); "You are on the search page." 1/6
        # (the model echoed the line instead of acting).
        return "Search page. Type search[keywords] to look for products."
    if state.page == "results":
        if not state.results:
            return f'No results for "{state.query}". click[back to search] and try other words.'
        lines = [f'Results for "{state.query}" (page {state.page_no} of {page_count(state)}):']
        for i in page_items(state):
            product = catalog.products[i]
            lines.append(f"[{product.id}] {product.title} ${product.price:.2f}")
        more = ["click[next >]"] if state.page_no < page_count(state) else []
        more += ["click[< prev]"] if state.page_no > 1 else []
        lines.append("Other actions: " + ", ".join(more + ["click[back to search]"]))
        return "\n".join(lines)
    product = catalog.products[state.item]
    if state.page == "detail":
        lines = [f"{state.detail.capitalize()} of {product.id}:"] + _detail_lines(product, state.detail)
        return "\n".join(lines + ["Actions: click[< prev], click[back to search]"])
    lines = [f"Item {product.id}: {product.title}", f"Price: ${product.price:.2f}"]
    lines += [f"{kind}: " + " ".join(f"[{v}]" for v in values) for kind, values in product.options]
    if product.options:
        lines.append(f"Selected: {_selected(state)}")
    lines.append("Actions: click[buy now], click[< prev], click[description], click[features], "
                 "click[reviews], click[back to search]")
    return "\n".join(lines)


def render_text(state: ShopState, catalog: Catalog, instruction: str) -> str:
    """WebShop's text observation: instruction, then the page's elements in brackets."""
    head = [f"Instruction: {instruction}"]
    if state.page == "search":
        return "\n".join(["WebShop"] + head + ["[Search]"])
    head.append("[Back to Search]")
    if state.page == "results":
        lines = head + [f"Page {state.page_no} (Total results: {len(state.results)})"]
        if state.page_no > 1:
            lines.append("[< Prev]")
        if state.page_no < page_count(state):
            lines.append("[Next >]")
        for i in page_items(state):
            product = catalog.products[i]
            lines += [f"[{product.id}]", product.title, f"${product.price:.2f}"]
        return "\n".join(lines)
    product = catalog.products[state.item]
    lines = head + ["[< Prev]"]
    if state.page == "detail":
        return "\n".join(lines + _detail_lines(product, state.detail))
    for kind, values in product.options:
        lines += [kind, " ".join(f"[{v}]" for v in values)]
    if product.options:
        lines.append(f"Selected: {_selected(state)}")
    lines += [product.title, f"Price: ${product.price:.2f}", "Rating: N.A.",
              "[Description]", "[Features]", "[Reviews]", "[Buy Now]"]
    return "\n".join(lines)


def render(state: ShopState, catalog: Catalog, instruction: str, mode: Mode) -> str:
    """The observation of `state` in `mode` ("text" or "compact")."""
    if mode == "text":
        return render_text(state, catalog, instruction)
    return render_compact(state, catalog)
