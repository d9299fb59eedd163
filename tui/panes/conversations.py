"""The conversations pane and its flows: list the agent's conversations, create, rename, delete.

Selecting a conversation posts :class:`ConversationList.Chosen`; the app opens it in the chat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, ClassVar

from textual import work
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Label

from shared_schema import Agent, Conversation
from tui.client import default_conversation
from tui.errors import ClientError
from tui.parts import Command, Part
from tui.screens.dialogs import ConfirmDialog, TextDialog
from tui.widgets.conversations import ConversationList


class ConversationsPane(Part, Vertical):
    """Owns conversation CRUD; its list's keys (``n``, ``r``, ``d``) run the actions here."""

    COMMANDS: ClassVar[list[Command]] = [
        Command(
            "conversations.new", "New conversation", "Start a conversation with the selected agent"
        ),
        Command("conversations.rename", "Rename conversation", "Change the conversation's summary"),
        Command("conversations.delete", "Delete conversation", "Delete the open conversation"),
    ]

    class Emptied(Message):
        """The agent has no conversations (any more): the chat shows a hint instead."""

    def __init__(self, now: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.now = now

    def compose(self) -> Iterable[Widget]:
        yield Label("Conversations", classes="pane-title")
        yield ConversationList(self.now, id="conversations")

    @property
    def conversation_list(self) -> ConversationList:
        return self.query_one(ConversationList)

    @work(exclusive=True, group="conversations", description="load conversations")
    async def load(self, select: str | None = None) -> None:
        """List the selected agent's conversations and select ``select`` (or the first)."""
        agent, client = self.chinwag.agent, self.client
        if agent is None or client is None:
            return
        try:
            items = await client.list_conversations(agent.id)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        if self.chinwag.agent is not agent:
            return
        if not items and self.chinwag.conversation is not None:
            return  # a first message started a conversation meanwhile; its own reload follows
        select = select or self.chinwag.settings.conversation_id
        # The agent's default conversation (agent-level messages: other Letta clients, memgpt
        # agents) is always the first entry.
        listed = [default_conversation(agent), *items]
        self.conversation_list.set_conversations(listed, select=select)
        await self.chinwag.features["approvals"].refresh(  # type: ignore[attr-defined]
            agent.id, [c.id for c in items]
        )

        if self.conversation_list.highlighted is None:
            self.post_message(self.Emptied())

    def clear(self) -> None:
        self.conversation_list.set_conversations([])

    # -- create, rename, delete -----------------------------------------------------------

    def action_new(self) -> None:
        agent = self.chinwag.agent
        if agent is None or self.client is None:
            self.notify("Pick an agent first.")
            return
        dialog = TextDialog(
            "New conversation",
            "Summary (optional; the first message names it otherwise)",
            ok="Create",
            cursor_blink=self.chinwag.settings.cursor_blink,
        )
        dialog.focus_after = self.chinwag.composer
        self.app.push_screen(
            dialog, lambda summary: summary is not None and self.create(agent, summary)
        )

    @work(exclusive=True, group="dialog", description="create conversation")
    async def create(self, agent: Agent, summary: str) -> None:
        client = self.client
        assert client is not None
        try:
            conversation = await client.create_conversation(agent.id, summary or None)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.load(select=conversation.id)

    def action_rename(self) -> None:
        conversation = self.chinwag.conversation
        if conversation is None or self.client is None:
            return
        if conversation.id == conversation.agent_id:
            self.notify("The default conversation keeps its name.")
            return
        dialog = TextDialog(
            "Rename conversation",
            "Summary",
            conversation.summary or "",
            ok="Rename",
            cursor_blink=self.chinwag.settings.cursor_blink,
        )
        self.app.push_screen(dialog, lambda summary: summary and self.rename(conversation, summary))

    @work(exclusive=True, group="dialog", description="rename conversation")
    async def rename(self, conversation: Conversation, summary: str) -> None:
        client = self.client
        assert client is not None
        try:
            renamed = await client.rename_conversation(conversation.id, summary)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.chinwag.chat.conversation = renamed
        self.load(select=renamed.id)

    def action_delete(self) -> None:
        conversation = self.chinwag.conversation
        if conversation is None or self.client is None:
            return
        if conversation.id == conversation.agent_id:
            self.notify("The default conversation belongs to the agent: it cannot be deleted.")
            return
        name = conversation.summary or "this conversation"
        question = f"Delete “{name}” and all its messages?"
        self.app.push_screen(
            ConfirmDialog("Delete conversation", question),
            lambda yes: yes and self.delete(conversation),
        )

    @work(exclusive=True, group="dialog", description="delete conversation")
    async def delete(self, conversation: Conversation) -> None:
        client = self.client
        assert client is not None
        try:
            await client.delete_conversation(conversation.id)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        await self.chinwag.chat.close()
        self.load()
