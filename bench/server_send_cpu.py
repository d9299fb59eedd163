"""Server CPU per send against the length of the context, with the builtin model and with an
OpenAI-compatible server (the fake one of the tests, real HTTP through the ``openai`` client).

Seeds conversations of ``--lengths`` in-context messages straight into the database, starts a
real server, sends ``--sends`` messages to each (each read to ``[DONE]``) and reads the server
process's CPU time (user + system, all threads) around each conversation's sends. The sends go
in ``--rounds`` rounds that visit every length in turn, so that a busy spell of the machine
weighs on all lengths alike. Target (issue 13): the CPU per send at 1,000 and at 10,000
messages within 1.3× of that at 10.

    .venv/bin/python -m bench.server_send_cpu [--lengths 10 1000 10000] [--sends 40] [--rounds 5]
"""

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from backend.store import NewMessage, Store
from bench.common import BenchServer, Row, machine, print_table, seed_agent, workspace
from tests.fakes.fake_openai import FakeOpenAI

MAX_RATIO = 1.3
WINDOW = 10_000_000
SEED_BATCH = 5000
WARMUP_SENDS = 3
TEXT = (
    "We decided to plant the tomatoes along the south fence once the nights stay above ten "
    "degrees, and to keep the herbs in pots by the kitchen door."
)


async def seed(db_path: Path, model: str, lengths: list[int]) -> dict[int, str]:
    store = Store(db_path)
    await store.open()
    try:
        agent_id = await seed_agent(store, "bench", model=model)
        made = {}
        for n in lengths:
            conversation = await store.conversations.create(agent_id, None)
            kinds = ("user_message", "assistant_message")
            for start in range(0, n, SEED_BATCH):
                batch = [
                    NewMessage(kinds[i % 2], f"[{i}] {TEXT}")
                    for i in range(start, min(n, start + SEED_BATCH))
                ]
                async with store.db.transaction() as tx:
                    await store.messages.append(tx, conversation["id"], batch)
            made[n] = conversation["id"]
        return made
    finally:
        await store.close()


def send(http: httpx.Client, conversation_id: str, i: int) -> None:
    body = {"messages": [{"role": "user", "content": f"message {i}: how is the garden?"}]}
    with http.stream(
        "POST", f"/v1/conversations/{conversation_id}/messages", json=body
    ) as response:
        response.raise_for_status()
        text = "".join(response.iter_text())
    if "end_turn" not in text or "[DONE]" not in text:
        raise RuntimeError(f"the send did not finish: {text[-300:]}")


def cpu_per_send(
    workdir: Path,
    config: dict[str, dict[str, Any]],
    model: str,
    lengths: list[int],
    sends: int,
    rounds: int,
) -> dict[int, float]:
    workdir.mkdir()
    server = BenchServer(workdir, config)
    conversations = asyncio.run(seed(server.db_path, model, lengths))
    used = dict.fromkeys(conversations, 0.0)
    per_round = max(1, sends // rounds)
    with server, httpx.Client(base_url=server.url, timeout=120) as http:
        for conversation_id in conversations.values():
            for i in range(WARMUP_SENDS):
                send(http, conversation_id, i)
        for _ in range(rounds):
            for n, conversation_id in conversations.items():
                before = server.cpu_seconds()
                for i in range(per_round):
                    send(http, conversation_id, i)
                used[n] += server.cpu_seconds() - before
    return {n: seconds * 1000 / (per_round * rounds) for n, seconds in used.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[10, 1000, 10_000])
    parser.add_argument("--sends", type=int, default=40, help="sends per length")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the sends are spread over")
    args = parser.parse_args(argv)
    lengths = sorted(set(args.lengths))
    print(f"machine: {machine()}", flush=True)
    rows: list[Row] = []
    try:
        with workspace() as tmp, FakeOpenAI() as fake:
            fake.reply = "Noted; the garden plan stands."
            setups = {
                "builtin": (
                    {"providers.builtin": {"context_window": WINDOW}},
                    "builtin/echo",
                ),
                "openai-compatible (fake)": (
                    {
                        "providers.fake": {
                            "base_url": fake.base_url,
                            "api_key": "bench",
                            "models": list(fake.models),
                            "default_context_window": WINDOW,
                        }
                    },
                    f"fake/{fake.models[0]}",
                ),
            }
            for i, (label, (config, model)) in enumerate(setups.items()):
                start = time.perf_counter()
                used = cpu_per_send(tmp / f"s{i}", config, model, lengths, args.sends, args.rounds)
                print(f"{label}: done in {time.perf_counter() - start:.0f} s", flush=True)
                base = used[lengths[0]]
                for n in lengths:
                    ratio = used[n] / base
                    judged = n != lengths[0]
                    rows.append(
                        Row(
                            f"{label}: server CPU per send @ {n:,} in context",
                            f"{used[n]:.2f} ms ({ratio:.2f}× that @ {lengths[0]:,})",
                            f"≤ {MAX_RATIO:g}×" if judged else "",
                            ratio <= MAX_RATIO if judged else None,
                        )
                    )
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temporary files removed")
        return 130
    title = f"Server CPU per send against context length ({args.sends} sends each"
    print_table(f"{title}, in {args.rounds} rounds)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
