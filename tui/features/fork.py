"""Fork: a new conversation with the open one's context, whole or up to a focused message.

The server copies the context (the same message ids, listed in both); the fork opens at once
and the original stays as it was.
"""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape

from shared_schema import Conversation
from tui.errors import ClientError
from tui.parts import Command, Feature
from tui.widgets.messages import MessageBlock


class Fork(Feature):
    """``f4``: fork at the focused message when one is focused, else the whole conversation."""

    NAME = "fork"
    COMMANDS: ClassVar[list[Command]] = [
        Command("fork.fork", "Fork conversation", "Continue the open conversation in a copy"),
        Command(
            "fork.fork_here",
            "Fork at focused message",
            "A copy of the conversation up to the focused message, to try another path",
        ),
    ]

    def check(self, action: str) -> bool | None:
        return self.app.conversation is not None and not self.app.streaming

    def focused_message(self) -> str | None:
        focused = self.app.focused
        if isinstance(focused, MessageBlock) and focused.entry.id:
            return focused.entry.id
        return None

    def action_fork(self) -> None:
        """Fork at the focused message if there is one (the key's meaning), else the whole."""
        self._start(self.focused_message())

    def action_fork_here(self) -> None:
        message_id = self.focused_message()
        if message_id is None:
            self.app.notify("Focus a message first (tab into the transcript, then ↑↓).")
            return
        self._start(message_id)

    def _start(self, message_id: str | None) -> None:
        conversation = self.app.conversation
        if conversation is None:
            self.app.notify("Open a conversation first.")
            return
        if self.app.streaming:
            self.app.notify("A reply is still streaming.", severity="warning")
            return
        self.run(self.fork(conversation, message_id), "fork conversation", exclusive=True)

    async def fork(self, source: Conversation, message_id: str | None) -> None:
        app, client = self.app, self.app.client
        if client is None:
            return
        try:
            fork = await client.fork(source.id, message_id)
            if not fork.summary or fork.summary == source.summary:
                name = source.summary or "conversation"
                fork = await client.rename_conversation(fork.id, f"Fork of {name}")
        except ClientError as exc:
            app.report(exc)
            return
        app.chat.open_conversation(fork)
        app.conversations_pane.load(select=fork.id)
        where = "at the focused message" if message_id else "whole"
        name = escape(fork.summary or "")
        app.notify(f"Forked ({where}): “{name}” is open.", title="Fork", timeout=4)
        app.composer.focus()
