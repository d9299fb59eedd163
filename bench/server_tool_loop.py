"""What the agent loop costs per step on top of the model, and its memory over long loops.

Loop overhead: with the builtin model (no network: the model's own time is microseconds), a
"remember that …" turn takes two steps (a memory_insert call, then the reply) and a plain turn
one; the difference in server CPU between the two kinds of turn is what one tool step adds:
the call streamed, the tool run (the block edit and its history row), the step stored, the
context extended and the model called again. Target (issue 9): at most 3 ms.

Long loops: with an OpenAI-compatible model (the tests' fake server, real HTTP through the
``openai`` client) scripted to make 9 tool calls and then answer, it reports server CPU per
step of a 10-step turn (transport included) and the server's RSS once warm and after
``--turns`` such turns (target: flat, within 5 MiB).

    .venv/bin/python -m bench.server_tool_loop [--turns 100]
"""

import argparse
import json

import httpx

from bench.common import BenchServer, Row, machine, print_table, workspace
from tests.fakes.fake_openai import FakeOpenAI, Reply, call

MAX_STEP_MS = 3.0
MAX_RSS_GROWTH_MB = 5.0
WINDOW = 1_000_000
STEPS = 10
WARM_TURNS = 10


def send(http: httpx.Client, conversation_id: str, text: str) -> dict:
    """One turn read to ``[DONE]``; its usage statistics."""
    body = {"messages": [{"role": "user", "content": text}]}
    usage: dict = {}
    with http.stream("POST", f"/v1/conversations/{conversation_id}/messages", json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data: {") and '"usage_statistics"' in line:
                usage = json.loads(line[len("data: ") :])
    if not usage:
        raise RuntimeError("the turn did not finish")
    return usage


def conversation(http: httpx.Client, model: str) -> str:
    agent = http.post(
        "/v1/agents/",
        json={"model": model, "memory_blocks": [{"label": "human", "value": "", "limit": 10**6}]},
    ).json()
    return http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()["id"]


def builtin_step_cost(server: BenchServer, turns: int) -> tuple[float, float]:
    """Server CPU (ms) of a plain one-step turn, and what one tool step adds to it.

    Each turn is the first of its own conversation, so the builtin model's own work (it reads
    the whole context) stays the same small amount in both kinds of turn.
    """
    with httpx.Client(base_url=server.url, timeout=120) as http:
        plain_ids = [conversation(http, "builtin/echo") for _ in range(turns + 3)]
        tool_ids = [conversation(http, "builtin/echo") for _ in range(turns + 3)]
        for i in range(3):  # warm-up
            send(http, plain_ids.pop(), f"hello {i}")
            send(http, tool_ids.pop(), f"remember that warm-up fact {i}")
        before = server.cpu_seconds()
        for i, conversation_id in enumerate(plain_ids):
            send(http, conversation_id, f"hello {i}")
        plain = (server.cpu_seconds() - before) * 1000 / turns
        before = server.cpu_seconds()
        for i, conversation_id in enumerate(tool_ids):
            usage = send(http, conversation_id, f"remember that fact number {i} holds")
            assert usage["step_count"] == 2, usage
        with_tool = (server.cpu_seconds() - before) * 1000 / turns
    return plain, with_tool - plain


def long_loops(server: BenchServer, fake: FakeOpenAI, turns: int) -> tuple[float, float, float]:
    """Server CPU (ms) per step of 10-step turns, each the first turn of its conversation (so
    the context, which every model call sends whole, stays the same size); RSS (MiB) once
    warm (after ``WARM_TURNS``) and after the last turn."""
    rethink = call("memory_rethink", {"label": "human", "new_memory": "Likes tea."})
    model = f"fake/{fake.models[0]}"
    with httpx.Client(base_url=server.url, timeout=120) as http:
        conversations = [conversation(http, model) for _ in range(turns)]
        cpu = 0.0
        warm_rss = 0.0
        for turn, conversation_id in enumerate(conversations):
            fake.script(*[Reply(tool_calls=[rethink])] * (STEPS - 1), "done")
            before = server.cpu_seconds()
            usage = send(http, conversation_id, f"turn {turn}")
            cpu += server.cpu_seconds() - before
            assert usage["step_count"] == STEPS, usage
            if turn + 1 == WARM_TURNS:
                warm_rss = server.rss_mb()
        return cpu * 1000 / (turns * STEPS), warm_rss, server.rss_mb()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=100)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    try:
        with workspace() as tmp, FakeOpenAI() as fake:
            (tmp / "builtin").mkdir()
            with BenchServer(
                tmp / "builtin", {"providers.builtin": {"context_window": WINDOW}}
            ) as server:
                plain, step = builtin_step_cost(server, args.turns)
            (tmp / "fake").mkdir()
            config = {
                "providers.fake": {
                    "base_url": fake.base_url,
                    "api_key": "bench",
                    "models": list(fake.models),
                    "default_context_window": WINDOW,
                }
            }
            with BenchServer(tmp / "fake", config) as server:
                per_step, warm_rss, last_rss = long_loops(server, fake, args.turns)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped and temporary files removed")
        return 130
    growth = last_rss - warm_rss
    rows = [
        Row("builtin: server CPU of a plain one-step turn", f"{plain:.2f} ms"),
        Row(
            "builtin: server CPU one tool step adds (call, tool, store, next call)",
            f"{step:.2f} ms",
            f"≤ {MAX_STEP_MS:g} ms",
            step <= MAX_STEP_MS,
        ),
        Row(
            f"openai-compatible (fake): server CPU per step of {STEPS}-step turns",
            f"{per_step:.2f} ms (HTTP to the model included)",
        ),
        Row(
            f"openai-compatible (fake): RSS after turn {WARM_TURNS} → after turn {args.turns}",
            f"{warm_rss:.1f} → {last_rss:.1f} MiB ({growth:+.1f})",
            f"≤ {MAX_RSS_GROWTH_MB:g} MiB growth",
            growth <= MAX_RSS_GROWTH_MB,
        ),
    ]
    print_table(f"The agent loop per step ({args.turns} turns of each kind)", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
