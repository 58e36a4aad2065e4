"""A WebShop-style shopping environment (Yao et al. 2022).

A generated catalog (`catalog.py`) searched with BM25 (`search.py`), tasks
with WebShop-style instructions at three difficulties (`goal.py`), WebShop's
page graph (`state.py`), its purchase reward (`reward.py`), text and compact
observations (`render.py`), the agent's system prompt (`prompt.py`), and the
environment itself (`env.py`). `scripted.py` has an expert and a random player;
`play.py` lets a person play in the terminal.

    from agentloop.environments.webshop import WebShopEnv
    env = WebShopEnv(num_products=10_000, difficulty="easy")
"""

from agentloop.environments.webshop.env import (
    WebShopConfig,
    WebShopEnv,
    build_webshop_env,
    load_shop,
)

__all__ = ["WebShopConfig", "WebShopEnv", "build_webshop_env", "load_shop"]
