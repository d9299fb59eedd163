"""Tool calls that wait for an answer: a person's approval, or a client's tool result.

A run that stops for approval ends (its stream closes, the lock is released); what it waits for
lives here, so the answer may come much later, from another client, or after a restart.
"""

import sqlite3
from dataclasses import dataclass

from backend.store.db import Database, Tx

PENDING = "pending"


@dataclass(frozen=True)
class WaitingCall:
    tool_call_id: str
    run_id: str
    message_id: str  # the approval_request_message that shows it
    name: str
    arguments: str
    client: bool  # a client tool: only the client can run it
    state: str = PENDING


def _call(row: sqlite3.Row) -> WaitingCall:
    return WaitingCall(
        row["tool_call_id"],
        row["run_id"],
        row["message_id"],
        row["name"],
        row["arguments"],
        bool(row["client"]),
        row["state"],
    )


class ApprovalStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    async def add_in(tx: Tx, conversation_id: str, calls: list[WaitingCall]) -> None:
        await tx.executemany(
            "INSERT INTO tool_approvals (conversation_id, tool_call_id, run_id, message_id, name,"
            " arguments, client, state, pos) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    conversation_id,
                    c.tool_call_id,
                    c.run_id,
                    c.message_id,
                    c.name,
                    c.arguments,
                    int(c.client),
                    PENDING,
                    i,
                )
                for i, c in enumerate(calls)
            ],
        )

    @staticmethod
    async def pending_in(tx: Tx, conversation_id: str) -> list[WaitingCall]:
        async with tx.execute(
            "SELECT * FROM tool_approvals WHERE conversation_id = ? AND state = 'pending'"
            " ORDER BY pos",
            (conversation_id,),
        ) as cur:
            return [_call(r) for r in await cur.fetchall()]

    @staticmethod
    async def find_in(
        tx: Tx, conversation_id: str, tool_call_ids: list[str]
    ) -> dict[str, WaitingCall]:
        marks = ",".join("?" * len(tool_call_ids))
        async with tx.execute(
            f"SELECT * FROM tool_approvals WHERE conversation_id = ? AND tool_call_id IN ({marks})",
            (conversation_id, *tool_call_ids),
        ) as cur:
            return {r["tool_call_id"]: _call(r) for r in await cur.fetchall()}

    @staticmethod
    async def settle_in(tx: Tx, conversation_id: str, states: dict[str, str]) -> None:
        await tx.executemany(
            "UPDATE tool_approvals SET state = ? WHERE conversation_id = ? AND tool_call_id = ?",
            [(state, conversation_id, call_id) for call_id, state in states.items()],
        )

    async def pending(self, conversation_id: str) -> list[WaitingCall]:
        rows = await self.db.fetchall(
            "SELECT * FROM tool_approvals WHERE conversation_id = ? AND state = 'pending'"
            " ORDER BY pos",
            (conversation_id,),
        )
        return [_call(r) for r in rows]
