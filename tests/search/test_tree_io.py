"""The tree saves and loads as node-link JSON, draws to PNG, and renders a page a browser shows."""

from __future__ import annotations

import json
import shutil
import subprocess

import networkx as nx
import pytest
from agentloop.environments.maze import MazeEnv
from agentloop.search import (
    SearchConfig,
    Tree,
    draw_png,
    load_trees,
    save_trees,
    search_tasks,
)
from agentloop.search.html import render_html, write_html
from search_doubles import RandomMazeAgent, maze_task
from test_builders import hand_tree


def _searched() -> Tree:
    task = maze_task(4, 6)
    config = SearchConfig(simulations=12, k=3, max_depth=8)
    return search_tasks(lambda: MazeEnv(size=7), [task], RandomMazeAgent(seed=9), None, config)[0]


def test_save_and_load_round_trip(tmp_path):
    tree = _searched()
    (path,) = save_trees([tree], tmp_path / "trees")
    data = json.loads(path.read_text())
    assert {"nodes", "edges", "graph", "directed"} <= set(data) and data["directed"]
    (loaded,) = load_trees(tmp_path / "trees")
    assert nx.utils.graphs_equal(loaded.graph, tree.graph)
    assert loaded.state("3") == tree.state("3") and loaded.task_id == tree.task_id


def test_png(tmp_path):
    path = draw_png(_searched(), tmp_path / "tree.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    small = draw_png(_searched(), tmp_path / "small.png", max_nodes=5)
    assert small.stat().st_size > 1000


def test_html_embeds_everything_offline():
    tree = hand_tree()
    tree.node("1")["observation"] = "a </script> tag and <b>html</b>"
    page = render_html(tree)
    assert "</script> tag" not in page  # escaped inside the JSON
    assert "http://" not in page and "https://" not in page  # nothing from the network
    assert "Thought: C" in page and "Reach the goal." in page


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="headless Chromium is not installed (apt-get install chromium)")
def test_html_opens_in_headless_chromium_with_root_and_children(tmp_path):
    tree = hand_tree()
    path = write_html(tree, tmp_path / "tree.html")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=60, check=True).stdout
    # The script ran: the root is an open <details> and its three children are listed in it.
    assert '<details data-node="0" class="" open="">' in dom
    for child in ("1", "2", "5"):
        assert f'data-node="{child}"' in dom
    assert "[1] a  | N=2" in dom and "[0] root" in dom
