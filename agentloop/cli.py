"""The `agentloop` command line. Each command is a thin wrapper over library calls;
its help text is the function's docstring."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="agentloop",
    help="Self-improving LLM agents: search, critique, build data, train, repeat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the agentloop version."""
    from agentloop import __version__

    typer.echo(__version__)


@app.command()
def serve(
    model: str = typer.Argument("default", help='"default" (SmolLM2-135M-Instruct) or a local Hugging Face model directory.'),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    backend: str = typer.Option("transformers", help="transformers or vllm."),
    dtype: str = typer.Option(None, help="float32, bfloat16 or float16 (vllm also: auto); default: the backend's."),
) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions,
    /v1/chat/completions; the model's id is MODEL as given).

    Example: `agentloop serve default --port 8000`, then from Python
    `OpenAIBackend("http://127.0.0.1:8000/v1", tokenizer=...)` or any OpenAI client.
    """
    from agentloop.model import resolve_model
    from agentloop.server import serve as serve_llm

    if backend not in ("transformers", "vllm"):
        raise typer.BadParameter(f"{backend!r} is not one of: transformers, vllm", param_hint="--backend")
    path = resolve_model(model)
    options = {"dtype": dtype} if dtype else {}
    if backend == "vllm":
        from agentloop.vllm_backend import VLLMBackend

        with VLLMBackend.from_pretrained(path, **options) as llm:
            serve_llm(llm, host=host, port=port, model_name=model, tokenizer=llm.tokenizer)
    else:
        from agentloop.transformers_backend import TransformersBackend

        llm = TransformersBackend.from_pretrained(path, **options)
        serve_llm(llm, host=host, port=port, model_name=model, tokenizer=llm.tokenizer)


@app.command()
def play(
    env: str = typer.Argument("webshop", help="The environment to play: webshop."),
    seed: int = typer.Option(0, help="Seed of the catalog and the tasks."),
    products: int = typer.Option(10_000, help="Products in the generated catalog."),
    difficulty: str = typer.Option("easy", help="easy, medium or hard."),
    mode: str = typer.Option("compact", help="Observation mode: compact or text."),
    split: str = typer.Option("test", help="Task split: train or test."),
    task: int = typer.Option(0, help="Index of the task in the split."),
    agent: str = typer.Option("human", help="human (type actions), expert or random (watch them)."),
) -> None:
    """Play an environment in the terminal: read the instruction, then type actions
    such as search[red lipstick] or click[buy now] ('quit' stops).

    Example: `agentloop play webshop --difficulty medium --task 3`, or
    `agentloop play webshop --agent expert` to watch the scripted expert.
    """
    from agentloop.environments.webshop.play import play as play_webshop

    if env != "webshop":
        raise typer.BadParameter(f"{env!r} is not one of: webshop", param_hint="ENV")
    try:
        play_webshop(num_products=products, seed=seed, difficulty=difficulty, observation_mode=mode,
                     split=split, task_index=task, agent=agent)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


@app.command()
def train(
    data: str = typer.Argument(..., help="pairs.jsonl or revisions.jsonl of a run, or a TRL preference / messages JSONL file."),
    overrides: list[str] = typer.Argument(None, help="Trainer settings such as lr=1e-5 epochs=2 beta=0.2 lora.r=16."),
    output: str = typer.Option(..., "--output", "-o", help="Checkpoint directory to write; rerun the same command to resume."),
    model: str = typer.Option("default", help='"default" (SmolLM2-135M-Instruct) or a local Hugging Face model directory.'),
    method: str = typer.Option("dpo", help="dpo, ipo or simpo on preference pairs; sft on conversations."),
) -> None:
    """Train a model on an exported dataset (off-policy step-level DPO/IPO/SimPO, or
    masked SFT) and write a Hugging Face checkpoint that every backend loads.

    Example: `agentloop train runs/x/round-1/pairs.jsonl -o ckpt lr=5e-6 epochs=2`
    """
    from pydantic import ValidationError

    from agentloop.trainers.files import train_from_file

    try:
        result = train_from_file(data, output, model=model, method=method, overrides=overrides or [])
    except (ValueError, ValidationError) as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(f"{result.steps} steps, final loss {result.final_loss:.4f}; wrote {output}")

if __name__ == "__main__":
    app()
