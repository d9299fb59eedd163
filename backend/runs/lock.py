"""The per-conversation lock, held by a run as a lease in SQLite.

Living in the database rather than in memory, the lock holds across several server processes on
one file. The holder renews it while the run lives; if the holder dies, the lease expires by
itself, and a restarted server frees at once the locks of its own dead processes.
"""

import os
import socket
import time
import uuid

from backend.errors import ConversationBusy, NotFound
from backend.store.db import Database, Tx

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_dead(holder: str) -> bool:
    """True when ``holder`` was a process on this host that no longer runs (or a past self)."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return holder != HOLDER  # same pid, earlier incarnation
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LockLeases:
    def __init__(self, db: Database, lease_seconds: float) -> None:
        self.db = db
        self.lease_seconds = lease_seconds

    async def acquire(self, tx: Tx, conversation_id: str, run_id: str) -> None:
        """Take the lock inside the caller's transaction, or raise :class:`ConversationBusy`.

        A lease that expired, or whose holder is a dead local process, is taken over; its run
        is marked failed by the caller's recovery (see :func:`fail_orphaned_runs`). A
        conversation deleted since the caller looked it up is a 404.
        """
        async with tx.execute(
            "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
        ) as cur:
            if await cur.fetchone() is None:
                raise NotFound.of("Conversation", conversation_id)
        async with tx.execute(
            "SELECT holder, run_id, expires_at FROM conversation_locks WHERE conversation_id = ?",
            (conversation_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            alive = row["expires_at"] > time.time() and not holder_is_dead(row["holder"])
            if alive:
                raise ConversationBusy(row["run_id"])
            await fail_run(tx, row["run_id"], "The server process running this turn stopped.")
        await tx.execute(
            "INSERT OR REPLACE INTO conversation_locks"
            " (conversation_id, holder, run_id, expires_at) VALUES (?, ?, ?, ?)",
            (conversation_id, HOLDER, run_id, time.time() + self.lease_seconds),
        )

    async def renew(self, conversation_id: str, run_id: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE conversation_locks SET expires_at = ?"
                " WHERE conversation_id = ? AND run_id = ?",
                (time.time() + self.lease_seconds, conversation_id, run_id),
            )

    async def release(self, conversation_id: str, run_id: str) -> None:
        async with self.db.transaction() as tx:
            await self.release_in(tx, conversation_id, run_id)

    @staticmethod
    async def release_in(tx: Tx, conversation_id: str, run_id: str) -> None:
        await tx.execute(
            "DELETE FROM conversation_locks WHERE conversation_id = ? AND run_id = ?",
            (conversation_id, run_id),
        )

    async def active_run(self, conversation_id: str) -> str | None:
        """The run holding a live lease on this conversation, if any."""
        row = await self.db.fetchone(
            "SELECT holder, run_id, expires_at FROM conversation_locks WHERE conversation_id = ?",
            (conversation_id,),
        )
        if row is None or row["expires_at"] <= time.time() or holder_is_dead(row["holder"]):
            return None
        return row["run_id"]


async def fail_run(tx: Tx, run_id: str | None, error: str) -> None:
    if run_id is None:
        return
    await tx.execute(
        "UPDATE runs SET status = 'failed', stop_reason = 'error', error = ?,"
        " completed_at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
        " WHERE id = ? AND status IN ('created', 'running')",
        (error, run_id),
    )


async def fail_orphaned_runs(db: Database) -> int:
    """Fail runs whose holder died (startup and periodic sweep); free their locks. Returns count.

    A run counts as orphaned when it is unfinished and no live lease covers it: its lease expired,
    its holder is a dead local process, or it has no lease at all.
    """
    now = time.time()
    async with db.transaction() as tx:
        async with tx.execute(
            "SELECT conversation_id, holder, run_id, expires_at FROM conversation_locks"
        ) as cur:
            locks = list(await cur.fetchall())
        live_runs = set()
        for lock in locks:
            if lock["expires_at"] <= now or holder_is_dead(lock["holder"]):
                await tx.execute(
                    "DELETE FROM conversation_locks WHERE conversation_id = ?",
                    (lock["conversation_id"],),
                )
            else:
                live_runs.add(lock["run_id"])
        async with tx.execute("SELECT id FROM runs WHERE status IN ('created', 'running')") as cur:
            unfinished = [r["id"] for r in await cur.fetchall()]
        orphaned = [r for r in unfinished if r not in live_runs]
        for run_id in orphaned:
            await fail_run(tx, run_id, "The server process running this turn stopped.")
    return len(orphaned)
