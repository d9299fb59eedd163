"""Runs (one agent turn each) and their persisted chunk logs."""

import json
import sqlite3
from typing import Any

from backend.errors import InvalidArgument, NotFound
from backend.store.db import INLINE_ROWS, Database, Tx, dumps, now_iso
from backend.store.paging import Order, page_query

RUN_STATUSES = ("created", "running", "completed", "failed", "cancelled")


# The columns a run's API JSON is made of (not its usage, nor its kept answer).
WIRE_COLUMNS = (
    "id",
    "conversation_id",
    "agent_id",
    "status",
    "stop_reason",
    "created_at",
    "completed_at",
    "error",
)


def run_to_wire(row: sqlite3.Row) -> dict[str, Any]:
    return {column: row[column] for column in WIRE_COLUMNS}


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def create(tx: Tx, run_id: str, conversation_id: str, agent_id: str) -> None:
        await tx.execute(
            "INSERT INTO runs (id, conversation_id, agent_id, status, created_at)"
            " VALUES (?, ?, ?, 'running', ?)",
            (run_id, conversation_id, agent_id, now_iso()),
        )

    @staticmethod
    async def finish(
        tx: Tx,
        run_id: str,
        *,
        status: str,
        stop_reason: str,
        error: str | None,
        usage: dict[str, int],
        chunks: list[dict[str, Any]],
        answer: str | None = None,
    ) -> None:
        """End the run; ``answer`` is the JSON a non-streaming send got (none for a compaction)."""
        await tx.execute(
            "UPDATE runs SET status = ?, stop_reason = ?, error = ?, usage = ?, completed_at = ?,"
            " answer = ? WHERE id = ?",
            (status, stop_reason, error, dumps(usage), now_iso(), answer, run_id),
        )
        await RunStore.add_chunks(tx, run_id, chunks)

    @staticmethod
    async def add_chunks(tx: Tx, run_id: str, chunks: list[dict[str, Any]]) -> None:
        """Persist chunks of a run (while it runs, so other server processes can follow it)."""
        await tx.executemany(
            "INSERT OR REPLACE INTO run_chunks (run_id, seq_id, data) VALUES (?, ?, ?)",
            [(run_id, c["seq_id"], dumps(c)) for c in chunks],
        )

    async def request_cancel(self, run_id: str) -> None:
        """Ask the server process running ``run_id`` to cancel it (it polls for this)."""
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE runs SET cancel_requested = 1 WHERE id = ?", (run_id,))

    async def status(self, run_id: str) -> str | None:
        """The run's status, or None when it no longer exists (its conversation was deleted)."""
        row = await self.db.fetchone("SELECT status FROM runs WHERE id = ?", (run_id,))
        return row["status"] if row is not None else None

    async def cancel_requested(self, run_id: str) -> bool:
        row = await self.db.fetchone("SELECT cancel_requested FROM runs WHERE id = ?", (run_id,))
        return bool(row and row["cancel_requested"])

    async def get(self, run_id: str) -> sqlite3.Row:
        row = await self.db.fetchone("SELECT * FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise NotFound.of("Run", run_id)
        return row

    async def page(
        self,
        *,
        agent_id: str | None,
        conversation_id: str | None,
        statuses: list[str],
        limit: int,
        order: Order,
        after: str | None = None,
        before: str | None = None,
    ) -> list[sqlite3.Row]:
        """Runs, filtered and paged by creation (the ``runs_conversation`` index or a scan)."""
        q = page_query(
            "pos",
            order,
            await self._pos(after) if after else None,
            await self._pos(before) if before else None,
        )
        where, params = list(q.where), list(q.params)
        for column, value in (("agent_id", agent_id), ("conversation_id", conversation_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params += statuses
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.fetchall(
            f"SELECT {', '.join(WIRE_COLUMNS)} FROM runs {clause} ORDER BY {q.order_by} LIMIT ?",
            (*params, limit),
        )
        if q.reverse:
            rows.reverse()
        return rows

    async def _pos(self, run_id: str) -> int:
        row = await self.db.fetchone("SELECT pos FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise InvalidArgument(f"The cursor {run_id} is not a run.")
        return row["pos"]

    async def chunks_after(self, run_id: str, seq_id: int) -> list[dict[str, Any]]:
        """The run's chunks after ``seq_id``: a short log is read on the loop, a long one's
        rest on a reader thread."""
        sql = "SELECT seq_id, data FROM run_chunks WHERE run_id = ? AND seq_id > ? ORDER BY seq_id"
        rows = await self.db.fetchall(
            f"{sql} LIMIT {INLINE_ROWS}", (run_id, seq_id), rows=INLINE_ROWS
        )
        if len(rows) == INLINE_ROWS:
            rows += await self.db.fetchall(sql, (run_id, rows[-1]["seq_id"]))
        return [json.loads(r["data"]) for r in rows]

    async def prune_chunks(self, ended_from_iso: str, ended_before_iso: str) -> None:
        """Forget the chunk logs (and kept answers) of runs that ended in
        ``[ended_from, ended_before)``.

        The caller passes its previous cutoff as ``ended_from``, so each sweep looks only at
        the runs that expired since the last one, however long the history grows.
        """
        async with self.db.transaction(bulk=True) as tx:
            await tx.execute(
                "DELETE FROM run_chunks WHERE run_id IN (SELECT id FROM runs WHERE"
                " completed_at >= ? AND completed_at < ?)",
                (ended_from_iso, ended_before_iso),
            )
            await tx.execute(
                "UPDATE runs SET answer = NULL WHERE completed_at >= ? AND completed_at < ?"
                " AND answer IS NOT NULL",
                (ended_from_iso, ended_before_iso),
            )
