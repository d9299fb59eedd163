"""The write lock across processes, with real processes holding it: a writer waits while
another process holds it and goes on once that process lets go, even by being killed."""

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.store import Store
from backend.store.write_lock import WriteLock, WriteLockTimeout
from tests.waiting import until

# Takes the lock as the server does (flock on its own open file), says so, then waits for
# "release" (let go, and say so) or for its end.
HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
if sys.stdin.readline().strip() == "release":
    fcntl.flock(fd, fcntl.LOCK_UN)
    print("released", flush=True)
sys.stdin.readline()
"""

# Tries the lock without waiting and says whether it got it.
PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("taken")
"""


class Holder:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def line(self) -> str:
        assert self.process.stdout is not None
        return (await self.process.stdout.readline()).decode().strip()

    async def say(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()


@pytest.fixture
async def holder(tmp_path: Path) -> AsyncIterator[Holder]:
    """Another process holding the write lock of ``tmp_path / "chinwag.db"``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        str(WriteLock(tmp_path / "chinwag.db").path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    holding = Holder(process)
    try:
        assert await holding.line() == "held"
        yield holding
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def probe(lock: WriteLock) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PROBE, str(lock.path), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode().strip()


async def test_a_batched_write_waits_for_the_process_holding_the_lock(
    tmp_path: Path, holder: Holder
) -> None:
    store = Store(tmp_path / "chinwag.db")
    await store.open()
    try:
        lock = store.db.write_lock
        write = asyncio.create_task(
            store.db.batched(lambda tx: tx.execute("CREATE TABLE notes (text TEXT)"))
        )
        await until(lambda: lock.waits == 1)
        assert not write.done()
        await holder.say("release")
        assert await holder.line() == "released"
        await asyncio.wait_for(write, 10)
        assert await store.db.fetchall("SELECT * FROM notes") == []  # the table was made
        assert await probe(lock) == "free"  # let go of after the write
    finally:
        await store.close()


async def test_a_killed_holder_lets_go_of_the_lock(tmp_path: Path, holder: Holder) -> None:
    lock = WriteLock(tmp_path / "chinwag.db")
    lock.open()
    try:
        taking = asyncio.create_task(lock.acquire(timeout=30))
        await until(lambda: lock.waits == 1)
        assert not taking.done()
        holder.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(taking, 10)
        assert await probe(lock) == "taken"  # now held here, against other processes
        lock.release()
        assert await probe(lock) == "free"
    finally:
        lock.close()


async def test_a_lock_held_too_long_is_a_clear_error(tmp_path: Path, holder: Holder) -> None:
    lock = WriteLock(tmp_path / "chinwag.db")
    lock.open()
    try:
        with pytest.raises(WriteLockTimeout, match="another process held the write lock"):
            await lock.acquire(timeout=0.05)
    finally:
        lock.close()
