"""Fuzzing WebShopEnv with hypothesis: thousands of random and adversarial action
strings, interleaved with valid actions, snapshots and restores, never raise
and never leave the episode state inconsistent."""

from __future__ import annotations

from agentloop.environments.checker import INVALID_ACTIONS
from agentloop.environments.protocol import StepResult
from agentloop.environments.webshop import WebShopEnv
from agentloop.environments.webshop.state import DETAILS, page_count, page_items
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

ENV = WebShopEnv(num_products=400, difficulty="hard", max_steps=12, num_tasks=10)
TASKS = ENV.tasks("train") + ENV.tasks("test")
IDS = [p.id for p in ENV.catalog.products[:40]]
ELEMENTS = ["buy now", "next >", "< prev", "back to search", "description", "features", "reviews",
            "red", "black", "small", "1 oz", "pack of 6", "Buy Now", "NEXT >", "<prev", "buy  now"] + IDS

ADVERSARIAL = list(INVALID_ACTIONS) + [
    "click[" + "a" * 2000 + "]", "search[" + "word " * 400 + "]", "search[\x00]", "click[[buy now]]",
    "click[buy now", "click]buy now[", "search[ﬃ]", "click[B0...]", "search[...]", "click[...]",
    "Action: click[buy now]", "search[a]b]", "search[[]]", "click[]", "search[\u0130]", "click[\ud800]",
    "search[ 💥 ]", "click[next >] click[buy now]", "search\n[desk]", "CLICK[BACK TO SEARCH]",
]

actions = st.one_of(
    st.text(max_size=60),
    st.sampled_from(ADVERSARIAL),
    st.builds(lambda verb, arg: f"{verb}[{arg}]",
              st.sampled_from(["click", "search", "CLICK", "Search", "clik", "", "click ", "think"]),
              st.text(max_size=40)),
    st.builds(lambda pre, verb, element, post: f"{pre}{verb}[{element}]{post}",
              st.sampled_from(["", " ", "\n", "Action: "]), st.sampled_from(["click", "search"]),
              st.sampled_from(ELEMENTS), st.sampled_from(["", " ", "]", "\n", "x"])),
)


def _assert_well_formed(result: StepResult) -> None:
    assert isinstance(result, StepResult) and isinstance(result.observation, str)
    assert result.observation.strip()
    assert not (result.terminated and result.truncated)
    assert isinstance(result.info.get("invalid"), bool)


class ShopMachine(RuleBasedStateMachine):
    """Random walks through the shop mixing garbage, valid actions, snapshots and restores."""

    snapshots = Bundle("snapshots")

    @initialize(task=st.sampled_from(TASKS))
    def start(self, task):
        ENV.reset(task)

    @rule(action=actions)
    def act(self, action):
        before = ENV.snapshot()
        result = ENV.step(action)
        _assert_well_formed(result)
        if result.info["invalid"]:
            assert ENV.snapshot() == before, f"invalid {action!r} changed the state"
            assert result.reward == 0.0 and not result.terminated

    @rule(data=st.data())
    def act_validly(self, data):
        available = ENV.available_actions()
        if not available:
            return
        action = data.draw(st.sampled_from(available))
        if action == "search[...]":
            action = "search[" + data.draw(st.sampled_from(["desk", "red lipstick", "gluten free", "zzz"])) + "]"
        result = ENV.step(action)
        _assert_well_formed(result)
        assert result.info["invalid"] is False, (action, result.observation)

    @rule(target=snapshots)
    def take(self):
        return ENV.snapshot(), ENV.available_actions()

    @rule(snap=snapshots)
    def go_back(self, snap):
        state, available = snap
        ENV.restore(state)
        assert ENV.available_actions() == available
        assert ENV.snapshot() == state

    @invariant()
    def state_is_consistent(self):
        state, _ = ENV.snapshot()
        catalog = ENV.catalog
        assert state.page in ("search", "results", "item", "detail")
        assert 0 <= state.steps <= ENV.max_steps
        assert 1 <= state.page_no <= page_count(state)
        assert (state.page == "detail") == (state.detail in DETAILS)
        if state.page in ("item", "detail"):
            assert state.item in page_items(state)
            offered = {(kind, value) for kind, values in catalog.products[state.item].options for value in values}
            assert set(state.selected) <= offered
            assert len({kind for kind, _ in state.selected}) == len(state.selected)
        else:
            assert state.item == -1 and state.selected == ()
        assert bool(ENV.available_actions()) != state.done


ShopMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
test_random_walks_keep_the_state_consistent = ShopMachine.TestCase


@settings(max_examples=2000, deadline=None)
@given(action=actions, task_index=st.integers(0, len(TASKS) - 1), depth=st.integers(0, 3))
def test_any_action_string_is_answered_without_raising(action, task_index, depth):
    task = TASKS[task_index]
    ENV.reset(task)
    path = [f"search[{task.data['query']}]", f"click[{task.data['target']}]", "click[features]"]
    for step in path[:depth]:
        ENV.step(step)
    before = ENV.snapshot()
    result = ENV.step(action)
    _assert_well_formed(result)
    if result.info["invalid"]:
        assert ENV.snapshot() == before
