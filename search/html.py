"""A search tree as one self-contained HTML page to read offline.

The page holds the tree as JSON and a few lines of JavaScript that build it as
nested `<details>` elements: the root is open with its children listed, and a
click on a node opens it to show the observation it reached, the agent's full
completion (thought and action), the critic's score and the search statistics.
Nothing is loaded from the network.

Example:
    >>> write_html(tree, "trees/task1.html")   # open in any browser
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from agentloop.search.tree import Tree

_FIELDS = ("observation", "depth", "visits", "q", "q_mcts", "q_critic", "reward", "ret",
           "terminated", "truncated", "done", "success", "rollout", "critic_value", "role")

_SCRIPT = """
const tree = JSON.parse(document.getElementById('tree-data').textContent);
const byId = Object.fromEntries(tree.nodes.map(n => [n.id, n]));
const fmt = v => (v === null || v === undefined) ? '-' : (typeof v === 'number' ? v.toFixed(3) : String(v));
function block(label, text) {
  const d = document.createElement('div'); d.className = 'block';
  const b = document.createElement('b'); b.textContent = label; d.appendChild(b);
  const p = document.createElement('pre'); p.textContent = text; d.appendChild(p); return d;
}
function render(id) {
  const n = byId[id];
  const el = document.createElement('details');
  el.dataset.node = id; el.className = n.success ? 'success' : (n.invalid ? 'invalid' : '');
  const s = document.createElement('summary');
  const head = id === tree.root ? 'root' : n.action;
  s.textContent = `[${id}] ${head}  | N=${n.visits} Q=${fmt(n.q)} Qmcts=${fmt(n.q_mcts)} ` +
    `critic=${fmt(n.q_critic)} r=${fmt(n.reward)}` + (n.done ? ' (leaf)' : '') +
    (n.invalid ? ' INVALID' : '') + (n.success ? ' SUCCESS' : '');
  el.appendChild(s);
  if (n.completion !== undefined) el.appendChild(block('Completion', n.completion));
  el.appendChild(block('Observation', n.observation));
  el.appendChild(block('Search', `depth ${n.depth}, return ${fmt(n.ret)}, critic value ` +
    `${fmt(n.critic_value)}, rollout node: ${n.rollout}, log-prob ${fmt(n.logprob)}` +
    (n.parse_error ? `, parse error: ${n.parse_error}` : '')));
  const kids = document.createElement('div'); kids.className = 'children';
  for (const c of n.children) kids.appendChild(render(c));
  el.appendChild(kids);
  return el;
}
const rootElement = render(tree.root); rootElement.open = true;
document.getElementById("tree").appendChild(rootElement);
"""

_STYLE = """
body { font-family: sans-serif; margin: 1em; } pre { white-space: pre-wrap; margin: 0.2em 0; }
details { margin-left: 1.2em; border-left: 1px solid #ccc; padding-left: 0.4em; }
summary { cursor: pointer; font-family: monospace; } .block { margin: 0.3em 0 0.3em 1em; }
.success > summary { color: #11761b; } .invalid > summary { color: #b3261e; }
"""


def page_data(tree: Tree) -> dict[str, Any]:
    """What the page shows: every node with its incoming action and its children."""
    nodes = []
    for node in sorted(tree.graph.nodes, key=int):
        data = tree.node(node)
        item: dict[str, Any] = {"id": node, "children": sorted(tree.children(node), key=int)}
        item.update({f: data.get(f) for f in _FIELDS})
        if data["parent"] is not None:
            edge = tree.edge(node)
            item.update(action=edge["action"], completion=edge["completion"],
                        invalid=edge["invalid"], logprob=edge["logprob"],
                        parse_error=edge["parse_error"], samples=edge["samples"])
        nodes.append(item)
    return {"root": tree.root, "task_id": tree.task_id, "instruction": tree.instruction,
            "nodes": nodes}


def render_html(tree: Tree) -> str:
    """The page as a string."""
    # "</" inside the JSON would end the script element early.
    data = json.dumps(page_data(tree)).replace("</", "<\\/")
    title = html.escape(f"Search tree: {tree.task_id}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body><h2>{title}</h2>"
            f"<p><b>Task:</b> {html.escape(tree.instruction)}</p>"
            f"<p>Click a node to read its observation, completion and critique.</p>"
            f"<div id='tree'></div>"
            f"<script type='application/json' id='tree-data'>{data}</script>"
            f"<script>{_SCRIPT}</script></body></html>\n")


def write_html(tree: Tree, path: str | os.PathLike) -> Path:
    """Write the page for `tree` to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(tree), encoding="utf-8")
    return path
