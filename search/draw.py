"""A search tree as a PNG for reports (matplotlib, no display needed).

Nodes sit in rows by depth, leaves spread left to right in depth-first order
and parents centred over their children. Colour is the mixed Q, size grows
with visits, a green ring marks a success, a dashed red edge an invalid
action. Large trees are cut to their most visited `max_nodes` nodes.

Example:
    >>> draw_png(tree, "plots/tree-task1.png")
"""

from __future__ import annotations

import os
from pathlib import Path

from agentloop.search.tree import Tree


def layout(tree: Tree, keep: set[str]) -> dict[str, tuple[float, float]]:
    """x by depth-first leaf order (parents centred), y = -depth."""
    positions: dict[str, tuple[float, float]] = {}
    next_x = [0.0]

    def place(node: str) -> float:
        children = [c for c in tree.children(node) if c in keep]
        if not children:
            x = next_x[0]
            next_x[0] += 1.0
        else:
            xs = [place(c) for c in children]
            x = (min(xs) + max(xs)) / 2
        positions[node] = (x, -float(tree.node(node)["depth"]))
        return x

    place(tree.root)
    return positions


def most_visited(tree: Tree, max_nodes: int) -> set[str]:
    """The root plus the most visited nodes whose parents are kept, up to `max_nodes`."""
    order = sorted(tree.graph.nodes, key=lambda n: (-tree.node(n)["visits"], int(n)))
    keep = {tree.root}
    for node in order:
        if len(keep) >= max_nodes:
            break
        if all(p in keep for p in tree.path(node)[:-1]):
            keep.add(node)
    return keep


def draw_png(tree: Tree, path: str | os.PathLike, max_nodes: int = 150,
             label_chars: int = 18) -> Path:
    """Draw `tree` to `path` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keep = most_visited(tree, max_nodes)
    pos = layout(tree, keep)
    width = max(6.0, 0.9 * (max(x for x, _ in pos.values()) + 1))
    height = max(4.0, 1.2 * (1 - min(y for _, y in pos.values())))
    figure, axes = plt.subplots(figsize=(min(width, 60), min(height, 40)))
    for parent, child in tree.graph.edges:
        if parent not in keep or child not in keep:
            continue
        edge = tree.graph.edges[parent, child]
        (x0, y0), (x1, y1) = pos[parent], pos[child]
        axes.plot([x0, x1], [y0, y1], color="tab:red" if edge["invalid"] else "0.6",
                  linestyle="--" if edge["invalid"] else "-", linewidth=0.8, zorder=1)
        text = edge["action"][:label_chars]
        # Two thirds of the way down, so the labels of siblings do not overlap at the parent.
        axes.text((x0 + 2 * x1) / 3, (y0 + 2 * y1) / 3, text, fontsize=6, ha="center", va="center",
                  bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8), zorder=2)
    nodes = sorted(keep, key=int)
    xs, ys = [pos[n][0] for n in nodes], [pos[n][1] for n in nodes]
    qs = [tree.node(n)["q"] for n in nodes]
    sizes = [30 + 20 * min(tree.node(n)["visits"], 40) for n in nodes]
    rings = ["tab:green" if tree.node(n)["success"] else "black" for n in nodes]
    dots = axes.scatter(xs, ys, c=qs, s=sizes, cmap="viridis", vmin=0.0, vmax=1.0,
                        edgecolors=rings, linewidths=1.5, zorder=3)
    figure.colorbar(dots, ax=axes, label="Q (mixed)", shrink=0.6)
    shown = f" ({len(keep)} of {tree.graph.number_of_nodes()} nodes)" if len(keep) < len(tree.graph) else ""
    axes.set_title(f"{tree.task_id}: {tree.node(tree.root)['visits']} simulations{shown}", fontsize=9)
    axes.set_axis_off()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path
