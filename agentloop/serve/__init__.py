"""Serving a backend over HTTP: the OpenAI-compatible server (`server`), its
request and response types (`schema`, `response`), and the `batcher` that merges
concurrent requests into few batched LLM calls."""
