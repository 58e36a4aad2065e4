"""Roles throughout search: per-role values, per-role expansion, per-role states and pairs.

The game: the bargaining env in two-player mode (`opponent=None`), both players
scripted. The seller opens high (A, 80% up the range) or low (B, 20%); the buyer
then accepts, or counters at 40% and the seller accepts that. So after A the
buyer's best move is the counter (it pays 40% instead of 80%), after B it is to
accept; the seller's best opening is A (its worst case there, 40%, beats B's best).
"""

from __future__ import annotations

from agentloop.environments.negotiation.env import NegotiationEnv, rules
from agentloop.search.config import SearchConfig
from agentloop.search.mcts import MCTS
from agentloop.search.pairs import PairConfig, step_pairs
from agentloop.search.revisions import RevisionConfig, revision_trajectories
from agentloop.search.tree import Tree

from agentloop.agents.protocol import AgentState, Proposal
from agentloop.agents.react import ReActAgent
from agentloop.agents.roles import RoleAgents
from agentloop.agents.scripted import ScriptedCritic

SECRET = "my secret plan"


def price(task, share: float) -> str:
    return f"${task.data['low'] + share * (task.data['high'] - task.data['low']):g}"


class FixedPlayer:
    """Proposes fixed moves for its role (cycled over K), prompts as a ReAct agent would."""

    def __init__(self, role: str, moves, calls: list):
        self.role, self.moves, self.calls = role, moves, calls
        self.react = ReActAgent(None, system_prompt=rules(role))

    def propose(self, states, k=1, sampling=None):
        self.calls.append((self.role, len(states), k))
        out = []
        for state in states:
            assert state.role == self.role
            moves = self.moves(state)
            out.append([Proposal(f"Thought: {SECRET} as {self.role}.\nAction: {moves[i % len(moves)]}",
                                 moves[i % len(moves)]) for i in range(k)])
        return out

    def prompt(self, state):
        return self.react.prompt(state)


def players(task, calls):
    high, low, counter = (f"say[How about {price(task, s)}?]" for s in (0.8, 0.2, 0.4))
    seller = FixedPlayer("seller", lambda s: [high, low] if not s.history else ["say[Deal!]"], calls)
    buyer = FixedPlayer("buyer", lambda s: ["say[Deal!]", counter], calls)
    return RoleAgents({"seller": seller, "buyer": buyer})


def search(config: SearchConfig):
    env = NegotiationEnv(opponent=None)
    task = env.tasks("train")[0]
    calls: list = []
    agents = players(task, calls)
    mcts = MCTS(agents, None, config, progress=False)
    (tree,) = mcts.search([env], [task])
    return tree, task, agents, calls


def child(tree: Tree, node: str, text: str) -> str:
    (found,) = [ch for ch in tree.children(node) if text in tree.edge(ch)["action"]]
    return found


def best(tree: Tree, node: str) -> str:
    return max(tree.children(node), key=lambda ch: tree.node(ch)["q"])


CONFIG = SearchConfig(simulations=40, k=2, c=0.5, max_depth=4)


def test_each_role_picks_its_own_best_move():
    tree, task, _, _ = search(CONFIG)
    root = tree.root
    assert tree.node(root)["role"] == "seller"
    opening_high = child(tree, root, price(task, 0.8))
    opening_low = child(tree, root, price(task, 0.2))
    assert best(tree, root) == opening_high
    assert tree.node(opening_high)["role"] == tree.node(opening_low)["role"] == "buyer"
    # After the high opening the buyer counters (pays 40%, reward 0.6) rather than accept (0.2)...
    assert tree.edge(best(tree, opening_high))["action"] == f"say[How about {price(task, 0.4)}?]"
    assert abs(tree.node(child(tree, opening_high, "Deal"))["q"] - 0.2) < 1e-9
    assert abs(tree.node(child(tree, opening_high, price(task, 0.4)))["q"] - 0.6) < 1e-9
    # ...and after the low one it accepts (0.8 for the buyer, 0.6 countering).
    assert tree.edge(best(tree, opening_low))["action"] == "say[Deal!]"
    # The seller's Q of the high opening mixes 0.8 and 0.4 (its own view, never the buyer's).
    assert 0.4 - 1e-9 <= tree.node(opening_high)["q"] <= 0.8 + 1e-9


def test_pairs_at_buyer_nodes_choose_the_buyer_better_move():
    tree, task, agents, _ = search(CONFIG)
    pairs = step_pairs([tree], agents.prompt, PairConfig(threshold=0.1))
    at_buyer = [p for p in pairs if tree.node(p.provenance.node_ids[0])["role"] == "buyer"]
    assert at_buyer
    for pair in at_buyer:
        node, chosen, rejected = pair.provenance.node_ids
        assert tree.node(chosen)["returns"]["buyer"] > tree.node(rejected)["returns"]["buyer"] or \
            tree.node(chosen)["q"] > tree.node(rejected)["q"]
        after_high = tree.node(node)["parent"] == tree.root and price(task, 0.8) in tree.edge(node)["action"]
        if after_high:
            assert price(task, 0.4) in pair.chosen[0].content
        # The buyer's prompt: its own system prompt and instruction, none of the seller's text.
        text = "\n".join(m.content for m in pair.prompt)
        assert pair.prompt[0].content == rules("buyer")
        assert "as seller" not in text and "cost you" not in text
        assert "You are buying" in text


def test_each_role_reads_only_its_own_turns():
    tree, task, _, _ = search(CONFIG)
    high = child(tree, tree.root, price(task, 0.8))
    counter = child(tree, high, price(task, 0.4))
    assert tree.node(counter)["role"] == "seller"
    seller = tree.state(counter)
    assert [t.completion for t in seller.history] == [tree.edge(high)["completion"]]
    assert "cost you" in seller.instruction
    buyer = tree.state(high)
    assert buyer.role == "buyer" and buyer.history == () and "You are buying" in buyer.instruction
    assert len(seller.actions) == 2  # every role's actions, for agents that replay the env


def test_fixed_role_is_not_branched():
    tree, _, _, calls = search(CONFIG.model_copy(update={"expand_roles": ("seller",)}))
    for node, data in tree.graph.nodes(data=True):
        if data["role"] == "buyer" and data["expanded"]:
            assert len(tree.children(node)) == 1
    assert ("buyer", 1, 1) in calls or any(role == "buyer" and k == 1 for role, _, k in calls)
    assert all(k == 1 for role, _, k in calls if role == "buyer")
    assert len(tree.children(tree.root)) == 2


def test_zero_sum_single_reward_is_negamaxed():
    tree = Tree.new("t", "Play.", "start", role="a", roles=["a", "b"], zero_sum=True,
                    reward_range=[-1.0, 1.0])
    leaf = tree.add_child(tree.root, "end", "win", role="a", reward=1.0, terminated=True)
    mcts = MCTS(RoleAgents({}, default=FixedPlayer("a", lambda s: ["x"], [])), None, SearchConfig(),
                progress=False)
    assert mcts.views(tree, leaf, 1.0) == {"a": 1.0, "b": -1.0}
    mcts.backup(tree, tree.path(leaf), mcts.views(tree, leaf, 1.0))
    assert tree.node(leaf)["q_mcts"] == 1.0  # chosen by a: a's view
    shared = Tree.new("t", "Play.", "start", role="a", roles=["a", "b"], reward_range=[0.0, 1.0])
    leaf = shared.add_child(shared.root, "end", "win", role="a", reward=0.7, terminated=True)
    assert mcts.views(shared, leaf, 0.7) == {"a": 0.7, "b": 0.7}


def test_role_agents_batch_per_role_in_order():
    calls: list = []
    agents = RoleAgents({"seller": FixedPlayer("seller", lambda s: ["say[a]"], calls),
                         "buyer": FixedPlayer("buyer", lambda s: ["say[b]"], calls)})
    states = [AgentState("i", "o", role=r) for r in ("buyer", "seller", "buyer")]
    out = agents.propose(states, k=2)
    assert [[p.action for p in row] for row in out] == [["say[b]"] * 2, ["say[a]"] * 2, ["say[b]"] * 2]
    assert calls == [("buyer", 2, 2), ("seller", 1, 2)]
    assert agents.prompt(states[1])[0].content == rules("seller")
    try:
        agents.propose([AgentState("i", "o", role="judge")])
    except KeyError as error:
        assert "judge" in str(error)
    else:
        raise AssertionError("a role without an agent must be an error")


def test_revisions_are_built_per_role_from_the_deciding_roles_view():
    tree, task, agents, _ = search(CONFIG)
    revisions = revision_trajectories([tree], agents.prompt, ScriptedCritic(),
                                      RevisionConfig(alpha=0.5, max_per_tree=10))
    assert revisions
    high = child(tree, tree.root, price(task, 0.8))
    roles = set()
    for revision in revisions:
        parent, bad, good = revision.provenance.node_ids
        role = tree.node(parent)["role"]
        roles.add(role)
        assert revision.good_reward > revision.bad_reward
        assert revision.good_reward == tree.node(good)["returns"][role]
        text = "\n".join(m.content for m in revision.messages)
        assert revision.messages[0].content == rules(role)
        assert f"as {'seller' if role == 'buyer' else 'buyer'}" not in text  # the other's turns hidden
        if parent == high:  # the buyer learns to counter instead of accepting the high price
            trained = [m.content for m, flag in zip(revision.messages, revision.train) if flag]
            assert any(price(task, 0.4) in content for content in trained)
    assert roles == {"seller", "buyer"}
    assert any(r.provenance.node_ids[0] == high for r in revisions)
