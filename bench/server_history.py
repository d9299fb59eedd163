"""Message history over loopback HTTP: page latency at 1,000 and 100,000 messages, and server RSS.

Seeds the database through ``backend.store`` before the server starts (batched inserts, no HTTP),
then measures a warm server with ``httpx``: 50-message pages at the newest end, the oldest end,
the middle (cursor) and with ``include_compacted=true``; ``GET /v1/conversations/{id}``;
conversation create; agent list. Targets from issue 2: page p50 ≤ 5 ms, the largest history
within 1.5× of the smallest, server RSS ≤ 150 MB; issue 13: ``GET /v1/conversations/{id}`` at
100,000 in-context messages ≤ 30 ms (client-side, the body read but not parsed).

Usage (from the repository root)::

    .venv/bin/python -m bench.server_history
    .venv/bin/python -m bench.server_history --messages 1000 100000 --repeat 300 --agents 200
"""

import argparse
import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from backend.store import NewMessage, Store
from bench.common import BenchServer, Row, Stats, machine, print_table, seed_agent, workspace

PAGE = 50
PAGE_P50_MS = 5.0
MAX_RATIO = 1.5
RSS_LIMIT_MB = 150.0
GET_CONVERSATION_MS = 30.0  # issue 13, at 100,000 in-context messages
SEED_BATCH = 5000
WARMUP = 20
MODEL = "builtin/echo"
SYSTEM = "You are a helpful assistant with a persistent memory."
USER_TEXT = "Could you remind me what we decided about the garden, and whether the seeds arrived?"
ASSISTANT_TEXT = (
    "We decided to plant the tomatoes along the south fence once the nights stay above ten "
    "degrees, and to keep the herbs in pots by the kitchen door. The seeds arrived on Tuesday; "
    "they are in the blue tin on the shelf, sorted by the week you wanted to sow them."
)


@dataclass
class History:
    """A seeded conversation and its message ids, oldest first."""

    conversation_id: str
    ids: list[str]


def history_messages(start: int, count: int) -> list[NewMessage]:
    """Realistic turns: the conversation's system message first, then user/assistant pairs."""
    out = []
    for i in range(start, start + count):
        if i == 0:
            out.append(NewMessage("system_message", SYSTEM))
        elif i % 2:
            out.append(NewMessage("user_message", f"[{i}] {USER_TEXT}"))
        else:
            out.append(NewMessage("assistant_message", f"[{i}] {ASSISTANT_TEXT}"))
    return out


async def create_agent(store: Store, name: str, tool_ids: list[str] | None = None) -> str:
    """An agent as the benches make them: two memory blocks, and ``tool_ids`` if given."""
    blocks = [
        {"label": "persona", "value": "A patient gardener.", "limit": 5000},
        {"label": "human", "value": "Sam, who forgets things.", "limit": 5000},
    ]
    return await seed_agent(
        store, name, model=MODEL, system=SYSTEM, blocks=blocks, tags=["bench"], tool_ids=tool_ids
    )


async def seed(db_path: Path, sizes: list[int], agents: int) -> tuple[list[str], list[History]]:
    """``agents`` agents, and one conversation of the first agent per history size."""
    store = Store(db_path)
    await store.open()
    try:
        agent_ids = [await create_agent(store, f"bench-agent-{i:04d}") for i in range(agents)]
        histories = []
        for n in sizes:
            conversation = await store.conversations.create(agent_ids[0], f"{n} messages")
            ids: list[str] = []
            for start in range(0, n, SEED_BATCH):
                batch = history_messages(start, min(SEED_BATCH, n - start))
                async with store.db.transaction() as tx:
                    ids += await store.messages.append(tx, conversation["id"], batch)
            histories.append(History(conversation["id"], ids))
        return agent_ids, histories
    finally:
        await store.close()


def timed_get(client: httpx.Client, path: str, params: dict[str, str | int]) -> tuple[float, list]:
    """One GET: elapsed seconds and the parsed body (a non-200 answer raises)."""
    start = time.perf_counter()
    response = client.get(path, params=params)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, response.json()


def page_variants(h: History) -> dict[str, tuple[dict[str, str | int], Callable[[list], bool]]]:
    """Page queries by name, each with a check that the page holds the expected messages."""
    mid = len(h.ids) // 2

    def ids_of(body: list) -> list[str]:
        return [m["id"] for m in body]

    return {
        "newest": (
            {"order": "desc", "limit": PAGE},
            lambda b: ids_of(b) == h.ids[::-1][:PAGE],
        ),
        "oldest": (
            {"order": "asc", "limit": PAGE},
            lambda b: ids_of(b) == h.ids[:PAGE],
        ),
        "middle": (
            {"order": "asc", "limit": PAGE, "after": h.ids[mid]},
            lambda b: ids_of(b) == h.ids[mid + 1 : mid + 1 + PAGE],
        ),
        "compacted": (
            {"order": "desc", "limit": PAGE, "include_compacted": "true"},
            lambda b: ids_of(b) == h.ids[::-1][:PAGE],
        ),
    }


VARIANT_LABELS = {
    "newest": "page newest (desc)",
    "oldest": "page oldest (asc)",
    "middle": "page middle (after=n/2)",
    "compacted": "page include_compacted",
}


def measure(
    server: BenchServer, agent_ids: list[str], histories: list[History], repeat: int
) -> list[Row]:
    rows: list[Row] = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        variants = {
            (len(h.ids), name): (f"/v1/conversations/{h.conversation_id}/messages", q, check)
            for h in histories
            for name, (q, check) in page_variants(h).items()
        }
        correct = True
        for path, params, check in variants.values():
            for _ in range(WARMUP):
                _, body = timed_get(client, path, params)
            correct = correct and check(body)
        for h in histories:
            for _ in range(3):
                timed_get(client, f"/v1/conversations/{h.conversation_id}", {})
        rss_warm = server.rss_mb()
        floor = Stats.of([timed_get(client, "/v1/health/", {})[0] for _ in range(repeat)])

        # Interleaved rounds, so drift on the machine hits every variant alike.
        samples: dict[tuple[int, str], list[float]] = {key: [] for key in variants}
        for _ in range(repeat):
            for key, (path, params, _check) in variants.items():
                samples[key].append(timed_get(client, path, params)[0])
        stats = {key: Stats.of(s) for key, s in samples.items()}
        rss_pages = server.rss_mb()

        rows.append(Row("GET /v1/health/ (loopback + client floor)", str(floor)))
        sizes = [len(h.ids) for h in histories]
        for n in sizes:
            for name, label in VARIANT_LABELS.items():
                s = stats[(n, name)]
                rows.append(
                    Row(
                        f"{label} @ {n:,}",
                        str(s),
                        f"p50 ≤ {PAGE_P50_MS:g} ms",
                        s.p50 <= PAGE_P50_MS,
                    )
                )
        small, large = min(sizes), max(sizes)
        if small != large:
            for name, label in VARIANT_LABELS.items():
                ratio = stats[(large, name)].p50 / stats[(small, name)].p50
                rows.append(
                    Row(
                        f"{label} p50 ratio {large:,}/{small:,}",
                        f"{ratio:.2f}×",
                        f"≤ {MAX_RATIO:g}×",
                        ratio <= MAX_RATIO,
                    )
                )
        rows.append(Row("pages hold the expected messages", str(correct), "True", correct))

        for h in histories:
            n = len(h.ids)
            path = f"/v1/conversations/{h.conversation_id}"
            assert client.get(path).json()["in_context_message_ids"] == h.ids
            times = []
            for _ in range(max(10, repeat // (10 if n > 10_000 else 1))):
                start = time.perf_counter()
                client.get(path).raise_for_status()  # the body read whole, not parsed
                times.append(time.perf_counter() - start)
            stats = Stats.of(times)
            big = n >= 100_000
            rows.append(
                Row(
                    f"GET conversation (all in-context ids) @ {n:,}",
                    str(stats),
                    f"p50 ≤ {GET_CONVERSATION_MS:g} ms" if big else "",
                    stats.p50 <= GET_CONVERSATION_MS if big else None,
                )
            )

        creates = []
        for i in range(repeat):
            start = time.perf_counter()
            response = client.post(
                "/v1/conversations/", params={"agent_id": agent_ids[i % len(agent_ids)]}, json={}
            )
            creates.append(time.perf_counter() - start)
            response.raise_for_status()
        rows.append(Row("conversation create", str(Stats.of(creates))))

        for limit in sorted({min(50, len(agent_ids)), len(agent_ids)}):
            times = [
                timed_get(client, "/v1/agents/", {"limit": limit, "order": "desc"})[0]
                for _ in range(repeat)
            ]
            rows.append(Row(f"agent list, limit {limit} of {len(agent_ids)}", str(Stats.of(times))))

    rss_end = server.rss_mb()
    rows += [
        Row("server RSS, warm (before timing)", f"{rss_warm:.1f} MB"),
        Row("server RSS, after the page timings", f"{rss_pages:.1f} MB"),
        Row(
            "server RSS, after all measurements",
            f"{rss_end:.1f} MB",
            f"≤ {RSS_LIMIT_MB:g} MB",
            rss_end <= RSS_LIMIT_MB,
        ),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        type=int,
        nargs="+",
        default=[1000, 100_000],
        help="history sizes to seed, one conversation each (default: 1000 100000)",
    )
    parser.add_argument("--repeat", type=int, default=300, help="timed requests per figure")
    parser.add_argument("--agents", type=int, default=200, help="agents to seed (default: 200)")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.messages))
    print(f"machine: {machine()}", flush=True)

    try:
        with workspace() as tmp:
            server = BenchServer(tmp)
            start = time.perf_counter()
            agent_ids, histories = asyncio.run(seed(server.db_path, sizes, max(1, args.agents)))
            seeded = time.perf_counter() - start
            print(
                f"seeded {len(agent_ids)} agents and histories of {', '.join(map(str, sizes))}"
                f" messages in {seeded:.1f} s ({server.db_path.stat().st_size / 2**20:.1f} MB"
                " database)",
                flush=True,
            )
            with server:
                print(f"server pid {server.pid} on {server.url}", flush=True)
                rows = measure(server, agent_ids, histories, args.repeat)
    except KeyboardInterrupt:
        print("\ninterrupted; server stopped and temporary files removed")
        return 130
    print_table("Message history over loopback HTTP (times in ms, client-side)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
