"""Statements inside a transaction bind parameters by position and by name, inline or bulk."""

from pathlib import Path

import pytest

from backend.store import Store


@pytest.mark.parametrize("bulk", [False, True])
async def test_named_parameters_bind_by_name_in_a_transaction(tmp_path: Path, bulk: bool) -> None:
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        async with store.db.transaction(bulk=bulk) as tx:
            async with tx.execute("SELECT :a || :b", {"a": "x", "b": "y"}) as cur:
                named = await cur.fetchone()
            async with tx.execute("SELECT ? || ?", ("x", "y")) as cur:
                positional = await cur.fetchone()
    finally:
        await store.close()
    assert named[0] == "xy"
    assert positional[0] == "xy"
