"""Playing the shop in a terminal: the `play` function and `agentloop play webshop`."""

from __future__ import annotations

from agentloop.environments.webshop import WebShopEnv
from agentloop.environments.webshop.play import play
from typer.testing import CliRunner

from agentloop.cli import app


def test_a_person_can_play_a_task_to_the_end():
    env = WebShopEnv(num_products=300, difficulty="medium", num_tasks=3)
    task = env.tasks("test")[2]
    typed = iter(["xyzzy", f"search[{task.data['query']}]", f"click[{task.data['target']}]",
                  *(f"click[{value}]" for _, value in task.data["goal"]["options"]), "click[buy now]"])
    shown: list[str] = []
    reward = play(num_products=300, difficulty="medium", task_index=2, read=lambda: next(typed),
                  write=shown.append)
    assert reward == 1.0
    text = "\n".join(shown)
    assert task.instruction in text and "Invalid action 'xyzzy'" in text
    assert "Episode over: reward 1.00, success" in text and '"r_type": 1.0' in text


def test_quit_and_end_of_input_stop_the_game():
    assert play(num_products=300, read=lambda: "quit", write=lambda _: None) == 0.0

    def closed() -> str:
        raise EOFError

    assert play(num_products=300, read=closed, write=lambda _: None) == 0.0


def test_cli_plays_webshop_with_the_expert_and_rejects_bad_options():
    runner = CliRunner()
    result = runner.invoke(app, ["play", "webshop", "--products", "300", "--difficulty", "hard",
                                 "--agent", "expert", "--task", "1"])
    assert result.exit_code == 0, result.output
    assert "> click[buy now]" in result.output and "reward 1.00, success" in result.output
    human = runner.invoke(app, ["play", "webshop", "--products", "300", "--mode", "text"], input="quit\n")
    assert human.exit_code == 0 and "[Search]" in human.output
    assert runner.invoke(app, ["play", "chess"]).exit_code != 0
    assert runner.invoke(app, ["play", "webshop", "--products", "300", "--agent", "robot"]).exit_code != 0
    assert "Play an environment" in runner.invoke(app, ["play", "--help"]).output
