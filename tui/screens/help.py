"""F1: the keys that work where the focus is, grouped by the widget that owns them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
        # The action takes the room; a long binding id folds rather than squeezing it to "Acti…"
        # on an 80-column terminal.
        table.add_column("Key", no_wrap=True)
        table.add_column("Action", ratio=3, min_width=16)
        table.add_column("Binding id (for \\[keymap])", style="dim", ratio=2, overflow="fold")
        for key, description, binding_id in self.rows:
            table.add_row(key, description, binding_id)
        with VerticalScroll(classes="box help"):
            yield Label(f"Keys · {self.pane}", classes="title")
            yield Static(table)
            yield Static("ctrl+p: every action · esc: close", classes="hint")


# Keys that every pane has but no binding of ours names: focus moves, lists, quitting.
GENERAL_ROWS: list[tuple[str, str, str]] = [
    ("tab / shift+tab", "Next / previous pane or field", ""),
    ("up / down", "Move in a list or the transcript", ""),
    ("pageup / pagedown", "One screen up / down in a list or the transcript", ""),
    ("home / end", "First / last item (the transcript: oldest / newest message)", ""),
    ("ctrl+q", "Quit", ""),
]


def describe(
    bindings: Iterable[tuple[str, BindingType]], display: Callable[[Binding], str] | None = None
) -> list[tuple[str, str, str]]:
    """Rows of (key, description, id) of the bindings that say what they do; ``display``
    shows a key as the user presses it (``[`` rather than ``left_square_bracket``)."""
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for key, binding in bindings:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        label = f"{binding.description}{binding.id or ''}"
        if label in seen:
            continue
        seen.add(label)
        shown = display(binding) if display is not None else key
        rows.append((shown, binding.description, binding.id or ""))
    return rows + [row for row in GENERAL_ROWS if row[1] not in seen]
