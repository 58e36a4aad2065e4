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


if __name__ == "__main__":
    app()
