"""A prompt whose JSON and token estimate are kept as it grows, so a turn costs the same at any
context length.

A conversation's prompt only grows between turns (until compaction rewrites it), so encoding
every message again for each model call would make a turn's cost grow with the history, and a
conversation's total cost with its square. :class:`ChatLog` holds the messages with each one's
JSON (written once, appended to one buffer) and token estimate (summed as they come); a
:class:`Prompt` is a view of it for one model call, with a few messages after it that are not
kept (see ``backend.agent.context``). Its JSON equals ``json.dumps`` of its messages, written
as the request body writes everything else.
"""

import json
from collections.abc import Sequence
from typing import Any, overload

from backend.llm.tokens import REPLY_PRIMING, estimate_message_tokens

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode(value: Any) -> bytes:
    """JSON as every request body writes it: compact, UTF-8, non-ASCII kept as is (what
    ``json.dumps`` with these options writes, without making an encoder per call)."""
    return _ENCODER.encode(value).encode()


class ChatLog:
    """Chat messages that only grow at the end; only the last one may still change.

    The messages before the last are *sealed*: encoded into ``_json`` (joined by commas) and
    counted in ``_tokens``, once. ``memo`` keeps what a provider derived from sealed messages
    (see :attr:`Prompt.memo`); it lives as long as this log.
    """

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.memo: dict[str, Any] = {}
        self._json = bytearray()
        self._tokens = 0

    @property
    def last(self) -> dict[str, Any] | None:
        """The newest message, which may still be changed in place (a step's later calls)."""
        return self.messages[-1] if self.messages else None

    def append(self, message: dict[str, Any]) -> None:
        if self.messages:
            self._seal(self.messages[-1])
        self.messages.append(message)

    def extend(self, messages: Sequence[dict[str, Any]]) -> None:
        for message in messages:
            self.append(message)

    def _seal(self, message: dict[str, Any]) -> None:
        if self._json:
            self._json += b","
        self._json += encode(message)
        self._tokens += estimate_message_tokens(message)

    @property
    def size(self) -> int:
        """About the bytes this log holds: its JSON, and the messages' objects beside it."""
        return 3 * len(self._json) + 200 * len(self.messages)

    def prompt(self, tail: Sequence[dict[str, Any]] = ()) -> "Prompt":
        """The messages as they are now, followed by ``tail`` (messages not kept here)."""
        sealed = max(0, len(self.messages) - 1)
        rest = [_copy(m) for m in self.messages[sealed:]] + list(tail)
        return Prompt(self, sealed, len(self._json), self._tokens, rest)


def _copy(message: dict[str, Any]) -> dict[str, Any]:
    """A copy that later in-place changes of the log's last message do not reach."""
    calls = message.get("tool_calls")
    return {**message, "tool_calls": list(calls)} if calls is not None else dict(message)


class Prompt(Sequence[dict[str, Any]]):
    """The messages of one model call, with their JSON array and token estimate at hand.

    It is a sequence of the messages itself, read through to the log: listing them all
    (:attr:`messages`) would copy one reference per message.

    ``stable`` leading messages are sealed in the log: they stay exactly as they are while
    ``memo`` (shared by the prompts of one log) lives, so a provider may keep there what it
    derived from them and, next time, look only at the messages after.
    """

    def __init__(
        self, log: ChatLog, sealed: int, json_length: int, tokens: int, rest: list[dict[str, Any]]
    ) -> None:
        self._log = log
        self.stable = sealed
        self._json_length = json_length
        self._sealed_tokens = tokens
        self._rest = rest
        self._messages: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, messages: "Sequence[dict[str, Any]] | Prompt") -> "Prompt":
        """A prompt of plain messages (compaction's summary call, tests), or the prompt given."""
        if isinstance(messages, Prompt):
            return messages
        log = ChatLog()
        log.extend(messages)
        return log.prompt()

    @property
    def memo(self) -> dict[str, Any]:
        return self._log.memo

    @property
    def messages(self) -> list[dict[str, Any]]:
        if self._messages is None:
            self._messages = self._log.messages[: self.stable] + self._rest
        return self._messages

    def __len__(self) -> int:
        return self.stable + len(self._rest)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1 and stop <= self.stable:
                return self._log.messages[start:stop]
            if step == 1 and start >= self.stable:
                return self._rest[start - self.stable : stop - self.stable]
            return self.messages[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("prompt index out of range")
        if index < self.stable:
            return self._log.messages[index]
        return self._rest[index - self.stable]

    @property
    def last(self) -> dict[str, Any] | None:
        return self[-1] if len(self) else None

    @property
    def tokens(self) -> int:
        """``estimate_tokens`` of the messages: the sealed ones' sum plus the rest's."""
        return (
            REPLY_PRIMING
            + self._sealed_tokens
            + sum(estimate_message_tokens(m) for m in self._rest)
        )

    def json_body(self, before: bytes, after: bytes) -> bytes:
        """``before``, the messages' JSON array, then ``after``: copied once into one body."""
        rest = b",".join(encode(m) for m in self._rest)
        with memoryview(self._log._json) as whole, whole[: self._json_length] as sealed:
            comma = b"," if len(sealed) and rest else b""
            return b"".join((before, b"[", sealed, comma, rest, b"]", after))
