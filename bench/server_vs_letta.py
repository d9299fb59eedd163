"""chinwag against Letta 0.16.8: p50 of the same operations through the same client, in rounds.

Starts a chinwag server (builtin model answering at once, fresh temporary database) and talks to
a running Letta 0.16.8 server (``--letta-url``, default ``$CHINWAG_LETTA_URL`` or
``http://127.0.0.1:8283``; the reference kit's instant stub model, handle
``openai-proxy/gpt-4o-mini``). Both get the same requests from the same code: one ``httpx.Client``
each, keep-alive, one request at a time, timed on the client from the request to the last byte
(for a send, to the ``data: [DONE]`` frame of its stream). Each round measures every operation
``--reps`` times on each server, alternating Letta and chinwag request by request so that the
machine's load falls on both alike, and prints the p50s and their ratio:

- agent create with 2 memory blocks; conversation create;
- send one message, streamed, to ``[DONE]`` (in a conversation started for the round);
- the newest 50 messages of a 101-message conversation (system + 50 turns), and the next 50
  older ones by cursor (Letta's ``before`` is absolute, chinwag's cursors follow the order, so
  the same page is ``before=`` there and ``after=`` here, as API.md 5.1 says);
- compact (default mode) a conversation of 20 turns (``--compact-reps`` per round, each on a
  fresh conversation seeded before the timing);
- the conversation list of an agent with 10 conversations; the agent list (50 agents).

Target (issue 13): chinwag at least 10× faster on every operation in every round, and at least
40× on the creates and the send. The last table counts the rounds that met it. The agents made
on Letta are deleted at the end.

    .venv/bin/python -m bench.server_vs_letta [--runs 5] [--reps 20] [--compact-reps 3]
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from bench.common import BenchServer, machine, percentile, workspace
from bench.server_sending import builtin_config

LETTA_URL = os.environ.get("CHINWAG_LETTA_URL", "http://127.0.0.1:8283")
LETTA_MODEL = "openai-proxy/gpt-4o-mini"
EMBEDDING = "openai/text-embedding-3-small"
CHINWAG_MODEL = "builtin/echo"
HISTORY_TURNS = 50  # + the system message: 101 messages
COMPACT_TURNS = 20
CONVERSATIONS_LISTED = 10
AGENTS_LISTED = 50
PAGE = 50
SEED_THREADS = 4
NAME_PREFIX = "bench-vs-letta"

AGENT_CREATE = "agent create (2 blocks)"
CONVERSATION_CREATE = "conversation create"
SEND = "send → [DONE] (stream)"
LIST_50 = "list 50 of 101 messages"
CURSOR_PAGE = "cursor page (50 older)"
COMPACT = f"compact {COMPACT_TURNS} turns"
CONVERSATION_LIST = f"conversation list ({CONVERSATIONS_LISTED})"
AGENT_LIST = f"agent list ({AGENTS_LISTED})"
TARGETS = {
    AGENT_CREATE: 40.0,
    CONVERSATION_CREATE: 40.0,
    SEND: 40.0,
    LIST_50: 10.0,
    CURSOR_PAGE: 10.0,
    COMPACT: 10.0,
    CONVERSATION_LIST: 10.0,
    AGENT_LIST: 10.0,
}


class Failed(Exception):
    """A server answered something other than what the operation expects."""


def check(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise Failed(
            f"{response.request.method} {response.request.url.path} → HTTP "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response


@dataclass
class Side:
    """One server under test: its client, model handle, and what the setup made there."""

    name: str
    url: str
    model: str
    cursor_older: str  # the query parameter that pages towards older messages in desc order
    client: httpx.Client = field(init=False)
    agents_made: list[str] = field(default_factory=list)
    reads_agent: str = ""
    history: str = ""
    cursor: str = ""

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=120)

    # -- the operations, one request each ---------------------------------------------------
    def create_agent(self, name: str) -> str:
        body = {
            "name": name,
            "model": self.model,
            "embedding": EMBEDDING,
            "memory_blocks": [
                {"label": "human", "value": "The human is a tester called Sam."},
                {"label": "persona", "value": "I am a terse test assistant."},
            ],
        }
        agent_id = check(self.client.post("/v1/agents/", json=body)).json()["id"]
        self.agents_made.append(agent_id)
        return agent_id

    def create_conversation(self, agent_id: str) -> str:
        response = self.client.post("/v1/conversations/", params={"agent_id": agent_id}, json={})
        return check(response).json()["id"]

    def send(self, conversation_id: str, text: str, client: httpx.Client | None = None) -> None:
        """One streamed send, read line by line to ``[DONE]``; it must end the turn."""
        body = {"messages": [{"role": "user", "content": text}]}
        stop_reason, done = None, False
        path = f"/v1/conversations/{conversation_id}/messages"
        with (client or self.client).stream("POST", path, json=body) as response:
            if response.status_code != 200:
                response.read()
                check(response)
            for line in response.iter_lines():
                if line == "data: [DONE]":
                    done = True
                    break
                if line.startswith("data: ") and '"stop_reason"' in line:
                    stop_reason = json.loads(line[len("data: ") :]).get("stop_reason")
        if not done or stop_reason != "end_turn":
            raise Failed(f"{self.name}: a send ended with {stop_reason!r}, [DONE] seen: {done}")

    def messages(self, conversation_id: str, **params: object) -> list[dict]:
        path = f"/v1/conversations/{conversation_id}/messages"
        return check(self.client.get(path, params={"limit": PAGE, **params})).json()

    def list_50(self) -> None:
        if len(self.messages(self.history, order="desc")) != PAGE:
            raise Failed(f"{self.name}: the newest page is not {PAGE} messages")

    def cursor_page(self) -> None:
        page = self.messages(self.history, order="desc", **{self.cursor_older: self.cursor})
        if len(page) != PAGE:
            raise Failed(f"{self.name}: the older page has {len(page)} messages, not {PAGE}")

    def compact(self, conversation_id: str) -> None:
        path = f"/v1/conversations/{conversation_id}/compact"
        result = check(self.client.post(path, json={})).json()
        if not result["num_messages_before"] > result["num_messages_after"]:
            raise Failed(f"{self.name}: compaction did not shorten the context: {result}")

    def list_conversations(self) -> None:
        response = self.client.get("/v1/conversations/", params={"agent_id": self.reads_agent})
        if len(check(response).json()) != CONVERSATIONS_LISTED:
            raise Failed(f"{self.name}: the conversation list is not {CONVERSATIONS_LISTED} long")

    def list_agents(self) -> None:
        response = self.client.get("/v1/agents/", params={"limit": AGENTS_LISTED})
        if len(check(response).json()) != AGENTS_LISTED:
            raise Failed(f"{self.name}: the agent list is not {AGENTS_LISTED} long")

    # -- setup ------------------------------------------------------------------------------
    def seed_turns(self, conversations: list[str], turns: int) -> None:
        """``turns`` sends into each conversation, conversations in parallel (not timed)."""

        def fill(conversation_id: str) -> None:
            with httpx.Client(base_url=self.url, timeout=120) as client:
                for i in range(turns):
                    self.send(conversation_id, f"note {i}: the garden needs water", client)

        with ThreadPoolExecutor(SEED_THREADS) as pool:
            list(pool.map(fill, conversations))

    def prepare(self) -> None:
        """The read fixtures: 50 agents to list, and an agent with 10 conversations, one of
        them 101 messages long."""
        with ThreadPoolExecutor(SEED_THREADS) as pool:
            list(pool.map(lambda i: self.create_agent(f"{NAME_PREFIX}-list-{i}"), range(49)))
        self.reads_agent = self.create_agent(f"{NAME_PREFIX}-reads")
        self.history = self.create_conversation(self.reads_agent)
        for _ in range(CONVERSATIONS_LISTED - 1):
            self.create_conversation(self.reads_agent)
        self.seed_turns([self.history], HISTORY_TURNS)
        everything = self.messages(self.history, order="asc", limit=1000)
        if len(everything) != 2 * HISTORY_TURNS + 1:
            raise Failed(f"{self.name}: the history holds {len(everything)} messages, not 101")
        self.cursor = self.messages(self.history, order="desc")[-1]["id"]

    def clean_up(self) -> None:
        """Delete the agents made here (on Letta, so that its database does not fill up)."""

        def delete(agent_id: str) -> None:
            with contextlib.suppress(httpx.HTTPError):
                self.client.delete(f"/v1/agents/{agent_id}")

        with ThreadPoolExecutor(SEED_THREADS) as pool:
            list(pool.map(delete, self.agents_made))
        self.agents_made.clear()


def wait_for_letta(url: str, model: str, wait: float) -> str | None:
    """None when Letta answers its health check and knows ``model``; else why not."""
    deadline = time.monotonic() + wait
    last = "no answer"
    while True:
        try:
            health = httpx.get(f"{url}/v1/health/", timeout=5)
            if health.status_code == 200:
                handles = [
                    m.get("handle") for m in httpx.get(f"{url}/v1/models/", timeout=30).json()
                ]
                if model not in handles:
                    return f"Letta at {url} has no model {model!r} (it has {handles})"
                return None
            last = f"HTTP {health.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            return f"Letta is not reachable at {url}/v1/health/ ({last}) after {wait:.0f} s"
        time.sleep(2)


def timed(action: Callable[..., object], *args: object) -> float:
    """Seconds that ``action(*args)`` took."""
    start = time.perf_counter()
    action(*args)
    return time.perf_counter() - start


@dataclass
class Round:
    """One round's samples, in seconds: ``{op: {side name: [...]}}``."""

    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    load: str = ""

    def add(self, op: str, side: str, seconds: float) -> None:
        self.samples.setdefault(op, {}).setdefault(side, []).append(seconds)

    def p50_ms(self, op: str, side: str) -> float:
        return percentile(self.samples[op][side], 50) * 1000

    def ratio(self, op: str) -> float:
        return self.p50_ms(op, "Letta") / self.p50_ms(op, "chinwag")


def alternate(sides: list[Side], reps: int) -> Iterator[tuple[int, Side]]:
    """Request by request, Letta then chinwag, then the other way round."""
    for i in range(reps):
        for side in sides if i % 2 == 0 else reversed(sides):
            yield i, side


def run_round(number: int, sides: list[Side], reps: int, compact_reps: int) -> Round:
    result = Round()
    agents = {s.name: s.create_agent(f"{NAME_PREFIX}-round-{number}") for s in sides}
    for i, side in alternate(sides, reps):
        result.add(AGENT_CREATE, side.name, timed(side.create_agent, f"{NAME_PREFIX}-{i}"))
    for _, side in alternate(sides, reps):
        agent = agents[side.name]
        result.add(CONVERSATION_CREATE, side.name, timed(side.create_conversation, agent))
    talks = {s.name: s.create_conversation(agents[s.name]) for s in sides}
    for side in sides:  # the first send compiles the system message: not what is measured
        side.send(talks[side.name], "hello")
    for i, side in alternate(sides, reps):
        text = f"message {i}: how are you?"
        result.add(SEND, side.name, timed(side.send, talks[side.name], text))
    for _, side in alternate(sides, reps):
        result.add(LIST_50, side.name, timed(side.list_50))
    for _, side in alternate(sides, reps):
        result.add(CURSOR_PAGE, side.name, timed(side.cursor_page))
    to_compact = {
        s.name: [s.create_conversation(agents[s.name]) for _ in range(compact_reps)] for s in sides
    }
    for side in sides:
        side.seed_turns(to_compact[side.name], COMPACT_TURNS)
    for i, side in alternate(sides, compact_reps):
        result.add(COMPACT, side.name, timed(side.compact, to_compact[side.name][i]))
    for _, side in alternate(sides, reps):
        result.add(CONVERSATION_LIST, side.name, timed(side.list_conversations))
    for _, side in alternate(sides, reps):
        result.add(AGENT_LIST, side.name, timed(side.list_agents))
    result.load = machine()
    return result


def print_round(number: int, runs: int, result: Round) -> None:
    header = ("operation", "Letta p50", "chinwag p50", "ratio", "target", "")
    rows = [header]
    for op, target in TARGETS.items():
        ratio = result.ratio(op)
        rows.append(
            (
                op,
                f"{result.p50_ms(op, 'Letta'):.1f} ms",
                f"{result.p50_ms(op, 'chinwag'):.2f} ms",
                f"{ratio:.1f}×",
                f"≥ {target:g}×",
                "PASS" if ratio >= target else "MISS",
            )
        )
    print(f"\nround {number} of {runs} ({result.load})")
    print_rows(rows)


def print_rows(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    rule = "  ".join("-" * w for w in widths)
    print(rule)
    for i, row in enumerate(rows):
        cells = [
            c.ljust(w) if j == 0 else c.rjust(w)
            for j, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if i == 0:
            print(rule)
    print(rule, flush=True)


def print_summary(rounds: list[Round]) -> bool:
    rows = [("operation", "Letta p50s", "chinwag p50s", "ratios", "rounds met", "")]
    everywhere = True
    for op, target in TARGETS.items():
        ratios = [r.ratio(op) for r in rounds]
        letta = [r.p50_ms(op, "Letta") for r in rounds]
        ours = [r.p50_ms(op, "chinwag") for r in rounds]
        met = sum(ratio >= target for ratio in ratios)
        everywhere &= met == len(rounds)
        rows.append(
            (
                op,
                f"{min(letta):.1f}–{max(letta):.1f} ms",
                f"{min(ours):.2f}–{max(ours):.2f} ms",
                f"{min(ratios):.1f}–{max(ratios):.1f}× (median {statistics.median(ratios):.1f})",
                f"{met} of {len(rounds)} at ≥ {target:g}×",
                "PASS" if met == len(rounds) else "MISS",
            )
        )
    print(f"\nall {len(rounds)} rounds")
    print_rows(rows)
    print("every operation met its target in every round" if everywhere else "some rounds missed")
    print(f"machine at the end: {machine()}", flush=True)
    return everywhere


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--letta-url", default=LETTA_URL)
    parser.add_argument("--letta-model", default=LETTA_MODEL)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reps", type=int, default=20, help="requests per operation per round")
    parser.add_argument("--compact-reps", type=int, default=3)
    parser.add_argument("--wait", type=float, default=180.0, help="seconds to wait for Letta")
    args = parser.parse_args(argv)
    letta_url = args.letta_url.rstrip("/")
    print(f"machine: {machine()}", flush=True)
    problem = wait_for_letta(letta_url, args.letta_model, args.wait)
    if problem:
        print(f"cannot compare: {problem}", file=sys.stderr)
        return 2
    try:
        with workspace() as tmp, BenchServer(tmp, builtin_config()) as server:
            letta = Side("Letta", letta_url, args.letta_model, "before")
            ours = Side("chinwag", server.url, CHINWAG_MODEL, "after")
            sides = [letta, ours]
            try:
                for side in sides:
                    start = time.perf_counter()
                    side.prepare()
                    print(f"{side.name}: fixtures made in {time.perf_counter() - start:.1f} s")
                rounds = []
                for number in range(1, args.runs + 1):
                    rounds.append(run_round(number, sides, args.reps, args.compact_reps))
                    print_round(number, args.runs, rounds[-1])
            finally:
                print("deleting the agents made on Letta …", flush=True)
                letta.clean_up()
                for side in sides:
                    side.client.close()
    except KeyboardInterrupt:
        print("\ninterrupted; chinwag stopped, its files removed")
        return 130
    except Failed as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
    print_summary(rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
