"""One round of self-improvement, written out with the components directly.

setup -> evaluate the starting model -> collect (MCTS with self-critique on
train tasks) -> build (Agent Q step pairs + best trajectories) -> train (SFT,
then off-policy DPO) -> evaluate the new model -> report. This is the recipe
to copy; `agentloop run` does the same for several rounds, resumably.

    python examples/one_round.py                       # WebShop-style shop, default model
    python examples/one_round.py --env maze --model PATH --train-tasks 2 --test-tasks 2 --simulations 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agentloop.environments.maze import MazeEnv
from agentloop.environments.webshop import WebShopEnv
from agentloop.search import (
    SearchConfig,
    best_trajectories,
    save_trees,
    search_tasks,
    step_pairs,
)
from agentloop.trainers.config import DPOConfig, SFTConfig
from agentloop.trainers.dpo import train_dpo, use_reference
from agentloop.trainers.sft import train_sft

from agentloop.agents.critic import CriticConfig, build_critic
from agentloop.config import AgentConfig, TrainerConfig
from agentloop.jsonl import write_jsonl
from agentloop.llm.model_path import resolve_model
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.run.evaluate import evaluate_greedy
from agentloop.run.from_config import agent_sampling, build_agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", choices=["webshop", "maze"], default="webshop")
    parser.add_argument("--model", default="default", help='"default" or a Hugging Face model directory')
    parser.add_argument("--train-tasks", type=int, default=16)
    parser.add_argument("--test-tasks", type=int, default=20)
    parser.add_argument("--simulations", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--out", default="runs/one-round")
    parser.add_argument("--reference", choices=["recorded", "recompute"], default=TrainerConfig().reference,
                        help="DPO reference: the log-probs the agent recorded while searching, or "
                             "recomputed by the model DPO starts from (as trainer.reference)")
    args = parser.parse_args()
    out = Path(args.out)

    # -- setup: environment, policy, self-critic (the same model) ----------------
    make_env = (lambda: WebShopEnv(num_products=10_000, difficulty="easy", max_steps=8)) \
        if args.env == "webshop" else (lambda: MazeEnv(size=5))
    env = make_env()
    model = str(resolve_model(args.model))
    llm = TransformersBackend.from_pretrained(model)
    # The env's rules and worked example; no past turns (the 135M model copies its last one).
    agent_config = AgentConfig(max_history=0, max_steps=args.max_steps, max_new_tokens=args.max_new_tokens)
    agent = build_agent(agent_config, llm, env)
    critic = build_critic(CriticConfig(), llm)
    greedy = agent_sampling(agent_config, greedy=True)
    train_tasks = env.tasks("train")[: args.train_tasks]
    test_tasks = env.tasks("test")[: args.test_tasks]

    before = evaluate_greedy(env, test_tasks, agent, args.max_steps, greedy, out / "test-before.jsonl")

    # -- collect: MCTS with the environment's reward backed up (Agent Q) ----------
    search = SearchConfig(simulations=args.simulations, k=4, max_depth=args.max_steps,
                          max_new_tokens=args.max_new_tokens, temperature=0.5, rollout_temperature=0.5)
    trees = search_tasks(make_env, train_tasks, agent, critic, search)
    save_trees(trees, out / "trees")

    # -- build: step-level preference pairs and successful trajectories ---------
    pairs = step_pairs(trees, agent.prompt)
    best = best_trajectories(trees, agent.prompt, min_reward=1.0)
    write_jsonl(out / "pairs.jsonl", pairs)
    write_jsonl(out / "best.jsonl", best)

    # -- train: SFT on the best paths, then off-policy DPO on the pairs ---------
    # "recorded": the searching policy's log-probs of the trained tokens are the reference.
    trainer = TrainerConfig(sft=SFTConfig(epochs=2, batch_size=4), dpo=DPOConfig(batch_size=4),
                            reference=args.reference)
    if best:
        model = str(train_sft(model, best, trainer.sft, out / "checkpoint-sft").output_dir)
    if pairs:
        model = str(train_dpo(model, use_reference(pairs, trainer.reference), trainer.dpo,
                              out / "checkpoint").output_dir)

    # -- evaluate the new model on the same held-out tasks ---------------------
    new_agent = build_agent(agent_config, TransformersBackend.from_pretrained(model), env)
    after = evaluate_greedy(env, test_tasks, new_agent, args.max_steps, greedy, out / "test-after.jsonl")

    # -- report ---------------------------------------------------------------
    print(f"trees: {len(trees)}, pairs: {len(pairs)}, successful trajectories: {len(best)}")
    for name, result in (("before", before), ("after", after)):
        low, high = result.success_ci95
        print(f"{name}: success {result.success_rate:.1%} (95% CI {low:.1%}-{high:.1%}), "
              f"mean reward {result.mean_reward:.3f}, invalid actions {result.invalid_action_rate:.1%}")


if __name__ == "__main__":
    main()
