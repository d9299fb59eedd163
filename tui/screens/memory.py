"""Dialogs of the memory panel: add or edit a block, and a block's history with diffs.

No widget id is ever built from a block's label (labels may hold spaces, ``/`` and ``.``): the
fields have fixed ids and the block travels as data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from shared_schema import Block
from tui.client import BlockChange
from tui.screens.dialogs import Dialog, KeysFirst
from tui.transcript import clock_of
from tui.widgets.diff import inline_diff


@dataclass(frozen=True)
class BlockEdit:
    """What the block dialog returns: the label (new blocks), the value and the limit."""

    label: str
    value: str
    limit: int | None


class BlockDialog(Dialog):
    """Add a block (label, value, limit) or edit one's value; ``ctrl+s`` saves."""

    def __init__(self, block: Block | None = None, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.block = block
        self.cursor_blink = cursor_blink

    def compose(self) -> Iterable[Widget]:
        block = self.block
        with Vertical(classes="box"):
            if block is None:
                yield Label("Add a memory block", classes="title")
                yield Label("Label (any text: “project notes”, “prefs/food” …)")
                yield Input(id="label", select_on_focus=False)
                yield Label("Character limit")
                yield Input("5000", id="limit", type="integer", select_on_focus=False)
            else:
                yield Label(Text(f"Edit memory block “{block.label}”"), classes="title")
                yield Label(f"{len(block.value)}/{block.limit} characters", id="size")
            yield Label("Value")
            area = TextArea(block.value if block else "", id="value", tab_behavior="focus")
            area.cursor_blink = self.cursor_blink
            yield area
            yield self.buttons("Save")
            yield self.keys_hint("Save")

    def on_mount(self) -> None:
        super().on_mount()
        first = self.query_one("#label", Input) if self.block is None else self.query_one(TextArea)
        first.focus()

    @on(TextArea.Changed)
    def _size(self, event: TextArea.Changed) -> None:
        if self.block is not None:
            size = len(event.text_area.text)
            over = " — over the limit" if size > self.block.limit else ""
            self.query_one("#size", Label).update(f"{size}/{self.block.limit} characters{over}")

    def submit(self) -> None:
        value = self.query_one("#value", TextArea).text
        if self.block is not None:
            self.dismiss(BlockEdit(self.block.label, value, None))
            return
        label = self.query_one("#label", Input).value.strip()
        if not label:
            self.notify("A block needs a label.", severity="warning")
            return
        limit_text = self.query_one("#limit", Input).value.strip()
        self.dismiss(BlockEdit(label, value, int(limit_text) if limit_text.isdigit() else None))


def change_line(change: BlockChange) -> Text:
    """``v3 · agent via memory_insert · 11:32``: one entry of the history list."""
    who = f"agent via {change.tool_name}" if change.actor == "agent" else "you"
    if change.actor == "agent" and not change.tool_name:
        who = "agent"
    text = Text(f"v{change.version}", style="bold")
    text.append(f" · {who}")
    if clock := clock_of(change.created_at):
        text.append(f" · {change.created_at[:10]} {clock}", style="dim")
    return text


class BlockHistoryScreen(KeysFirst):
    """Who changed a block, when, and what (a diff); ``r`` puts the chosen version back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "restore", "Restore this version", id="memory.restore"),
        Binding("escape,q", "dismiss_none", "Close", id="memory.history_close"),
    ]
    DEFAULT_CLASSES = "dialog"

    def __init__(self, block: Block, changes: list[BlockChange]) -> None:
        super().__init__()
        self.block = block
        self.changes = changes

    def compose(self) -> Iterable[Widget]:
        with Vertical(classes="box history"):
            yield Label(Text(f"History of “{self.block.label}”"), classes="title")
            if not self.changes:
                yield Static("No changes recorded yet.", classes="question")
            with Horizontal(classes="history-body"):
                yield OptionList(
                    *[Option(change_line(c)) for c in self.changes], classes="history-list"
                )
                with VerticalScroll(classes="history-diff"):
                    yield Static(classes="diff")
            yield Static(
                "↑↓: choose a change · r: restore the value after it · esc: close",
                classes="hint",
            )

    def on_mount(self) -> None:
        super().on_mount()
        listing = self.query_one(OptionList)
        listing.focus()
        if self.changes:
            listing.highlighted = 0
            self._show(0)

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show(event.option_index)

    def _show(self, index: int) -> None:
        change = self.changes[index]
        text = change_line(change)
        if change.run_id:
            text.append(f"\nrun {change.run_id}", style="dim")
        text.append("\n\n")
        text.append_text(inline_diff(change.before, change.after))
        self.query_one(".diff", Static).update(text)

    @property
    def chosen(self) -> BlockChange | None:
        index = self.query_one(OptionList).highlighted
        return self.changes[index] if index is not None and self.changes else None

    def action_restore(self) -> None:
        if self.chosen is not None:
            self.dismiss(self.chosen.version)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
