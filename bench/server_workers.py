"""Sustained sends per second with ``chinwag serve --workers N`` against one worker.

Against a real server with the builtin model answering at once, ``--clients`` clients each send
to their own conversation in a loop (each send read to ``[DONE]``) for ``--seconds``, after a
warm-up; the figure is completed sends per second, once with one worker and once with
``--workers`` on fresh databases, in the same run. The clients are raw asyncio sockets (one
connection per send) so that they take little of the machine's CPU from the servers. Target
(issue 13): two workers at least 1.6× the sends per second of one.

    .venv/bin/python -m bench.server_workers [--workers 2] [--clients 50] [--seconds 10]
"""

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path

import httpx

from bench.common import BenchServer, Row, machine, print_table, workspace
from bench.server_sending import builtin_config

MIN_GAIN = 1.6
WARMUP_SECONDS = 2.0


class SendFailed(Exception):
    """A send whose answer was not a finished turn."""


async def send(port: int, path: str, body: bytes) -> None:
    """POST one message and read the stream to its end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        answer = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if b'"end_turn"' not in answer or b"data: [DONE]" not in answer:
        raise SendFailed(answer[:300].decode(errors="replace"))


async def client_loop(port: int, conversation_id: str, until: float, counted_from: float) -> int:
    path = f"/v1/conversations/{conversation_id}/messages"
    done = 0
    i = 0
    while time.perf_counter() < until:
        i += 1
        body = json.dumps({"messages": [{"role": "user", "content": f"note {i}"}]}).encode()
        await send(port, path, body)
        if time.perf_counter() > counted_from:
            done += 1
    return done


def prepare(server: BenchServer, clients: int) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        agent = http.post("/v1/agents/", json={"name": "bench", "model": "builtin/echo"})
        agent.raise_for_status()
        return [
            http.post(
                "/v1/conversations/", params={"agent_id": agent.json()["id"]}, json={}
            ).json()["id"]
            for _ in range(clients)
        ]


def sustained(workdir: Path, workers: int, clients: int, seconds: float) -> tuple[float, float]:
    """Sends per second, and server CPU milliseconds per send, with ``workers`` processes."""
    workdir.mkdir()
    with BenchServer(workdir, builtin_config(), ("--workers", str(workers))) as server:
        conversations = prepare(server, clients)

        async def run() -> tuple[int, float]:
            start = time.perf_counter()
            counted_from = start + WARMUP_SECONDS
            until = counted_from + seconds
            cpu_before = 0.0

            async def mark_cpu() -> None:
                nonlocal cpu_before
                await asyncio.sleep(WARMUP_SECONDS)
                cpu_before = server.cpu_seconds()

            marker = asyncio.create_task(mark_cpu())
            counts = await asyncio.gather(
                *(client_loop(server.port, c, until, counted_from) for c in conversations)
            )
            await marker
            return sum(counts), server.cpu_seconds() - cpu_before

        done, cpu = asyncio.run(run())
    return done / seconds, cpu * 1000 / max(1, done)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    try:
        with workspace() as tmp:
            one, one_cpu = sustained(tmp / "one", 1, args.clients, args.seconds)
            print(f"1 worker: {one:.0f} sends/s", flush=True)
            many, many_cpu = sustained(tmp / "many", args.workers, args.clients, args.seconds)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temporary files removed")
        return 130
    gain = many / one
    rows = [
        Row("1 worker: sustained sends/s", f"{one:.0f} ({one_cpu:.2f} ms server CPU per send)"),
        Row(
            f"{args.workers} workers: sustained sends/s",
            f"{many:.0f} ({many_cpu:.2f} ms server CPU per send)",
        ),
        Row(
            f"{args.workers} workers against 1",
            f"{gain:.2f}×",
            f"≥ {MIN_GAIN:g}×",
            gain >= MIN_GAIN,
        ),
    ]
    print_table(
        f"Sustained sends with --workers ({args.clients} clients, {args.seconds:g} s each)", rows
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
