"""F1: the keys that work where the focus is."""

from __future__ import annotations

from typing import Any, ClassVar

from tui.parts import Command, Feature
from tui.screens.help import HelpScreen, describe


class Help(Feature):
    """Names the pane that has the focus and lists its active bindings."""

    NAME = "help"
    COMMANDS: ClassVar[list[Command]] = [Command("help.open", "Help", "Keys of the focused pane")]

    def action_open(self) -> None:
        app = self.app
        focused = app.focused
        pane = "app"
        node: Any = focused
        while node is not None and not (getattr(node, "id", None) or "").endswith("pane"):
            node = node.parent
        if node is not None:
            pane = node.id.removesuffix("-pane")
        elif focused is not None:
            pane = focused.id or type(focused).__name__
        rows = describe(
            (
                (binding.key, binding)
                for binding in (a.binding for a in app.screen.active_bindings.values())
            ),
            display=app.get_key_display,
        )
        app.push_screen(HelpScreen(pane, rows))
