"""``kill -9`` of a server mid-run: the input survives, the run fails, the lock goes."""

import asyncio
import time
from pathlib import Path

import httpx

from backend.runs.lock import LockLeases
from backend.store import Store
from tests.fakes.fake_openai import FakeOpenAI
from tests.seed import new_agent
from tests.servers import ServerProcess
from tests.sse import frames, send, text_of


def test_kill_9_mid_run_then_restart(
    tmp_path: Path, config_file: Path, fake_llm: FakeOpenAI
) -> None:
    db = tmp_path / "crash.db"
    first = ServerProcess(db, config_file)
    try:
        with httpx.Client(base_url=first.url, timeout=30) as http:
            agent = http.post("/v1/agents/", json={"memory_blocks": []}).json()
            conversation = http.post("/v1/conversations/", params={"agent_id": agent["id"]}).json()
            fake_llm.hold()
            stream = frames(
                http,
                "POST",
                f"/v1/conversations/{conversation['id']}/messages",
                json={"input": "remember this"},
            )
            run_id = next(stream).data["run_id"]
            fake_llm.wait_for_held(1)
            first.kill()
    finally:
        first.stop()
    fake_llm.release()
    second = ServerProcess(db, config_file)
    try:
        with httpx.Client(base_url=second.url, timeout=30) as http:
            listed = http.get(f"/v1/conversations/{conversation['id']}/messages").json()
            assert [m["content"] for m in listed if m["role"] == "user"] == ["remember this"]
            run = http.get(f"/v1/runs/{run_id}").json()
            assert run["status"] == "failed"
            assert "stopped" in run["error"]
            # The dead holder's lock was freed at startup: the next send goes through.
            assert text_of(send(http, conversation["id"], "still there?")) == (
                "Fake reply to: still there?"
            )
    finally:
        second.stop()


def test_lock_of_a_dead_holder_expires_for_other_processes(
    tmp_path: Path, config_file: Path, fake_llm: FakeOpenAI
) -> None:
    """A server that did not restart sees the lease run out instead (short lease here)."""

    async def scenario() -> tuple[str | None, str | None]:
        store = Store(tmp_path / "lease.db")
        await store.open()
        try:
            agent = await new_agent(store)
            conversation = await store.conversations.create(agent["id"], None)
            leases = LockLeases(store.db, lease_seconds=0.2)
            async with store.db.transaction() as tx:
                await store.runs.create(tx, "run-x", conversation["id"], agent["id"])
                await leases.acquire(tx, conversation["id"], "run-x")
            held = await leases.active_run(conversation["id"])
            deadline = time.monotonic() + 5
            while await leases.active_run(conversation["id"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return held, await leases.active_run(conversation["id"])
        finally:
            await store.close()

    held, after_expiry = asyncio.run(scenario())
    assert held == "run-x"
    assert after_expiry is None
