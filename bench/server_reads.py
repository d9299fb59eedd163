"""Server CPU per read request against a bare Starlette endpoint answering the same JSON.

Seeds a database (agents, conversations of one agent, a message history), starts a real server
and a reference server (``bench.bare_server``: the same uvicorn options, one route per payload
answering ``JSONResponse`` of the very JSON chinwag returned; the bench checks that its bytes
equal chinwag's), then sends the same number of sequential keep-alive requests to each, in
interleaved rounds, and reads each process's CPU time (user + system, all threads) from
``/proc``. Target (issue 13): chinwag's CPU per request at most 1.5× the bare endpoint's, for a
50-message page, a cursor page, the conversation list and the agent list (agents with two
memory blocks, without tools and with the base tools, as the app makes them).

    .venv/bin/python -m bench.server_reads [--requests 2000] [--rounds 4]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from backend.store import Store
from backend.tools import DEFAULT_TOOLS, definitions
from bench.common import (
    REPO_ROOT,
    BenchServer,
    Row,
    free_port,
    machine,
    print_table,
    process_tree_cpu_seconds,
    workspace,
)
from bench.server_history import create_agent, seed

MAX_RATIO = 1.5
MESSAGES = 1000
AGENTS = 200
TOOL_AGENTS = 50
CONVERSATIONS = 60


async def seed_agents_with_tools(db_path: Path, count: int) -> None:
    """Agents as the app makes them: two memory blocks and the base tools."""
    store = Store(db_path)
    await store.open()
    try:
        await store.tools.ensure(definitions())
        tool_ids = await store.tools.resolve(list(DEFAULT_TOOLS), [])
        for i in range(count):
            await create_agent(store, f"bench-tools-agent-{i:04d}", tool_ids)
    finally:
        await store.close()


async def seed_conversations(db_path: Path, agent_id: str, count: int) -> None:
    store = Store(db_path)
    await store.open()
    try:
        for i in range(count):
            await store.conversations.create(agent_id, f"conversation {i}")
    finally:
        await store.close()


class BareServer:
    """``bench.bare_server`` in a subprocess, serving ``payloads`` ({path: JSON body})."""

    def __init__(self, workdir: Path, payloads: dict[str, object]) -> None:
        self.payloads_path = workdir / "payloads.json"
        self.payloads_path.write_text(json.dumps(payloads), encoding="utf-8")
        self.log_path = workdir / "bare.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "BareServer":
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "bench.bare_server"),
                    *("--payloads", str(self.payloads_path), "--port", str(self.port)),
                ],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/v1/health/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"the bare server did not start:\n{self.log_path.read_text()}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def same_answer(ours: httpx.Response, bare: httpx.Response) -> None:
    """The reference must send the very bytes chinwag sent, as the same media type."""
    for answer in (ours, bare):
        answer.raise_for_status()
    if bare.content != ours.content:
        raise SystemExit(f"the bare server's answer for {ours.url.path} differs from chinwag's")
    if bare.headers["content-type"] != ours.headers["content-type"]:
        raise SystemExit(f"the bare server's content-type for {ours.url.path} differs")


def cpu_per_request(client: httpx.Client, pid: int, path: str, params: dict, count: int) -> float:
    """Server CPU seconds for ``count`` sequential GETs of ``path``."""
    before = process_tree_cpu_seconds(pid)
    for _ in range(count):
        client.get(path, params=params).raise_for_status()
    return process_tree_cpu_seconds(pid) - before


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per figure")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    try:
        with workspace() as tmp:
            server = BenchServer(tmp)
            agent_ids, histories = asyncio.run(seed(server.db_path, [MESSAGES], AGENTS))
            asyncio.run(seed_conversations(server.db_path, agent_ids[0], CONVERSATIONS))
            asyncio.run(seed_agents_with_tools(server.db_path, TOOL_AGENTS))
            h = histories[0]
            reads = {
                "page, newest 50": (
                    f"/v1/conversations/{h.conversation_id}/messages",
                    {"order": "desc", "limit": 50},
                ),
                "page, 50 after a cursor": (
                    f"/v1/conversations/{h.conversation_id}/messages",
                    {"order": "asc", "limit": 50, "after": h.ids[len(h.ids) // 2]},
                ),
                "conversation list, 50": (
                    "/v1/conversations/",
                    {"agent_id": agent_ids[0], "limit": 50},
                ),
                "agent list, 50 (blocks, no tools)": (
                    "/v1/agents/",
                    {"order": "asc", "limit": 50},
                ),
                "agent list, 50 (blocks, base tools)": (
                    "/v1/agents/",
                    {"order": "desc", "limit": 50},
                ),
            }
            with server, httpx.Client(base_url=server.url, timeout=60) as client:
                answers = {
                    f"/bare/{i}": client.get(path, params=params)
                    for i, (path, params) in enumerate(reads.values())
                }
                payloads = {path: answer.json() for path, answer in answers.items()}
                with (
                    BareServer(tmp, payloads) as bare,
                    httpx.Client(base_url=bare.url, timeout=60) as bare_client,
                ):
                    assert bare.process is not None
                    for path, answer in answers.items():
                        same_answer(answer, bare_client.get(path))
                    targets = {
                        name: [
                            (client, server.pid, path, params),
                            (bare_client, bare.process.pid, f"/bare/{i}", {}),
                        ]
                        for i, (name, (path, params)) in enumerate(reads.items())
                    }
                    for pairs in targets.values():  # warm up both
                        for c, pid, path, params in pairs:
                            cpu_per_request(c, pid, path, params, 200)
                    per_round = max(1, args.requests // args.rounds)
                    used = {name: [0.0, 0.0] for name in targets}
                    for _ in range(args.rounds):
                        for name, pairs in targets.items():
                            for side, (c, pid, path, params) in enumerate(pairs):
                                used[name][side] += cpu_per_request(c, pid, path, params, per_round)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temporary files removed")
        return 130
    total = per_round * args.rounds
    rows = []
    for name, (ours, bare_cpu) in used.items():
        ratio = ours / bare_cpu if bare_cpu else float("inf")
        rows.append(
            Row(
                f"{name}: CPU per request, chinwag vs bare",
                f"{ours / total * 1000:.3f} vs {bare_cpu / total * 1000:.3f} ms = {ratio:.2f}×",
                f"≤ {MAX_RATIO}×",
                ratio <= MAX_RATIO,
            )
        )
    print_table(f"Server CPU per read request ({total} requests each)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
