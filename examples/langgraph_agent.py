"""Bring your own LangGraph agent: a user's plan-then-act graph shops in the
WebShop-style store, every model call is recorded as a trainable turn, and one
round of rejection-sampling fine-tuning (SFT on the conversations of the runs
that bought the right product) improves it.

setup -> evaluate the graph on held-out tasks -> collect (sampled runs on train
tasks) -> build (one conversation per LLM node of each successful run) -> train
(masked SFT) -> rebuild the same graph on the new checkpoint -> evaluate -> report.
The graph is plain LangGraph: agentloop only supplies its chat model
(`AgentloopChatModel`) and hands the episode's shop to its nodes as
`config["configurable"]["env"]`.

    python examples/langgraph_agent.py                 # default model, 10k products
    python examples/langgraph_agent.py --tiny          # a tiny random model, seconds (the test)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from agentloop.agents.chat_model import AgentloopChatModel
from agentloop.agents.graph_episodes import run_graph_episodes
from agentloop.agents.parsing import parse_action
from agentloop.environments.webshop import WebShopEnv
from agentloop.jsonl import write_jsonl
from agentloop.llm.model_path import resolve_model
from agentloop.llm.protocol import Sampling
from agentloop.llm.transformers_backend import TransformersBackend
from agentloop.run.evaluate import summarize
from agentloop.run.from_config import close_llm
from agentloop.trainers.config import SFTConfig
from agentloop.trainers.sft import train_sft


# -- the user's agent: a plain LangGraph graph over any chat model -------------------
class ShopState(TypedDict):
    instruction: str
    observation: str
    plan: str
    done: bool
    turns: int


def build_graph(model: BaseChatModel, shop: WebShopEnv, max_turns: int | None = None):
    """plan (one call: what to look for) -> act (one call per page, steps the shop) -> act ...
    until the shop's episode ends or after `max_turns` act calls (default: the shop's
    `max_steps`; the shop does not count invalid actions, so its own limit alone would let
    a confused model go on).

    Each act call reads the rules, the shop's worked example and the current page only:
    the 135M default model copies its last turn when it sees past ones.
    """
    example = [HumanMessage(m.content) if m.role == "user" else AIMessage(m.content) for m in shop.demonstration]
    max_turns = max_turns or shop.max_steps

    def plan(state: ShopState) -> dict:
        reply = model.invoke([SystemMessage("You plan a purchase in one short sentence: the product "
                                            "type and the features to search for."),
                              HumanMessage(f"Instruction: {state['instruction']}")])
        return {"plan": reply.content.strip()}

    def act(state: ShopState, config: RunnableConfig) -> dict:
        page = f"Instruction: {state['instruction']}\nPlan: {state['plan']}\n\n{state['observation']}"
        reply = model.invoke([SystemMessage(shop.system_prompt), *example, HumanMessage(page)])
        parsed = parse_action(reply.content, shop.action_verbs)
        result = config["configurable"]["env"].step(parsed.action or reply.content)
        turns = state.get("turns", 0) + 1
        return {"observation": result.observation, "turns": turns,
                "done": result.terminated or result.truncated or turns >= max_turns}

    return (StateGraph(ShopState).add_node("plan", plan).add_node("act", act)
            .add_edge(START, "plan").add_edge("plan", "act")
            .add_conditional_edges("act", lambda s: END if s["done"] else "act").compile())


# -- the recipe ---------------------------------------------------------------------
def tiny_model(out: Path) -> str:
    """A random 2-layer llama with the default model's tokenizer (for the smoke test)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("default"))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def load(model_dir: str, backend: str):
    """The backend for `model_dir`: vLLM (the default run's) or transformers."""
    if backend == "vllm":
        from agentloop.llm.vllm_backend import VLLMBackend

        return VLLMBackend.from_pretrained(model_dir, dtype="auto", kv_cache_gib=4.0)  # 32 shop prompts at once
    return TransformersBackend.from_pretrained(model_dir)


def play(llm, shop: WebShopEnv, tasks, sampling: Sampling, make_shop, args, output: Path):
    """Run the user's graph on `tasks` with the model `llm`; write the trajectories."""
    graph = build_graph(AgentloopChatModel(llm=llm, sampling=sampling), shop, max_turns=args.max_steps)
    runs = run_graph_episodes(graph, tasks, llm, make_env=make_shop, concurrency=args.concurrency,
                              recursion_limit=2 * args.max_steps + 4, progress=not args.tiny)
    write_jsonl(output, [run.trajectory() for run in runs])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help='"default" or a Hugging Face model directory')
    parser.add_argument("--tiny", action="store_true", help="a tiny random model and a tiny budget")
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--train-tasks", type=int, default=32)
    parser.add_argument("--test-tasks", type=int, default=50)
    parser.add_argument("--samples", type=int, default=4, help="sampled runs per train task")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--min-reward", type=float, default=1.0, help="train on runs with at least this reward")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", default="runs/langgraph-agent")
    parser.add_argument("--backend", default="vllm", choices=["vllm", "transformers"],
                        help="vllm (the default run's; --tiny always uses transformers) or transformers")
    args = parser.parse_args()
    out = Path(args.out)
    if args.tiny:
        # A random model never buys: train on every run, to exercise the whole path.
        args.products, args.train_tasks, args.test_tasks, args.samples = 500, 2, 2, 2
        args.max_steps, args.max_new_tokens, args.min_reward, args.backend = 2, 8, 0.0, "transformers"
    model = tiny_model(out / "tiny-model") if args.tiny else str(resolve_model(args.model))

    # -- setup: the shop, one per episode (the catalog is built once and shared) --------
    make_shop = lambda: WebShopEnv(num_products=args.products, difficulty="easy",  # noqa: E731
                                   max_steps=args.max_steps)
    shop = make_shop()
    train_tasks, test_tasks = shop.tasks("train")[: args.train_tasks], shop.tasks("test")[: args.test_tasks]
    stop = ("\nObservation",)
    greedy = Sampling(temperature=0.0, max_new_tokens=args.max_new_tokens, stop=stop)
    sampled = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=args.max_new_tokens, stop=stop)

    llm = load(model, args.backend)
    try:
        before = play(llm, shop, test_tasks, greedy, make_shop, args, out / "test-before.jsonl")

        # -- collect: several sampled runs of the graph per train task ----------------
        runs = play(llm, shop, [t for t in train_tasks for _ in range(args.samples)], sampled, make_shop, args,
                    out / "trajectories.jsonl")
    finally:
        close_llm(llm)  # vLLM's engine processes free the memory before training

    # -- build: every LLM call of a good run is a trained turn, one conversation per node
    conversations = [c for run in runs if run.reward >= args.min_reward for c in run.conversations()]
    write_jsonl(out / "conversations.jsonl", conversations)

    # -- train: masked SFT on the generated turns ------------------------------------
    if conversations:
        config = SFTConfig(epochs=2, batch_size=4, progress=not args.tiny)
        model = str(train_sft(model, conversations, config, out / "checkpoint").output_dir)

    # -- evaluate the same graph on the new checkpoint --------------------------------
    llm = load(model, args.backend)
    try:
        after = play(llm, shop, test_tasks, greedy, make_shop, args, out / "test-after.jsonl")
    finally:
        close_llm(llm)

    # -- report ------------------------------------------------------------------------
    calls = sum(len(run.episode.calls) for run in runs)
    good = sum(run.reward >= args.min_reward for run in runs)
    print(f"train runs: {len(runs)} ({calls} LLM calls), kept: {good}, conversations: {len(conversations)}")
    for name, result in (("before", before), ("after", after)):
        summary = summarize([run.trajectory() for run in result])
        low, high = summary.success_ci95
        print(f"{name}: success {summary.success_rate:.1%} (95% CI {low:.1%}-{high:.1%}), "
              f"mean reward {summary.mean_reward:.3f}")


if __name__ == "__main__":
    main()
