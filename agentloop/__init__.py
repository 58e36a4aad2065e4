"""agentloop: LLM agents that improve themselves by search, self-critique and training."""

__version__ = "0.1.0"
