"""Write transactions: parameters bind by position and by name (inline, bulk or batched), and
batched writes that queue up commit together without mixing up their outcomes."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backend.errors import InvalidArgument
from backend.store import Store
from backend.store.db import Tx


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        async with store.db.transaction() as tx:
            await tx.execute("CREATE TABLE notes (text TEXT NOT NULL)")
        yield store
    finally:
        await store.close()


async def both(tx: Tx) -> tuple[Any, Any]:
    async with tx.execute("SELECT :a || :b", {"a": "x", "b": "y"}) as cur:
        named = await cur.fetchone()
    async with tx.execute("SELECT ? || ?", ("x", "y")) as cur:
        positional = await cur.fetchone()
    return named[0], positional[0]


@pytest.mark.parametrize("kind", ["inline", "bulk", "batched"])
async def test_named_parameters_bind_by_name_in_a_transaction(store: Store, kind: str) -> None:
    if kind == "batched":
        named, positional = await store.db.batched(both)
    else:
        async with store.db.transaction(bulk=kind == "bulk") as tx:
            named, positional = await both(tx)
    assert named == "xy"
    assert positional == "xy"


async def add(tx: Tx, text: str) -> str:
    await tx.execute("INSERT INTO notes (text) VALUES (:text)", {"text": text})
    return text


async def add_then_refuse(tx: Tx) -> None:
    await add(tx, "refused")
    raise InvalidArgument("refused after writing")


async def notes(store: Store) -> list[str]:
    rows = await store.db.fetchall("SELECT text FROM notes ORDER BY rowid")
    return [r["text"] for r in rows]


async def test_batched_writes_that_queue_up_commit_together(store: Store) -> None:
    before = store.db.commits
    outcomes = await asyncio.gather(
        store.db.batched(lambda tx: add(tx, "first")),
        store.db.batched(add_then_refuse),
        store.db.batched(lambda tx: add(tx, "third")),
        return_exceptions=True,
    )
    assert outcomes[0] == "first" and outcomes[2] == "third"
    assert isinstance(outcomes[1], InvalidArgument)
    assert await notes(store) == ["first", "third"]  # the refused one's row went with it
    assert store.db.commits == before + 1


async def test_a_batched_write_alone_is_rolled_back_when_it_raises(store: Store) -> None:
    with pytest.raises(InvalidArgument):
        await store.db.batched(add_then_refuse)
    assert await store.db.batched(lambda tx: add(tx, "after")) == "after"
    assert await notes(store) == ["after"]


async def test_a_caller_cancelled_while_its_write_waits_still_has_it_committed(
    store: Store,
) -> None:
    """Its changes are not half-known: the write is done, and the caller then sees the
    cancellation at its next wait."""
    reached: list[str] = []

    async def caller() -> None:
        await store.db.batched(lambda tx: add(tx, "kept"))
        reached.append("after the write")
        await asyncio.sleep(0)
        reached.append("past the next wait")

    async with store.db.transaction() as tx:  # holds the write lock: the batched write waits
        task = asyncio.create_task(caller())
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        await add(tx, "held")
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reached == ["after the write"]
    assert await notes(store) == ["held", "kept"]
