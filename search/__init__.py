"""Monte Carlo Tree Search with self-critique, the search tree, and tree -> data builders.

    from agentloop.search import MCTS, SearchConfig, search_tasks, step_pairs

Search (`mcts.py`, `inference.py`) turns tasks into trees (`tree.py`); the
builders (`pairs.py`, `revisions.py`, `best.py`) turn finished trees into
training data, all by one rule of what may be trained (`trainable.py`);
`draw.py` and `html.py` show a tree to a person.
"""

from agentloop.search.best import best_trajectories, trajectories, trajectory
from agentloop.search.config import SearchConfig
from agentloop.search.draw import draw_png
from agentloop.search.html import write_html
from agentloop.search.inference import SolveResult, solve_tasks
from agentloop.search.mcts import MCTS, search_tasks
from agentloop.search.pairs import PairConfig, step_pairs
from agentloop.search.revisions import RevisionConfig, revision_trajectories
from agentloop.search.trainable import TrainablePath, trainable, trainable_path
from agentloop.search.tree import Tree, load_trees, save_trees

__all__ = [
    "MCTS", "SearchConfig", "search_tasks", "solve_tasks", "SolveResult", "Tree", "save_trees",
    "load_trees", "step_pairs", "PairConfig", "revision_trajectories", "RevisionConfig",
    "best_trajectories", "trajectories", "trajectory", "trainable", "trainable_path",
    "TrainablePath", "draw_png", "write_html",
]
