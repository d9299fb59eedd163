"""Each conversation's prompt kept between turns, so a turn reads and encodes only what is new.

A kept prompt is valid while the conversation's ``context_rev`` (in the database, so every
server process on the file sees it) is the one it was built at: appends leave it as it is and
are read by ``ord`` after the last one kept; any other change of the in-context messages
(compaction, a failed input taken out, reset, a recompiled system message) bumps it, and the
prompt is built again from all of them: a long context on a reader thread, as its rows are
read, so it never holds the event loop. The prompts kept are bounded in bytes and in number, least
recently used first out.
"""

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from backend.agent.context import ChatBuilder, Row
from backend.llm.prompt import Prompt
from backend.store.messages import MessageStore

# Rows read and added on the event loop; more (a long context to build, or another process ran
# many turns meanwhile) and the prompt is built on a worker thread.
FEW_ROWS = 64
DEFAULT_MAX_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_KEPT = 256  # conversations; one not kept costs a rebuild on its next turn


@dataclass
class _Kept:
    revision: int
    last_ord: int | None
    builder: ChatBuilder


class PromptCache:
    def __init__(
        self,
        messages: MessageStore,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_kept: int = DEFAULT_MAX_KEPT,
    ) -> None:
        self.messages = messages
        self.max_bytes = max_bytes
        self.max_kept = max_kept
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._bytes = 0
        self.builds = 0  # full builds so far (the tests see a kept prompt being used)

    async def load(self, conversation_id: str) -> Prompt:
        """The conversation's context for its next model call, as a full rebuild would give."""
        kept = self._kept.pop(conversation_id, None)
        if kept is not None:
            self._bytes -= kept.builder.log.size
            revision, rows = await self.messages.context_after(
                conversation_id, kept.last_ord, limit=FEW_ROWS
            )
            if revision != kept.revision or len(rows) == FEW_ROWS:
                kept = None
            else:
                kept.builder.extend(rows)
                if rows:
                    kept.last_ord = rows[-1]["ord"]
        if kept is None:
            kept = await self._build(conversation_id)
        self._keep(conversation_id, kept)
        return kept.builder.prompt()

    async def _build(self, conversation_id: str) -> _Kept:
        """The prompt from all the in-context messages: on the loop if they are few, else
        built on a reader thread as the rows are read."""
        self.builds += 1
        revision, rows = await self.messages.context_after(conversation_id, None, limit=FEW_ROWS)
        if len(rows) < FEW_ROWS:
            builder, last_ord = _build(rows)
        else:
            revision, (builder, last_ord) = await self.messages.read_context(
                conversation_id, None, _build
            )
        return _Kept(revision, last_ord, builder)

    def _keep(self, conversation_id: str, kept: _Kept) -> None:
        self._kept[conversation_id] = kept
        self._bytes += kept.builder.log.size
        while self._kept and (self._bytes > self.max_bytes or len(self._kept) > self.max_kept):
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= dropped.builder.log.size


def _build(rows: Iterable[Row]) -> tuple[ChatBuilder, int | None]:
    """A builder of these rows, and the ``ord`` of the last one."""
    builder, last_ord = ChatBuilder(), None
    for row in rows:
        builder.add(row)
        last_ord = row["ord"]
    return builder, last_ord
