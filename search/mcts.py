"""Monte Carlo Tree Search with self-critique (Agent Q section 4.2, Agent-R section 3.1),
many trees at once.

One simulation of one tree: select down the expanded nodes by UCB1 (or PUCT),
an unvisited child valued at its parent's Q (first-play urgency, `first_play`);
expand the first unexpanded node with K proposals of the agent (duplicates
merged, invalid actions kept: they are data too) and let the critic rank them;
step into the best child by the same rule; roll out with the policy to a
terminal state or the depth limit; back up the value as a running mean and
re-mix `Q = alpha*Q_mcts + (1-alpha)*Q_critic`.

Many trees run in synchronous waves: a wave does one simulation of every tree,
with ONE `agent.propose` call for all expansions, ONE `critic.rank` call for
all of their candidates, and one `propose` call per rollout step for all trees
still rolling out. So the backend sees batches as large as the number of trees
times K.

Rollout steps are added to the tree (as `rollout` nodes, not yet expanded):
every simulation then ends at a leaf that is a whole episode, which is what
Agent-R's good/bad leaf paths and the SFT set are built from, and a later
expansion of a rollout node reuses it (duplicates merge). So every node's
visits equal the simulations through it: an internal node's visits are the sum
of its children's.

Example:
    >>> trees = search_tasks(lambda: MazeEnv(), tasks, agent, critic, SearchConfig(simulations=16))
    >>> best = max(trees[0].leaves(), key=lambda n: trees[0].node(n)["ret"])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from agentloop.environments.protocol import Environment, Task, reward_range, succeeded
from agentloop.search.config import SearchConfig
from agentloop.search.cursor import Cursor
from agentloop.search.tree import Tree

from agentloop.agents.critic import Critic
from agentloop.agents.protocol import Agent, Proposal, invalid_turn
from agentloop.progress import progress_bar


class MCTS:
    """The search: an agent proposes, a critic ranks, the environment answers.

    Args:
        agent: proposes K candidate actions per state (batched).
        critic: ranks candidates and, with value_source='critic', values leaves.
            None searches without self-critique (Q = Q_mcts).
        config: the search settings.
    """

    def __init__(self, agent: Agent, critic: Critic | None, config: SearchConfig, progress: bool = True):
        if config.value_source == "critic" and critic is None:
            raise ValueError("value_source='critic' needs a critic")
        self.agent, self.critic, self.config = agent, critic, config
        self.progress = progress
        """Show a progress bar over the simulation waves."""
        self.waves = 0
        self.stats = {"expansions": 0, "rollout_steps": 0, "env_steps": 0, "propose_calls": 0,
                      "critic_calls": 0, "resampled_nodes": 0}

    def start(self, env: Environment, task: Task) -> Cursor:
        """A new tree for `task`, its root the environment's first observation."""
        observation = env.reset(task)
        role = env.current_role() if hasattr(env, "current_role") else ""
        config = self.config
        tree = Tree.new(task.id, task.instruction, observation, role=role,
                        env=getattr(env, "name", ""), reward_range=list(reward_range(env)), alpha=config.alpha,
                        value_source=config.value_source, config=config.model_dump(mode="json"),
                        **_roles(env, task))
        return Cursor(env, task, tree)

    def search(self, envs: Sequence[Environment], tasks: Sequence[Task]) -> list[Tree]:
        """Search every task with its own environment instance, all trees at once."""
        cursors = [self.start(env, task) for env, task in zip(envs, tasks, strict=True)]
        self.run(cursors, [c.tree.root for c in cursors], self.config.simulations)
        return [c.tree for c in cursors]

    def run(self, cursors: Sequence[Cursor], starts: Sequence[str], simulations: int) -> None:
        """`simulations` waves; simulations of tree i start at node `starts[i]`."""
        bar = progress_bar(total=simulations, desc=f"search x{len(cursors)} trees", unit="waves",
                           enabled=self.progress)
        for _ in range(simulations):
            self.wave(cursors, starts)
            bar.update(1)
            if self.config.value_source == "reward":  # at inference the reward is not what we watch
                bar.set_postfix(solved=f"{sum(c.tree.solved() for c in cursors)}/{len(cursors)}")
        bar.close()

    def wave(self, cursors: Sequence[Cursor], starts: Sequence[str]) -> None:
        """One simulation of every tree, LLM calls batched across trees."""
        paths = [self.select(c.tree, s) for c, s in zip(cursors, starts)]
        grow = [i for i, p in enumerate(paths) if not cursors[i].tree.node(p[-1])["done"]]
        self.expand([(cursors[i], paths[i][-1]) for i in grow])
        for i in grow:
            paths[i].append(self.best_child(cursors[i].tree, paths[i][-1]))
        self.rollout(cursors, paths)
        for cursor, path, value in zip(cursors, paths, self.values(cursors, paths)):
            self.backup(cursor.tree, path, self.views(cursor.tree, path[-1], value))
        self.waves += 1

    def select(self, tree: Tree, start: str) -> list[str]:
        """Descend from `start` through expanded nodes to the first unexpanded or done one."""
        path = [start]
        while tree.node(path[-1])["expanded"] and not tree.node(path[-1])["done"]:
            path.append(self.best_child(tree, path[-1]))
        return path

    def best_child(self, tree: Tree, node: str) -> str:
        """The child maximising UCB1 or PUCT; ties go to the higher critic score, then the older.

        An unvisited child is valued by first-play urgency (`SearchConfig.first_play`).
        """
        low, high = tree.reward_range
        # c is for returns in [0, 1]: scale the bonus with the env's declared range.
        c, parent_visits = self.config.c * (high - low), tree.node(node)["visits"]
        children = tree.children(node)
        priors = _priors([tree.node(ch)["q_critic"] for ch in children])
        unvisited = self._first_play(tree, node)

        def score(pair: tuple[str, float]) -> tuple[float, float, int]:
            child, prior = pair
            data = tree.node(child)
            q = data["q"] if data["visits"] else unvisited(data["q_critic"])
            if self.config.selection == "ucb1":
                # Agent Q: Q(h,a) + c*sqrt(ln N(h) / (1 + N(h,a))); ln 0 taken as 0.
                bonus = c * math.sqrt(math.log(max(parent_visits, 1)) / (1 + data["visits"]))
            else:
                # PUCT (AlphaZero) with the critic's normalised scores as the prior P.
                bonus = c * prior * math.sqrt(parent_visits) / (1 + data["visits"])
            return (q + bonus, data["q_critic"] or 0.0, -int(child))

        return max(zip(children, priors), key=score)[0]

    def _first_play(self, tree: Tree, node: str) -> Callable[[float | None], float]:
        """Q of an unvisited child of `node` given its critic score (first-play urgency).

        Only selection reads it: the stored `q` of an unvisited node stays what the
        search knows (its critic score alone), which is what the builders compare.
        """
        data = tree.node(node)
        # The parent's mean from the view of the role choosing among these children.
        own = (data.get("value_sums") or {}).get(data["role"])
        mean = data["q_mcts"] if own is None else own / max(data["visits"], 1)
        stand_in = mean if self.config.first_play == "parent" else tree.reward_range[0]
        alpha = self.config.alpha
        return lambda critic: stand_in if critic is None else \
            alpha * stand_in + (1 - alpha) * _in_range(tree, critic)

    def expand(self, items: Sequence[tuple[Cursor, str]]) -> None:
        """Propose K actions at every node of `items` (one call), step them, rank them (one call)."""
        if not items:
            return
        states = [cursor.tree.state(node) for cursor, node in items]
        branch = self.config.expand_roles
        ks = [self.config.k if not branch or cursor.tree.node(node)["role"] in branch else 1
              for cursor, node in items]
        proposals: list[list[Proposal]] = [[] for _ in items]
        for k in sorted(set(ks), reverse=True):  # one call per K: the learner's K, the others' 1
            group = [i for i, ki in enumerate(ks) if ki == k]
            for i, found in zip(group, self.agent.propose([states[i] for i in group], k,
                                                          self.config.expansion_sampling(self.waves))):
                proposals[i] = found
            self.stats["propose_calls"] += 1
        for (cursor, node), candidates in zip(items, proposals, strict=True):
            self._add_children(cursor, node, candidates)
            cursor.tree.node(node)["expanded"] = True
            self.stats["expansions"] += 1
        self._resample(items, states, ks)
        if self.critic is None:
            return
        children = [cursor.tree.children(node) for cursor, node in items]
        actions = [[cursor.tree.edge(ch)["action"] for ch in chs]
                   for (cursor, _), chs in zip(items, children)]
        scores = self.critic.rank(states, actions)
        self.stats["critic_calls"] += 1
        for (cursor, _), chs, row in zip(items, children, scores, strict=True):
            for child, score in zip(chs, row, strict=True):
                cursor.tree.node(child)["q_critic"] = float(score)
                self._mix(cursor.tree, child)

    def _add_children(self, cursor: Cursor, node: str, candidates: Sequence[Proposal]) -> None:
        """Step each new action from `node` into a child; a repeated one counts as a sample."""
        known = {cursor.tree.edge(ch)["action"].strip(): ch for ch in cursor.tree.children(node)}
        for proposal in candidates:
            key = proposal.action.strip()
            if key in known:
                cursor.tree.graph.edges[node, known[key]]["samples"] += 1
            else:
                known[key] = self._step(cursor, node, proposal, rollout=False)

    def _resample(self, items: Sequence[tuple[Cursor, str]], states: Sequence, ks: Sequence[int]) -> None:
        """Propose again, hotter, at the nodes with fewer than `min_distinct` children."""
        for attempt in range(self.config.resamples):
            short = [i for i, ((cursor, node), k) in enumerate(zip(items, ks, strict=True))
                     if k > 1 and len(cursor.tree.children(node)) < min(self.config.min_distinct, k)]
            if not short:
                return
            found = self.agent.propose([states[i] for i in short], self.config.k,  # the branching K
                                       self.config.resample_sampling(self.waves, attempt))
            self.stats["propose_calls"] += 1
            self.stats["resampled_nodes"] += len(short)
            for i, candidates in zip(short, found, strict=True):
                self._add_children(*items[i], candidates)

    def rollout(self, cursors: Sequence[Cursor], paths: list[list[str]]) -> None:
        """Roll every path on with the policy (K=1, lockstep) until it ends."""
        step = 0
        active = [i for i, p in enumerate(paths) if not cursors[i].tree.node(p[-1])["done"]]
        while active:
            states = [cursors[i].tree.state(paths[i][-1]) for i in active]
            proposals = self.agent.propose(states, 1, self.config.rollout_sampling(self.waves, step))
            self.stats["propose_calls"] += 1
            for i, candidates in zip(active, proposals, strict=True):
                cursor, node, proposal = cursors[i], paths[i][-1], candidates[0]
                same = [ch for ch in cursor.tree.children(node)
                        if cursor.tree.edge(ch)["action"].strip() == proposal.action.strip()]
                paths[i].append(same[0] if same else self._step(cursor, node, proposal, rollout=True))
                self.stats["rollout_steps"] += 1
            active = [i for i in active if not cursors[i].tree.node(paths[i][-1])["done"]]
            step += 1

    def values(self, cursors: Sequence[Cursor], paths: Sequence[list[str]]) -> list[float]:
        """The value each simulation backs up, read at its leaf."""
        if self.config.value_source != "critic":
            # The environment's return from the root (Agent Q backs up the 0/1 outcome).
            return [c.tree.node(p[-1])["ret"] for c, p in zip(cursors, paths)]
        # Inference: the critic's belief that the task is done; the reward is never read.
        ask = [(c.tree, p[-1]) for c, p in zip(cursors, paths)
               if c.tree.node(p[-1])["critic_value"] is None]
        if ask:
            for (tree, leaf), value in zip(ask, self.critic.value([t.state(n) for t, n in ask])):
                tree.node(leaf)["critic_value"] = float(value)
            self.stats["critic_calls"] += 1
        return [c.tree.node(p[-1])["critic_value"] for c, p in zip(cursors, paths)]

    def backup(self, tree: Tree, path: Sequence[str], value: float | dict[str, float]) -> None:
        """Running mean of the backed-up values along the path (Agent Q: Q_tilde).

        A value per role (a tree with roles, `views`) is summed per role, and each node's
        `q_mcts` is the mean from the view of the role that chose the move leading to it
        (`Tree.chooser`): at the other player's turns its siblings are ranked by its outcome.
        """
        for node in path:
            data = tree.node(node)
            data["visits"] += 1
            if isinstance(value, dict):
                sums = data.setdefault("value_sums", {})
                for role, v in value.items():
                    sums[role] = sums.get(role, 0.0) + v
                data["value_sum"] = sums.get(tree.chooser(node), 0.0)
            else:
                data["value_sum"] += value
            data["q_mcts"] = data["value_sum"] / data["visits"]
            self._mix(tree, node)

    def views(self, tree: Tree, leaf: str, value: float) -> float | dict[str, float]:
        """The value of a simulation ending at `leaf` per role (a tree without roles: `value`).

        The env's per-role returns (`info["rewards"]` summed) when it gives them and the
        reward is backed up; else `value` is from the view of the role that made the last
        move, and the other roles get `low + high - value` in a zero-sum env (negamax within
        the reward range) or `value` too (a shared outcome). A critic's value is from the
        view of the leaf's role, whose state it read.
        """
        if not tree.roles:
            return value
        returns = tree.node(leaf).get("returns")
        if returns and self.config.value_source != "critic":
            return {role: float(returns.get(role, 0.0)) for role in tree.roles}
        low, high = tree.reward_range
        critic = self.config.value_source == "critic"
        mover = tree.node(leaf)["role"] if critic else tree.chooser(leaf)
        zero_sum = tree.graph.graph.get("zero_sum", False)
        return {role: value if role == mover or not zero_sum else low + high - value
                for role in tree.roles}

    def _mix(self, tree: Tree, node: str) -> None:
        data, alpha = tree.node(node), self.config.alpha
        critic = data["q_critic"]
        data["q"] = data["q_mcts"] if critic is None else \
            alpha * data["q_mcts"] + (1 - alpha) * _in_range(tree, critic)

    def _step(self, cursor: Cursor, node: str, proposal: Proposal, rollout: bool) -> str:
        result = cursor.step(node, proposal.action)
        self.stats["env_steps"] += 1
        env, tree = cursor.env, cursor.tree
        depth = tree.node(node)["depth"] + 1
        over = result.terminated or result.truncated
        # A node's observation is its role's. A finished game's belongs to the role that ended
        # it (an env may name anyone as acting after the end), so its state is that role's story.
        role = tree.node(node)["role"] if over or not hasattr(env, "current_role") else env.current_role()
        rewards = result.info.get("rewards")
        child = tree.add_child(
            node, observation=result.observation, action=proposal.action,
            completion=proposal.completion, token_ids=proposal.token_ids,
            logprobs=proposal.logprobs, reward=result.reward, terminated=result.terminated,
            truncated=result.truncated, invalid=invalid_turn(proposal, result.info),
            parse_error=proposal.parse_error, done=depth >= self.config.max_depth,
            success=succeeded(result.info, tree.node(node)["ret"] + result.reward, result.terminated,
                              tree.reward_range),
            rollout=rollout, role=role,
            rewards=rewards if tree.roles and isinstance(rewards, dict) else None)
        cursor.remember(child)
        return child


def _roles(env: Environment, task: Task) -> dict:
    """The tree attributes of a multi-role env: its roles, what each is told, zero_sum."""
    roles = tuple(getattr(env, "roles", ())) if hasattr(env, "current_role") else ()
    if not roles:
        return {}
    told = getattr(env, "instruction", None)
    return {"roles": list(roles), "zero_sum": bool(getattr(env, "zero_sum", False)),
            "instructions": {role: told(task, role) for role in roles} if callable(told) else {}}


def _in_range(tree: Tree, critic: float) -> float:
    """A critic score in [0, 1] on the scale of the env's returns, so Q mixes like with like."""
    low, high = tree.reward_range
    return low + critic * (high - low)


def _priors(scores: Sequence[float | None]) -> list[float]:
    """Critic scores normalised to sum to one (uniform when there are none)."""
    known = [s or 0.0 for s in scores]
    total = sum(known)
    return [s / total for s in known] if total > 0 else [1.0 / len(scores)] * len(scores)


def search_tasks(env_factory: Callable[[], Environment], tasks: Sequence[Task], agent: Agent,
                 critic: Critic | None, config: SearchConfig,
                 batch: int | None = None) -> list[Tree]:
    """Search every task; `batch` trees at once (all when None), one environment per tree.

    `env_factory()` must give a fresh, independent environment instance each call.

    Example:
        >>> trees = search_tasks(MazeEnv, MazeEnv().tasks("train")[:8], agent, critic, SearchConfig())
    """
    batch = batch or max(len(tasks), 1)
    trees: list[Tree] = []
    for start in range(0, len(tasks), batch):
        group = tasks[start:start + batch]
        trees += MCTS(agent, critic, config).search([env_factory() for _ in group], group)
    return trees
