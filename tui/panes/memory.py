"""The memory panel: the agent's memory blocks, live, with their history one key away.

A side pane (``f2`` shows or hides it) with one card per block: label, size against limit and
value. When a memory tool returns during a turn the chat pane says so
(:class:`~tui.panes.chat.ChatPane.MemoryEdited`); the panel reads the blocks again and marks
what changed inline. ``a`` adds a block, ``e`` edits, ``x`` detaches, ``h`` shows the history
with a diff per change, and ``r`` there restores a version. Cards are found by the block they
hold, never by an id made from a label (labels may be any text).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Label, Static

from shared_schema import Block
from tui.client import agent_blocks, in_display_order
from tui.errors import ClientError, NotFound
from tui.parts import Command, Part
from tui.screens.dialogs import ConfirmDialog
from tui.screens.memory import BlockDialog, BlockEdit, BlockHistoryScreen
from tui.widgets.diff import inline_diff

_BAR = 10


class BlockCard(Static, can_focus=True):
    """One block: ``label  used/limit`` with a bar, then its value (the last change marked)."""

    def __init__(self, block: Block) -> None:
        super().__init__(classes="block-card")
        self.block = block
        self.before: str | None = None  # the value before the agent's last edit, while marked

    def on_mount(self) -> None:
        self.update(self.text())

    def show(self, block: Block, before: str | None = None) -> None:
        self.block = block
        self.before = before
        self.set_class(before is not None, "changed")
        self.update(self.text())

    def text(self) -> Text:
        block = self.block
        size, limit = len(block.value), max(block.limit, 1)
        filled = min(_BAR, round(_BAR * size / limit))
        text = Text(block.label, style="bold")
        style = "red" if size > limit * 0.9 else "green"
        text.append(f"  {size}/{block.limit} ")
        text.append("█" * filled, style=style)
        text.append("░" * (_BAR - filled), style="dim")
        if self.before is not None:
            text.append("  changed", style="bold yellow")
        text.append("\n")
        if self.before is not None:
            text.append_text(inline_diff(self.before, block.value))
        else:
            text.append(block.value or "(empty)", style="" if block.value else "dim italic")
        return text


class MemoryPane(Part, Vertical):
    """Owns the memory flows: list, live refresh, add, edit, detach, history and restore."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "Add block", id="memory.add"),
        Binding("e,enter", "edit", "Edit block", id="memory.edit"),
        Binding("h", "history", "Block history", id="memory.history"),
        Binding("x,delete", "detach", "Detach block", id="memory.detach"),
    ]
    COMMANDS: ClassVar[list[Command]] = [
        Command("memory.toggle", "Memory panel", "Show or hide the agent's memory blocks"),
        Command("memory.add", "Add memory block", "Create a block and attach it to the agent"),
        Command("memory.edit", "Edit memory block", "Change the value of the focused block"),
        Command(
            "memory.history",
            "Memory block history",
            "Who changed the focused block, when, and what; restore a version",
        ),
        Command("memory.detach", "Detach memory block", "Take the focused block off the agent"),
    ]

    def __init__(self, *, cursor_blink: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cursor_blink = cursor_blink
        self.agent_id: str | None = None

    def compose(self) -> Iterable[Widget]:
        yield Label("Memory", classes="pane-title")
        yield VerticalScroll(classes="memory-blocks")
        yield Static("a add · e edit · h history · x detach", classes="memory-keys")

    @property
    def cards(self) -> list[BlockCard]:
        return list(self.query(BlockCard))

    def current(self) -> BlockCard | None:
        """The focused card, else the first one."""
        focused = self.app.focused
        if isinstance(focused, BlockCard) and focused in self.cards:
            return focused
        return self.cards[0] if self.cards else None

    def check(self, action: str) -> bool | None:
        if action in ("edit", "history", "detach"):
            return self.display and bool(self.cards)
        if action == "add":
            return self.display and self.chinwag.agent is not None
        return True

    # -- showing ----------------------------------------------------------------------------

    def action_toggle(self) -> None:
        self.display = not self.display
        if self.display:
            self.load()
            card = self.current()
            if card is not None:
                card.focus()
        elif self.app.focused is None or self in self.app.focused.ancestors:
            self.chinwag.composer.focus()

    def agent_changed(self) -> None:
        """Another agent was chosen: its blocks replace these (if the panel is shown)."""
        self.agent_id = None
        if self.display:
            self.load()

    @work(exclusive=True, group="memory", description="load memory blocks")
    async def load(self, mark: bool = False) -> None:
        """Read the blocks; with ``mark`` (a memory tool returned), mark what changed."""
        agent, client = self.chinwag.agent, self.client
        if agent is None or client is None:
            return
        try:
            blocks = in_display_order(await client.list_blocks(agent.id))
        except NotFound:  # an older server: the agent carries its blocks
            fresh = await client.get_agent(agent.id)
            blocks = agent_blocks(fresh)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        if self.chinwag.agent is None or self.chinwag.agent.id != agent.id:
            return
        await self.show_blocks(agent.id, blocks, mark=mark)

    async def show_blocks(self, agent_id: str, blocks: list[Block], *, mark: bool) -> None:
        same_agent = agent_id == self.agent_id
        self.agent_id = agent_id
        known = {card.block.id: card for card in self.cards} if same_agent else {}
        view = self.query_one(".memory-blocks", VerticalScroll)
        if same_agent and list(known) == [b.id for b in blocks]:
            for block in blocks:
                card = known[block.id]
                if mark and card.block.value != block.value:
                    card.show(block, before=card.block.value)
                    view.scroll_to_widget(card, animate=False)
                elif card.block.value != block.value or card.block.limit != block.limit:
                    card.show(block, before=card.before if mark else None)
            return
        focused_id = self.current().block.id if self.cards else None
        await view.remove_children()
        cards = [BlockCard(block) for block in blocks]
        await view.mount_all(cards)
        for card in cards:
            old = known.get(card.block.id)
            if mark and old is not None and old.block.value != card.block.value:
                card.show(card.block, before=old.block.value)
        if not cards:
            await view.mount(Static("No memory blocks. a: add one", classes="hint"))
        if focused_id and self.has_focus_within:
            same = [c for c in cards if c.block.id == focused_id]
            (same or cards or [self])[0].focus()

    @property
    def has_focus_within(self) -> bool:
        focused = self.app.focused
        return focused is not None and (focused is self or self in focused.ancestors)

    # -- edit, add, detach ------------------------------------------------------------------

    def action_edit(self) -> None:
        card = self.current()
        if card is None:
            return
        dialog = BlockDialog(card.block, cursor_blink=self.cursor_blink)
        self.app.push_screen(dialog, lambda edit: edit is not None and self.save(edit))

    def action_add(self) -> None:
        if self.chinwag.agent is None:
            return
        dialog = BlockDialog(None, cursor_blink=self.cursor_blink)
        self.app.push_screen(dialog, lambda edit: edit is not None and self.add(edit))

    @work(exclusive=True, group="memory-edit", description="save memory block")
    async def save(self, edit: BlockEdit) -> None:
        agent, client = self.chinwag.agent, self.client
        if agent is None or client is None:
            return
        try:
            await client.update_block(agent.id, edit.label, edit.value)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.notify(f"Saved “{escape(edit.label)}”.", timeout=2)
        self.load()

    @work(exclusive=True, group="memory-edit", description="add memory block")
    async def add(self, edit: BlockEdit) -> None:
        agent, client = self.chinwag.agent, self.client
        if agent is None or client is None:
            return
        try:
            await client.add_block(agent.id, edit.label, edit.value, edit.limit)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.notify(f"Added “{escape(edit.label)}”.", timeout=2)
        self.load()

    def action_detach(self) -> None:
        card = self.current()
        if card is None:
            return
        block = card.block
        question = (
            f"Take the block “{escape(block.label)}” off this agent? The block itself is kept "
            "(other agents may share it)."
        )
        self.app.push_screen(
            ConfirmDialog("Detach memory block", question, ok="Detach"),
            lambda yes: yes and self.detach(block),
        )

    @work(exclusive=True, group="memory-edit", description="detach memory block")
    async def detach(self, block: Block) -> None:
        agent, client = self.chinwag.agent, self.client
        if agent is None or client is None:
            return
        try:
            await client.detach_block(agent.id, block.id)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.notify(f"Detached “{escape(block.label)}”.", timeout=2)
        self.load()

    # -- history ----------------------------------------------------------------------------

    def action_history(self) -> None:
        card = self.current()
        if card is not None:
            self.open_history(card.block)

    @work(exclusive=True, group="memory-history", description="load block history")
    async def open_history(self, block: Block) -> None:
        client = self.client
        if client is None:
            return
        try:
            changes = await client.block_history(block.id)
        except NotFound:
            self.notify("This server keeps no history of memory blocks.", severity="warning")
            return
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.app.push_screen(
            BlockHistoryScreen(block, changes),
            lambda version: version is not None and self.restore(block, version),
        )

    @work(exclusive=True, group="memory-edit", description="restore memory block")
    async def restore(self, block: Block, version: int) -> None:
        client = self.client
        if client is None:
            return
        try:
            await client.restore_block(block.id, version)
        except ClientError as exc:
            self.chinwag.report(exc)
            return
        self.notify(f"Restored “{escape(block.label)}” to version {version}.", timeout=3)
        self.load()
