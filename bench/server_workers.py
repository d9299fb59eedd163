"""Sustained sends per second with ``chinwag serve --workers N`` against one worker.

Against a real server with the builtin model answering at once, ``--clients`` clients each send
to their own conversation in a loop (each send read to ``[DONE]``) for ``--seconds``, after a
warm-up; the figure is completed sends per second. Three configurations run throughout, each
on fresh databases, and take the load in turns (``--rounds`` rounds of short phases, fresh
conversations each), so that the load other programs put on the machine falls on all alike:
one worker; ``--workers N``; and, for reference, N separate one-worker servers on N separate
databases with the clients split between them, which shows what the machine allows when the
processes share no database. The table gives each phase's figure with the load average next
to it, the gains over the rounds (the verdict is on the median), and the gain that the CPU per
send would allow if nothing else ran on the machine.

The clients are lean: raw HTTP/1.1 on asyncio streams (on uvloop where installed), no HTTP
library, each client keeping its connection alive between sends (``--fresh-connections`` opens
one per send instead). Every figure comes with the CPU milliseconds per send of each process —
the client, each server process — so that it shows whether the servers or the load generator
ran out of cores. Target (issue 13): two workers at least 1.6× the sends per second of one.

    .venv/bin/python -m bench.server_workers [--workers 2] [--clients 50] [--seconds 5] \\
        [--rounds 4]
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bench.common import (
    BenchServer,
    Row,
    child_pids,
    machine,
    print_table,
    process_cpu_seconds,
    workspace,
)
from bench.server_sending import builtin_config

MIN_GAIN = 1.6
WARMUP_SECONDS = 1.0
END_OF_CHUNKS = b"\r\n0\r\n\r\n"


class SendFailed(Exception):
    """A send whose answer was not a finished turn."""


class Connection:
    """One HTTP/1.1 connection that sends messages and reads each stream to its end."""

    def __init__(self, port: int, keepalive: bool) -> None:
        self.port = port
        self.keepalive = keepalive
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, path: str, body: bytes) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        close = "" if self.keepalive else "Connection: close\r\n"
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: "
            f"application/json\r\nContent-Length: {len(body)}\r\n{close}\r\n".encode()
            + body
        )
        answer = bytearray()
        while not answer.endswith(END_OF_CHUNKS):
            data = await self.reader.read(65536)
            if not data:
                break
            answer += data
            if not answer.startswith(b"HTTP/1.1 200"):
                await self.close()
                raise SendFailed(answer[:300].decode(errors="replace"))
        if not self.keepalive or not answer.endswith(END_OF_CHUNKS):
            await self.close()
        if b'"end_turn"' not in answer or b"data: [DONE]" not in answer:
            raise SendFailed(answer[:300].decode(errors="replace"))

    async def close(self) -> None:
        writer, self.writer, self.reader = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def client_loop(
    port: int, conversation_id: str, until: float, counted_from: float, keepalive: bool
) -> int:
    path = f"/v1/conversations/{conversation_id}/messages"
    connection = Connection(port, keepalive)
    done = 0
    i = 0
    try:
        while time.perf_counter() < until:
            i += 1
            body = json.dumps({"messages": [{"role": "user", "content": f"note {i}"}]}).encode()
            await connection.send(path, body)
            if time.perf_counter() > counted_from:
                done += 1
    finally:
        await connection.close()
    return done


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed (as with uvicorn's standard extras): a leaner client."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


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


def processes(server: BenchServer) -> dict[str, int]:
    """The server's processes: the one started, and with ``--workers`` its forked workers."""
    children = sorted(child_pids(server.pid))
    if not children:
        return {"server": server.pid}
    return {"parent": server.pid, **{f"worker {i + 1}": pid for i, pid in enumerate(children)}}


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    cpu = {}
    for name, pid in pids.items():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            cpu[name] = process_cpu_seconds(pid)
    return cpu


@dataclass
class Figure:
    """One configuration's sustained rate, and CPU milliseconds per send of each process."""

    config: str
    sends_per_second: float
    cpu_ms_per_send: dict[str, float]
    load: str

    @property
    def server_ms(self) -> float:
        return sum(v for k, v in self.cpu_ms_per_send.items() if k != "client")

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in self.cpu_ms_per_send.items())
        return (
            f"{self.sends_per_second:6.0f} sends/s; CPU ms/send: {parts} (servers "
            f"{self.server_ms:.2f}); load {self.load}"
        )


def sustained(
    config: str, servers: list[BenchServer], clients: int, seconds: float, keepalive: bool
) -> Figure:
    """Sends per second and CPU per send of ``servers`` (the clients split evenly between
    them), each client sending to a conversation of its own made for this phase."""
    targets = [(s, c) for s in servers for c in prepare(s, clients // len(servers))]
    pids = {}
    for i, server in enumerate(servers):
        for name, pid in processes(server).items():
            pids[f"server {i + 1}" if len(servers) > 1 and name == "server" else name] = pid

    async def run() -> tuple[int, dict[str, float]]:
        start = time.perf_counter()
        counted_from = start + WARMUP_SECONDS
        until = counted_from + seconds
        before: dict[str, float] = {}

        async def mark_cpu() -> None:
            await asyncio.sleep(WARMUP_SECONDS)
            before.update(cpu_of(pids), client=time.process_time())

        marker = asyncio.create_task(mark_cpu())
        counts = await asyncio.gather(
            *(client_loop(s.port, c, until, counted_from, keepalive) for s, c in targets)
        )
        after = {**cpu_of(pids), "client": time.process_time()}
        await marker
        return sum(counts), {k: after[k] - before[k] for k in after if k in before}

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        done, cpu = runner.run(run())
    per_send = {k: v * 1000 / max(1, done) for k, v in cpu.items() if k != "parent"}
    return Figure(config, done / seconds, per_send, " ".join(f"{x:.1f}" for x in os.getloadavg()))


def ceiling(one: list[Figure], many: list[Figure], cores: int) -> str:
    """The gain if only this benchmark ran: one worker has one core (the client another), N
    workers and the client share ``cores`` cores; from the median CPU per send."""
    one_ms = statistics.median(f.server_ms for f in one)
    many_ms = statistics.median(f.server_ms for f in many)
    client_ms = statistics.median(f.cpu_ms_per_send["client"] for f in many)
    return (
        f"{cores * one_ms / (many_ms + client_ms):.2f}× = {cores} cores × {one_ms:.2f} ms "
        f"(1 worker) / ({many_ms:.2f} ms servers + {client_ms:.2f} ms client) per send"
    )


def gains(figures: list[Figure], one: str, other: str) -> tuple[str, float]:
    """``other`` against ``one`` round by round (each round runs both, one after the other)."""
    rates = {
        name: [f.sends_per_second for f in figures if f.config == name] for name in (one, other)
    }
    ratios = [b / a for a, b in zip(rates[one], rates[other], strict=True)]
    median = statistics.median(ratios)
    return f"{min(ratios):.2f}–{max(ratios):.2f}× (median {median:.2f}×)", median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=4, help="rounds of each configuration")
    parser.add_argument("--fresh-connections", action="store_true", help="one connection per send")
    args = parser.parse_args(argv)
    keepalive = not args.fresh_connections
    n = args.workers
    one, many, apart = "1 worker", f"--workers {n}", f"{n} servers, {n} databases"
    print(f"machine: {machine()}", flush=True)
    figures: list[Figure] = []
    try:
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(workspace())

            def start(name: str, workers: int) -> BenchServer:
                (tmp / name).mkdir()
                server = BenchServer(tmp / name, builtin_config(), ("--workers", str(workers)))
                return stack.enter_context(server)

            configs = {
                one: [start("one", 1)],
                many: [start("many", n)],
                apart: [start(f"apart-{i}", 1) for i in range(n)],
            }
            for _ in range(args.rounds):
                for name, servers in configs.items():
                    figure = sustained(name, servers, args.clients, args.seconds, keepalive)
                    print(f"{name}: {figure.describe()}", flush=True)
                    figures.append(figure)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temporary files removed")
        return 130
    rows = [Row(f"{f.config}, round {i // 3 + 1}", f.describe()) for i, f in enumerate(figures)]
    many_gain, many_median = gains(figures, one, many)
    apart_gain, _ = gains(figures, one, apart)
    rows += [
        Row(
            f"--workers {n} against 1 worker",
            many_gain,
            f"median ≥ {MIN_GAIN:g}×",
            many_median >= MIN_GAIN,
        ),
        Row(f"  for reference: {apart} against 1 worker", apart_gain),
        Row(
            "  gain the CPU allows on an otherwise idle machine",
            ceiling(
                [f for f in figures if f.config == one],
                [f for f in figures if f.config == many],
                min(n, os.cpu_count() or 1),
            ),
        ),
    ]
    connections = "keep-alive" if keepalive else "a connection per send"
    print_table(
        f"Sustained sends with --workers ({args.clients} clients, {connections}, "
        f"{args.seconds:g} s a phase)",
        rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
