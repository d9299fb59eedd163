"""The conversations pane: summary (or first words) and last activity of each conversation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from shared_schema import Conversation


class ConversationList(OptionList):
    """Highlighting a conversation opens it; ``n`` new, ``r`` rename, ``d`` delete."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "n",
            "app.do('conversations.new')",
            "New conversation",
            id="conversations.new",
            priority=True,
        ),
        Binding(
            "r",
            "app.do('conversations.rename')",
            "Rename",
            id="conversations.rename",
            priority=True,
        ),
        Binding(
            "d,delete",
            "app.do('conversations.delete')",
            "Delete",
            id="conversations.delete",
            priority=True,
        ),
        Binding("[", "screen.resize(-2)", "Narrower", id="pane.narrower", show=False),
        Binding("]", "screen.resize(2)", "Wider", id="pane.wider", show=False),
    ]

    class Chosen(Message):
        def __init__(self, conversation: Conversation) -> None:
            super().__init__()
            self.conversation = conversation

    def __init__(self, now: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.now = now
        self.conversations: list[Conversation] = []
        self.waiting: set[str] = set()

    def set_conversations(self, items: list[Conversation], select: str | None = None) -> None:
        self.conversations = items
        self.clear_options()
        self.add_options([self._option(c) for c in items])
        # ``select``, else the newest conversation of its own (not the agent's default one).
        index = next((i for i, c in enumerate(items) if c.id == select), None)
        if index is None:
            index = next((i for i, c in enumerate(items) if c.id != c.agent_id), None)
        self.highlighted = index

    @property
    def current(self) -> Conversation | None:
        if self.highlighted is None or self.highlighted >= len(self.conversations):
            return None
        return self.conversations[self.highlighted]

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if (conversation := self.current) is not None:
            self.post_message(self.Chosen(conversation))

    def mark_waiting(self, ids: set[str]) -> None:
        """Say in their entries which conversations wait for an approval."""
        if ids == self.waiting:
            return
        self.waiting = set(ids)
        for index, conversation in enumerate(self.conversations):
            self.replace_option_prompt_at_index(index, self._prompt(conversation))

    def _option(self, conversation: Conversation) -> Option:
        return Option(self._prompt(conversation), id=conversation.id)

    def _prompt(self, conversation: Conversation) -> Text:
        title = conversation.summary or "New conversation"
        if conversation.id == conversation.agent_id:
            title = f"★ {title}"  # the agent's default conversation, always first
        text = Text(title, overflow="ellipsis", no_wrap=True)
        stamp = conversation.last_message_at or conversation.updated_at or conversation.created_at
        text.append(f"\n{ago(stamp, self.now())}", style="dim")
        if conversation.id in self.waiting:
            text.append("  ⏸ waiting for approval", style="bold yellow")
        return text


def ago(stamp: str | None, now: datetime) -> str:
    """``5 min ago`` style last activity."""
    if not stamp:
        return "no activity"
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if then.tzinfo is None:
        then = then.replace(tzinfo=now.tzinfo)
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"
