"""A one-column bar between panes; drag it to resize the pane on its left."""

from __future__ import annotations

from textual import events
from textual.message import Message
from textual.widget import Widget


class Splitter(Widget):
    """Drag with the mouse; keyboard users press ``[`` / ``]`` in a side pane instead."""

    MIN_WIDTH = 12

    def __init__(self, target: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.target = target
        self._dragging = False

    def render(self) -> str:
        return "┃\n" * max(1, self.size.height)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self._dragging = True
        self.capture_mouse()
        event.stop()

    class Moved(Message):
        """A drag ended: the pane ``target`` has its new width (to be kept)."""

        def __init__(self, target: str) -> None:
            super().__init__()
            self.target = target

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._dragging:
            self.post_message(self.Moved(self.target))
        self._dragging = False
        self.release_mouse()
        event.stop()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if not self._dragging:
            return
        pane = self.screen.query_one(self.target)
        width = max(self.MIN_WIDTH, event.screen_x - pane.region.x)
        pane.styles.width = min(width, self.screen.size.width // 2)
