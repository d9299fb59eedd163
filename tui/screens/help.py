"""F1: the keys that work where the focus is, grouped by the widget that owns them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Label, Static

from tui.screens.dialogs import KeysFirst


class HelpScreen(KeysFirst):
    """Lists the active bindings (with their ids, for remapping in the config file)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close", id="help.close")
    ]
    DEFAULT_CLASSES = "dialog"

    def __init__(self, pane: str, bindings: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.pane, self.rows = pane, bindings

    def compose(self) -> Iterable[Widget]:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("Key", no_wrap=True)
        table.add_column("Action")
        table.add_column("Binding id (for \\[keymap])", style="dim", no_wrap=True)
        for key, description, binding_id in self.rows:
            table.add_row(key, description, binding_id)
        with VerticalScroll(classes="box help"):
            yield Label(f"Keys · {self.pane}", classes="title")
            yield Static(table)
            yield Static("ctrl+p: every action · esc: close", classes="hint")


def describe(bindings: Iterable[tuple[str, BindingType]]) -> list[tuple[str, str, str]]:
    """Rows of (key, description, id) for the bindings that have an id (the remappable ones)."""
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for key, binding in bindings:
        if not isinstance(binding, Binding) or not binding.description or not binding.id:
            continue
        label = f"{binding.description}{binding.id or ''}"
        if label in seen:
            continue
        seen.add(label)
        rows.append((key, binding.description, binding.id or ""))
    return rows
