"""The message editor under the transcript: ``enter`` sends, ``ctrl+j`` starts a new line."""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.strip import Strip
from textual.widgets import TextArea


class Composer(TextArea):
    """A multi-line draft; keeps its text when sending fails so nothing typed is lost."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Send", id="composer.send", priority=True),
        Binding("ctrl+j", "newline", "New line", id="composer.newline"),
    ]

    class Submitted(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, cursor_blink: bool = True, **kwargs: object) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, **kwargs)  # type: ignore[arg-type]
        self.cursor_blink = cursor_blink
        self.placeholder = "Message…  (enter: send · ctrl+j: new line)"

    def render_line(self, y: int) -> Strip:
        # With no room at all (a very narrow terminal) Textual's placeholder wrapping divides
        # by the width and crashes: draw nothing until there is room again.
        if self.content_size.width < 1:
            return Strip.blank(self.size.width)
        return super().render_line(y)

    def action_submit(self) -> None:
        # ``enter`` is a priority binding, so the app runs this as soon as the key arrives,
        # while keys typed just before it may still wait in this widget's queue. Read the draft
        # after them, or a fast typist (or a paste) would send a truncated message.
        self.call_later(self._submit_now)

    def _submit_now(self) -> None:
        text = self.text.strip()
        if text:
            self.clear()
            self.post_message(self.Submitted(text))

    def action_newline(self) -> None:
        self.insert("\n")

    async def _on_key(self, event: events.Key) -> None:
        # A new-line key is handled here, in the order the keys arrived: as a binding it would
        # run only after its event had bubbled up to the app, by which time the letters typed
        # after it are already in the draft.
        if event.key in self._newline_keys():
            event.stop()
            event.prevent_default()
            self.action_newline()
            return
        await super()._on_key(event)

    def _newline_keys(self) -> set[str]:
        """The keys bound to ``newline`` here, after the user's keymap."""
        return {
            key
            for key, bindings in self._bindings.key_to_bindings.items()
            if any(binding.action == "newline" for binding in bindings)
        }

    def restore(self, text: str) -> None:
        """Put a draft back (e.g. after the server said the conversation is busy), ahead of
        anything typed since."""
        typed = self.text
        self.text = f"{text}\n{typed}" if typed.strip() else text
        self.move_cursor(self.document.end)
