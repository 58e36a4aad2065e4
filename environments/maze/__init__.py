"""A grid maze with a known shortest path: the toy world for search and training tests."""

from agentloop.environments.maze.env import MazeEnv, shortest_path

__all__ = ["MazeEnv", "shortest_path"]
