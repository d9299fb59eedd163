"""Following a run through another server process on the same database file.

Two ``python -m backend serve`` processes share one file, as with two terminals each running
``chinwag``. A paced builtin reply is sent through the first; a second client attaches to it
through the other process. For every chunk, the lag between its arrival on the sending client
and on the attached one is measured; then the time a cancel asked through the other process
takes to end the run. The lag is bounded by the writer's and the reader's poll interval
(``run_poll_seconds``, 0.1 s each).

    .venv/bin/python -m bench.server_cross_process [--replies 5]
"""

import argparse
import asyncio
import json
import time

import httpx
from httpx_sse import aconnect_sse

from bench.common import BenchServer, Row, Stats, print_table, workspace

CONFIG = {"providers.builtin": {"delta_delay": 0.05, "words_per_delta": 1}}
LONG_INPUT = " ".join(f"word{i}" for i in range(40))  # ~50 deltas of 50 ms: a 2.5 s reply


async def arrivals(
    client: httpx.AsyncClient, path: str, body: dict, first_run: asyncio.Future[str] | None = None
) -> dict[int, float]:
    """When each ``seq_id`` of one stream arrived (``time.perf_counter``)."""
    seen: dict[int, float] = {}
    async with aconnect_sse(client, "POST", path, json=body) as source:
        async for sse in source.aiter_sse():
            if sse.data == "[DONE]":
                break
            chunk = json.loads(sse.data)
            seen[chunk["seq_id"]] = time.perf_counter()
            if first_run is not None and not first_run.done():
                first_run.set_result(chunk["run_id"])
    return seen


async def start_reply(sender: httpx.AsyncClient) -> tuple[str, asyncio.Task[dict[int, float]]]:
    """A new conversation and a paced reply streaming in it; returns once the run exists."""
    agent = (await sender.post("/v1/agents/", json={"memory_blocks": []})).json()
    conversation = await sender.post("/v1/conversations/", params={"agent_id": agent["id"]})
    path = f"/v1/conversations/{conversation.json()['id']}"
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    body = {"input": LONG_INPUT, "stream_tokens": True}
    sending = asyncio.create_task(arrivals(sender, f"{path}/messages", body, started))
    await started
    return path, sending


async def follow_once(owner: str, other: str) -> list[float]:
    async with (
        httpx.AsyncClient(base_url=owner, timeout=60) as sender,
        httpx.AsyncClient(base_url=other, timeout=60) as follower,
    ):
        path, sending = await start_reply(sender)
        followed = await arrivals(follower, f"{path}/stream", {})
        sent = await sending
    return [followed[seq] - sent[seq] for seq in followed if seq in sent and seq > 1]


async def cancel_once(owner: str, other: str) -> float:
    async with (
        httpx.AsyncClient(base_url=owner, timeout=60) as sender,
        httpx.AsyncClient(base_url=other, timeout=60) as canceller,
    ):
        path, sending = await start_reply(sender)
        start = time.perf_counter()
        (await canceller.post(f"{path}/cancel")).raise_for_status()
        took = time.perf_counter() - start
        await sending
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=5)
    args = parser.parse_args(argv)
    with workspace() as tmp, BenchServer(tmp, CONFIG) as owner, BenchServer(tmp, CONFIG) as other:
        lags: list[float] = []
        cancels: list[float] = []
        for _ in range(args.replies):
            lags += asyncio.run(follow_once(owner.url, other.url))
            cancels.append(asyncio.run(cancel_once(owner.url, other.url)))
    print_table(
        "Following and cancelling a run through another server process (builtin model, paced)",
        [
            Row(f"chunk lag, followed vs sent ({len(lags)} chunks)", str(Stats.of(lags))),
            Row(f"cancel through the other process ({len(cancels)})", str(Stats.of(cancels))),
        ],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
