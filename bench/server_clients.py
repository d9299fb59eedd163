"""What Letta clients lean on: search, fork, the search index's cost per send, retried sends.

Figures (issue 10):

- ``POST /v1/messages/search`` over 100,000 messages: p50 ≤ 20 ms (two-word queries over
  varied text, unfiltered, by agent and by conversation; a very common word for information);
- ``POST /v1/conversations/{id}/fork`` of a conversation with 10,000 in-context messages:
  p50 ≤ 50 ms over HTTP (and the store's own share);
- what the search index adds to storing a turn (the triggers): p50 ≤ 1 ms, measured as the
  difference between the same appends with and without the index triggers;
- a retried send whose ``otid`` is known, against a 50-message list call: no dearer (p50, each
  timed in alternating blocks; the server's CPU per request for information).

For information: deleting one fork (with messages of its own) from a lineage of many forks.

The database is seeded through ``backend.store`` before the server starts (no HTTP).

Usage (from the repository root)::

    .venv/bin/python -m bench.server_clients
    .venv/bin/python -m bench.server_clients --messages 100000 --repeat 200
"""

import argparse
import asyncio
import json
import random
import sqlite3
import time
import uuid
from pathlib import Path

import httpx

from backend.store import NewMessage, Store
from bench.common import (
    BenchServer,
    Row,
    Stats,
    machine,
    print_table,
    scheduled_cpu_seconds,
    seed_agent,
    workspace,
)

SEARCH_P50_MS = 20.0
FORK_P50_MS = 50.0
INDEX_P50_MS = 1.0
FORK_SIZE = 10_000
LINEAGE_FORKS = 400  # forks of one conversation, each with messages of its own
FORK_OWN = 200
CONVERSATIONS = 10
SEED_BATCH = 5000
WARMUP = 10
CPU_ROUNDS = 5
BLOCK = 20  # requests of one kind in a row, when two kinds are timed in turn
MODEL = "builtin/echo"
SYSTEM = "You are a helpful assistant with a persistent memory."
VOCABULARY = 6000


def words(rng: random.Random) -> list[str]:
    """A vocabulary whose words are used with a Zipf-like skew, as in real text."""
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "do", "fa", "gu"]
    made: set[str] = set()
    while len(made) < VOCABULARY:
        made.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(made)


def sentence(rng: random.Random, vocabulary: list[str], weights: list[float]) -> str:
    return " ".join(rng.choices(vocabulary, weights, k=rng.randint(8, 40)))


async def seed(db_path: Path, total: int, rng: random.Random) -> dict[str, object]:
    """One agent; ``total`` messages over ``CONVERSATIONS`` conversations; a 10,000-message
    conversation to fork; a second agent with a little history (so filters have work)."""
    vocabulary = words(rng)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    store = Store(db_path)
    await store.open()
    try:
        agents = []
        for name in ("bench-search", "bench-other"):
            blocks = [{"label": "human", "value": "Sam.", "limit": 5000}]
            agent_id = await seed_agent(store, name, model=MODEL, system=SYSTEM, blocks=blocks)
            agents.append(agent_id)
        conversations = []
        per = total // CONVERSATIONS
        for c in range(CONVERSATIONS):
            conversation = await store.conversations.create(agents[0], f"part {c}")
            conversations.append(conversation["id"])
            for start in range(0, per, SEED_BATCH):
                batch = [
                    NewMessage(
                        ("user_message", "assistant_message")[i % 2],
                        sentence(rng, vocabulary, weights),
                    )
                    for i in range(start, min(per, start + SEED_BATCH))
                ]
                if c == 0 and start == 0:
                    batch[0] = NewMessage("system_message", SYSTEM)
                async with store.db.transaction() as tx:
                    await store.messages.append(tx, conversation["id"], batch)
        other = await store.conversations.create(agents[1], "other")
        async with store.db.transaction() as tx:
            await store.messages.append(
                tx,
                other["id"],
                [
                    NewMessage("user_message", sentence(rng, vocabulary, weights))
                    for _ in range(500)
                ],
            )
        to_fork = await store.conversations.create(agents[0], "to fork")
        async with store.db.transaction() as tx:
            await store.messages.append(
                tx,
                to_fork["id"],
                [NewMessage("system_message", SYSTEM)]
                + [
                    NewMessage(("user_message", "assistant_message")[i % 2], f"turn {i}")
                    for i in range(FORK_SIZE - 1)
                ],
            )
        # Queries: two words from the middle of the frequency range, and one very common word.
        middle = vocabulary[200:2000]
        queries = [" ".join(rng.sample(middle, 2)) for _ in range(50)]
        return {
            "agents": agents,
            "conversations": conversations,
            "to_fork": to_fork["id"],
            "queries": queries,
            "common": vocabulary[0],
        }
    finally:
        await store.close()


def timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> tuple[float, object]:
    start = time.perf_counter()
    response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, response.json()


def measure_search(client: httpx.Client, seeded: dict, total: int, repeat: int) -> list[Row]:
    queries: list[str] = seeded["queries"]
    variants = {
        "all conversations": {},
        "agent_id filter": {"agent_id": seeded["agents"][0]},
        "conversation_id filter": {"conversation_id": seeded["conversations"][3]},
    }
    rows = []
    for label, filters in variants.items():
        for q in queries[:WARMUP]:
            timed(client, "POST", "/v1/messages/search", json={"query": q, **filters})
        samples, hits = [], 0
        for i in range(repeat):
            elapsed, body = timed(
                client,
                "POST",
                "/v1/messages/search",
                json={"query": queries[i % len(queries)], "limit": 20, **filters},
            )
            samples.append(elapsed)
            hits += bool(body)
        s = Stats.of(samples)
        rows.append(
            Row(
                f"search, 2 words, {label} @ {total:,} ({hits}/{repeat} found)",
                str(s),
                f"p50 ≤ {SEARCH_P50_MS:g} ms",
                s.p50 <= SEARCH_P50_MS,
            )
        )
    common = [
        timed(client, "POST", "/v1/messages/search", json={"query": seeded["common"]})[0]
        for _ in range(max(5, repeat // 10))
    ]
    rows.append(Row(f"search, the most common word @ {total:,}", str(Stats.of(common))))
    return rows


def measure_fork(client: httpx.Client, seeded: dict, repeat: int) -> list[Row]:
    path = f"/v1/conversations/{seeded['to_fork']}/fork"
    times = []
    for i in range(max(10, repeat // 10) + 3):
        elapsed, body = timed(client, "POST", path)
        assert len(body["in_context_message_ids"]) == FORK_SIZE  # type: ignore[index]
        if i >= 3:
            times.append(elapsed)
    s = Stats.of(times)
    return [
        Row(
            f"fork of {FORK_SIZE:,} in-context messages (HTTP, whole answer)",
            str(s),
            f"p50 ≤ {FORK_P50_MS:g} ms",
            s.p50 <= FORK_P50_MS,
        )
    ]


async def seed_lineage(db_path: Path) -> list[str]:
    """A conversation forked ``LINEAGE_FORKS`` times, each fork with ``FORK_OWN`` messages of
    its own; the forks' ids. A database of its own, so that the search figures keep theirs."""
    store = Store(db_path)
    await store.open()
    try:
        agent_id = await seed_agent(store, "bench-forks", model=MODEL, system=SYSTEM)
        source = (await store.conversations.create(agent_id, "forked many times"))["id"]
        async with store.db.transaction() as tx:
            await store.messages.append(
                tx,
                source,
                [NewMessage("system_message", SYSTEM)]
                + [NewMessage("user_message", f"shared {i}") for i in range(10)],
            )
        forks = []
        for f in range(LINEAGE_FORKS):
            forks.append(json.loads(await store.conversations.fork(source, SYSTEM))["id"])
            async with store.db.transaction() as tx:
                await store.messages.append(
                    tx,
                    forks[-1],
                    [
                        NewMessage(("user_message", "assistant_message")[i % 2], f"own {f} {i}")
                        for i in range(FORK_OWN)
                    ],
                )
        return forks
    finally:
        await store.close()


def measure_fork_delete(workdir: Path, repeat: int) -> list[Row]:
    workdir.mkdir()
    server = BenchServer(workdir)
    forks = asyncio.run(seed_lineage(server.db_path))
    times = []
    with server, httpx.Client(base_url=server.url, timeout=60) as client:
        for fork_id in forks[: max(10, repeat // 10)]:
            elapsed, _ = timed(client, "DELETE", f"/v1/conversations/{fork_id}")
            times.append(elapsed)
    return [
        Row(
            f"delete a fork with {FORK_OWN} messages of its own, from {LINEAGE_FORKS} forks",
            str(Stats.of(times)),
        )
    ]


async def store_fork_times(db_path: Path, conversation_id: str, n: int) -> list[float]:
    store = Store(db_path)
    await store.open()
    try:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            await store.conversations.fork(conversation_id, SYSTEM)
            times.append(time.perf_counter() - start)
        return times
    finally:
        await store.close()


async def append_times(db_path: Path, conversation_id: str, n: int) -> list[float]:
    """Seconds to store one turn (user + assistant), as a send stores it."""
    store = Store(db_path)
    await store.open()
    try:
        times = []
        for i in range(n):
            turn = [
                NewMessage("user_message", f"tell me about the kalomi gardens {i}"),
                NewMessage("assistant_message", f"the kalomi gardens grow sarunevi {i} " * 8),
            ]
            start = time.perf_counter()
            async with store.db.transaction() as tx:
                await store.messages.append(tx, conversation_id, turn)
            times.append(time.perf_counter() - start)
        return times
    finally:
        await store.close()


def measure_index_cost(workdir: Path, seeded: dict, repeat: int) -> list[Row]:
    """The same appends on two copies of the database, one without the index triggers."""
    source = workdir / "chinwag.db"
    with_index, without_index = workdir / "with.db", workdir / "without.db"
    for copy in (with_index, without_index):
        with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
    with sqlite3.connect(without_index) as db:
        for trigger in ("insert", "delete", "update"):
            db.execute(f"DROP TRIGGER messages_fts_{trigger}")
    conversation = seeded["conversations"][1]
    n = max(50, repeat)
    # Alternate the two so that drift on the machine hits both alike.
    plain, indexed = [], []
    for _ in range(4):
        plain += asyncio.run(append_times(without_index, conversation, n // 4))
        indexed += asyncio.run(append_times(with_index, conversation, n // 4))
    p, x = Stats.of(plain), Stats.of(indexed)
    added = x.p50 - p.p50
    fork = Stats.of(asyncio.run(store_fork_times(with_index, seeded["to_fork"], 20)))
    return [
        Row("store a turn, without the search index", str(p)),
        Row("store a turn, with the search index", str(x)),
        Row(
            "search index cost per send (p50 difference)",
            f"{added:.3f} ms",
            f"≤ {INDEX_P50_MS:g} ms",
            added <= INDEX_P50_MS,
        ),
        Row(f"fork of {FORK_SIZE:,}, the store's share", str(fork)),
    ]


def measure_retry(
    client: httpx.Client, server: BenchServer, agent_id: str, repeat: int
) -> list[Row]:
    conversation = client.post("/v1/conversations/", params={"agent_id": agent_id}).json()
    path = f"/v1/conversations/{conversation['id']}/messages"
    otid = str(uuid.uuid4())
    body = {
        "messages": [{"role": "user", "content": "hello once", "otid": otid}],
        "streaming": False,
    }
    first = client.post(path, json=body)
    first.raise_for_status()
    for i in range(30):  # a history to list
        client.post(path, json={"input": f"more {i}", "streaming": False}).raise_for_status()

    def retry() -> float:
        return timed(client, "POST", path, json=body)[0]

    def listing() -> float:
        return timed(client, "GET", path, params={"limit": 50, "order": "desc"})[0]

    for _ in range(WARMUP):
        retry(), listing()
    # In alternating blocks, so that each kind is timed in the same steady state: mostly after a
    # request of its own kind. Timed one after the other, each kind always follows the other,
    # which is not symmetric; that pairing is printed too, for information.
    retries, lists = [], []
    for _ in range(max(1, repeat // BLOCK)):
        retries += [retry() for _ in range(BLOCK)]
        lists += [listing() for _ in range(BLOCK)]
    paired_retries, paired_lists = [], []
    for _ in range(repeat):
        paired_retries.append(retry())
        paired_lists.append(listing())
    # The server's own CPU per request, from blocks of each.
    cpu = {"retry": 0.0, "list": 0.0}
    for _ in range(CPU_ROUNDS):
        for kind, request in (
            ("retry", lambda: client.post(path, json=body)),
            ("list", lambda: client.get(path, params={"limit": 50, "order": "desc"})),
        ):
            before = scheduled_cpu_seconds(server.pid)
            for _ in range(repeat):
                request().raise_for_status()
            cpu[kind] += scheduled_cpu_seconds(server.pid) - before
    per_request = {k: v / (CPU_ROUNDS * repeat) * 1000 for k, v in cpu.items()}
    history = client.get(path, params={"limit": 1000}).json()
    stored_once = sum(m.get("otid") == otid for m in history) == 1
    r, ls = Stats.of(retries), Stats.of(lists)
    paired = Stats.of(paired_retries).p50 / Stats.of(paired_lists).p50
    return [
        Row(f"list 50 messages (blocks of {BLOCK})", str(ls)),
        Row(
            f"retried send with a known otid, non-streaming (blocks of {BLOCK})",
            f"{r}  ({r.p50 / ls.p50:.2f}× the list)",
            "p50 ≤ list p50",
            r.p50 <= ls.p50,
        ),
        Row("the same, each retry right after a list: p50 retry / list", f"{paired:.2f}×"),
        Row(
            "server CPU per request: retried send / list 50",
            f"{per_request['retry']:.3f} / {per_request['list']:.3f} ms"
            f" ({per_request['retry'] / per_request['list']:.2f}×)",
        ),
        Row("the retried message is stored once", str(stored_once), "True", stored_once),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages to search")
    parser.add_argument("--repeat", type=int, default=200, help="timed requests per figure")
    parser.add_argument("--seed", type=int, default=10, help="random seed of the text")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    try:
        with workspace() as tmp:
            server = BenchServer(tmp)
            start = time.perf_counter()
            seeded = asyncio.run(seed(server.db_path, args.messages, random.Random(args.seed)))
            print(
                f"seeded {args.messages:,} messages in {time.perf_counter() - start:.1f} s"
                f" ({server.db_path.stat().st_size / 2**20:.1f} MB database)",
                flush=True,
            )
            rows = measure_index_cost(tmp, seeded, args.repeat)
            with server, httpx.Client(base_url=server.url, timeout=60) as client:
                print(f"server pid {server.pid} on {server.url}", flush=True)
                rows += measure_search(client, seeded, args.messages, args.repeat)
                rows += measure_fork(client, seeded, args.repeat)
                rows += measure_retry(client, server, seeded["agents"][1], args.repeat)
            rows += measure_fork_delete(tmp / "lineage", args.repeat)
    except KeyboardInterrupt:
        print("\ninterrupted; server stopped and temporary files removed")
        return 130
    print_table("Letta client features over loopback HTTP (times in ms, client-side)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
