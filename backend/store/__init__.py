"""Persistence on one SQLite file: one repository per table group, sharing a :class:`Database`."""

from pathlib import Path

from backend.store.agents import AgentStore
from backend.store.approvals import ApprovalStore
from backend.store.blocks import BlockStore
from backend.store.conversations import ConversationStore
from backend.store.db import Database
from backend.store.messages import MessageStore, NewMessage
from backend.store.runs import RunStore
from backend.store.search import MessageSearch
from backend.store.tools import ToolStore


class Store:
    """The repositories over one database file."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.agents = AgentStore(self.db)
        self.conversations = ConversationStore(self.db)
        self.messages = MessageStore(self.db)
        self.runs = RunStore(self.db)
        self.search = MessageSearch(self.db)
        self.blocks = BlockStore(self.db)
        self.tools = ToolStore(self.db)
        self.approvals = ApprovalStore(self.db)

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()


__all__ = ["Database", "NewMessage", "Store"]
