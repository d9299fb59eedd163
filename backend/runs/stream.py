"""A run's chunk log: every chunk gets the next ``seq_id`` and reaches every attached reader.

Readers start from any ``seq_id`` (re-attach replays what they missed), then follow the live
tail until the run closes the log. Publishing never waits on a slow reader. A run's chunks add
up to the answer a non-streaming send gets (:func:`answer_of`).
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any


class ChunkLog:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.chunks: list[dict[str, Any]] = []
        self.closed = False
        self._changed = asyncio.Condition()

    async def publish(self, chunk: dict[str, Any], *, frame: str | None = None) -> dict[str, Any]:
        """Append a chunk (``frame="error"`` marks an SSE ``event: error`` frame)."""
        chunk = {**chunk, "seq_id": len(self.chunks) + 1}
        if frame:
            chunk["__frame__"] = frame
        async with self._changed:
            self.chunks.append(chunk)
            self._changed.notify_all()
        return chunk

    async def close(self) -> None:
        async with self._changed:
            self.closed = True
            self._changed.notify_all()

    async def follow(
        self, starting_after: int = 0, *, wait: float | None = None
    ) -> AsyncIterator[dict[str, Any] | None]:
        """Yield chunks with ``seq_id > starting_after`` until closed.

        With ``wait`` set, yields ``None`` whenever that many seconds pass with nothing new, so
        the caller can send a keep-alive.
        """
        position = starting_after
        while True:
            async with self._changed:
                if position >= len(self.chunks) and not self.closed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), wait)
                batch = self.chunks[position:]
                done = self.closed
            if not batch and not done:
                yield None
                continue
            for chunk in batch:
                yield chunk
            position += len(batch)
            if done and position >= len(self.chunks):
                return


MESSAGE_TYPES_IN_RESPONSE = frozenset(
    {
        "reasoning_message",
        "tool_call_message",
        "tool_return_message",
        "approval_request_message",
        "assistant_message",
        "event_message",
    }
)


def answer_of(chunks: Iterable[dict[str, Any] | None]) -> dict[str, Any]:
    """The answer a non-streaming send gets for a run's chunks: its messages (token chunks
    merged), stop reason and usage."""
    messages: dict[str, dict[str, Any]] = {}
    stop_reason: dict[str, Any] = {"message_type": "stop_reason", "stop_reason": "error"}
    usage: dict[str, Any] = {"message_type": "usage_statistics"}
    for chunk in chunks:
        if chunk is None:
            continue
        kind = chunk["message_type"]
        if kind in MESSAGE_TYPES_IN_RESPONSE:
            seen = messages.get(chunk["id"])
            if seen is None:
                seen = messages[chunk["id"]] = dict(chunk)
                if "tool_call" in chunk:  # a copy: the run's own chunks stay as they are
                    seen["tool_call"] = dict(chunk["tool_call"])
                    seen["tool_calls"] = [seen["tool_call"]]
            else:
                for key in ("content", "reasoning"):
                    if key in chunk:
                        seen[key] = seen.get(key, "") + chunk[key]
                if "tool_call" in chunk:  # a call's arguments streamed in pieces
                    call = seen["tool_call"]
                    call["arguments"] = call.get("arguments", "") + chunk["tool_call"]["arguments"]
                    seen["tool_calls"] = [call]
        elif kind == "stop_reason":
            stop_reason = chunk
        elif kind == "usage_statistics":
            usage = chunk
    return {"messages": list(messages.values()), "stop_reason": stop_reason, "usage": usage}
