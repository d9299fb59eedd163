"""Modal dialogs: new agent, new conversation, rename, confirm, compact, connection error.

Each dialog returns its result through ``dismiss`` so the app's workers do the network calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.message_pump import MessagePump
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static, TextArea

from shared_schema import ModelInfo


async def settled(node: MessagePump) -> None:
    """Wait until ``node`` has handled the messages already sent to it."""
    done = asyncio.Event()
    node.call_later(done.set)
    await done.wait()


class KeysFirst(ModalScreen):
    """A modal screen that receives every key typed after it was pushed.

    Between ``push_screen`` and the moment the screen's first widget takes the focus, the app
    would hand keys to nobody; it gives them to :meth:`early_key` instead (see
    ``ChinwagApp.on_event``) and the screen replays them, in order and as if typed then, once
    its fields are there (Enter can submit it; keys after that go to the screen below). Set
    ``focus_after`` to the widget the screen below should focus when this one is dismissed with
    a result: it is focused before the screen below resumes, so keys typed next land there.
    """

    focus_after: Widget | None = None
    # Set on screens that show their fields only once something is loaded; they call
    # ``take_keys`` themselves when the fields are there.
    LOADS_CONTENT = False

    def __init__(self) -> None:
        super().__init__()
        self.ready = False
        self.mounted = asyncio.Event()
        self._early: list[events.Key] = []

    def early_key(self, event: events.Key) -> None:
        self._early.append(event)

    def on_mount(self) -> None:
        self.mounted.set()
        if not self.LOADS_CONTENT:
            # Not from this handler: replaying waits on this screen's own message queue.
            self.run_worker(self.take_keys(), group="keys", description="replay early keys")

    async def take_keys(self) -> None:
        """Replay the keys held so far, then take keys directly."""
        # Keys typed while these are replayed are held too, so none can overtake them.
        while self._early and self.is_active:
            await self._replay(self._early.pop(0))
        if self._early:  # a replayed key closed the screen: the rest belong to the one below
            below = self.app.screen
            for event in self._early:  # at once, so that no key typed later overtakes them
                (below.focused or below)._forward_event(events.Key(event.key, event.character))
            self._early.clear()
        self.ready = True

    async def _replay(self, event: events.Key) -> None:
        """Handle an early key as if it were typed now: a priority binding of this screen runs
        (Enter may close it), other keys go to the focused widget. Each key is handled before
        the next: a Tab has moved the focus before the next key goes to the focused widget."""
        active = self.active_bindings.get(event.key)
        priority = active is not None and active.binding.priority and active.node is self
        if priority and await self.app.run_action(active.binding.action, self):
            return
        target = self.focused or self
        target._forward_event(events.Key(event.key, event.character))
        node: DOMNode | None = target
        while node is not None:  # the key bubbles up to the app, where Tab is bound
            await settled(node)
            node = node.parent

    def dismiss(self, result: object = None):  # type: ignore[no-untyped-def,override]
        if result is not None and self.focus_after is not None and len(self.app.screen_stack) > 1:
            below = self.app.screen_stack[-2]
            if self.focus_after.screen is below and self.focus_after.focusable:
                below.set_focus(self.focus_after)
        return super().dismiss(result)


class Dialog(KeysFirst):
    """A centred box; ``ctrl+s`` submits the form, ``escape`` cancels (dismisses with ``None``).

    Enter in a text field or on a button is a priority binding of the dialog rather than the
    widget's own message, so the dialog closes while the app handles that key: keys typed right
    after it go to the screen below, not into the closing dialog's field.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="dialog.submit", priority=True),
        Binding("enter", "enter", show=False, priority=True),
    ]
    DEFAULT_CLASSES = "dialog"

    def action_cancel(self) -> None:
        self.dismiss(None)

    async def action_submit(self) -> None:
        if self.focused is not None:
            await settled(self.focused)  # the field holds everything typed before
        self.submit()

    async def action_enter(self) -> None:
        focused = self.focused
        if not isinstance(focused, (Input, Button)):
            raise SkipAction()  # a new line in a text area, a choice in a list: theirs
        await settled(focused)
        if isinstance(focused, Button):
            self._pressed(focused)
        else:
            self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._pressed(event.button)

    def _pressed(self, button: Button) -> None:
        if button.id == "cancel":
            self.dismiss(None)
        else:
            self.submit()

    def submit(self) -> None:
        raise NotImplementedError

    @staticmethod
    def buttons(ok: str, variant: str = "primary") -> Horizontal:
        return Horizontal(
            Button(ok, variant=variant, id="ok"),  # type: ignore[arg-type]
            Button("Cancel", id="cancel"),
            classes="buttons",
        )

    @staticmethod
    def keys_hint(ok: str) -> Static:
        return Static(f"ctrl+s: {ok.lower()} · tab: next field · esc: cancel", classes="hint")


@dataclass
class NewAgent:
    name: str
    model: str | None
    persona: str
    human: str


class NewAgentDialog(Dialog):
    """Name, model (from ``GET /v1/models/``), persona and human memory blocks."""

    def __init__(self, models: list[ModelInfo], *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.models = models
        self.cursor_blink = cursor_blink
        self._submit_waiting = False
        self._models_known = bool(models)

    @staticmethod
    def _choices(models: list[ModelInfo]) -> tuple[list[tuple[str, str]], str | None]:
        options = [(f"{m.handle}  ({m.context_window:,} tokens)", m.handle) for m in models]
        # A configured provider first; not Letta's hosted models (letta/…), which a
        # self-hosted server lists but can only use with Letta's cloud service.
        default = next(
            (m.handle for m in models if m.provider != "builtin" and _works_locally(m)), None
        )
        default = default or next((m.handle for m in models if _works_locally(m)), None)
        return options, default or (models[0].handle if models else None)

    def set_models(self, models: list[ModelInfo]) -> None:
        """Fill the model choice once ``GET /v1/models/`` answered (the dialog opens at once);
        a submit that was waiting for them goes on."""
        composed_without = not self.models
        self.models = models
        self._models_known = True
        if self.ready and composed_without:
            self._fill_models()
        if self._submit_waiting:
            self._submit_waiting = False
            self.submit()

    def _fill_models(self) -> None:
        options, default = self._choices(self.models)
        select = self.query_one("#model", Select)
        select.set_options(options)
        if default is not None:
            select.value = default

    def compose(self) -> Iterable[Widget]:
        options, default = self._choices(self.models)
        with Vertical(classes="box"):
            yield Label("New agent", classes="title")
            yield Label("Name")
            yield Input(placeholder="my-agent", id="name", select_on_focus=False)
            yield Label("Model")
            yield Select(
                options,
                value=default or Select.NULL,
                id="model",
                allow_blank=not options,
                prompt="loading models…",
            )
            yield Label("Persona")
            yield TextArea(
                "I am a helpful assistant.", id="persona", classes="short", tab_behavior="focus"
            )
            yield Label("Human")
            yield TextArea("", id="human", classes="short", tab_behavior="focus")
            yield self.buttons("Create")
            yield self.keys_hint("Create")

    def on_mount(self) -> None:
        for widget in self.query("Input, TextArea"):
            widget.cursor_blink = self.cursor_blink  # type: ignore[attr-defined]
        select = self.query_one("#model", Select)
        if self.models and select.is_blank():  # the models came between compose and mount
            self._fill_models()

    def submit(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("Give the agent a name.", severity="warning")
            return
        model = self.query_one("#model", Select).value
        if not isinstance(model, str):  # the "loading models…" line is not a model
            if not self._models_known:
                self._submit_waiting = True
                self.notify("Creating the agent once the models are known…", timeout=3)
                return
            model = self._choices(self.models)[1]  # None: the server's own default
        self.dismiss(
            NewAgent(
                name=name,
                model=model,
                persona=self.query_one("#persona", TextArea).text,
                human=self.query_one("#human", TextArea).text,
            )
        )


def _works_locally(model: ModelInfo) -> bool:
    return not model.handle.startswith("letta/")


class TextDialog(Dialog):
    """One line of text: new conversation (summary) and rename."""

    def __init__(
        self, title: str, label: str, value: str = "", ok: str = "OK", *, cursor_blink: bool = True
    ) -> None:
        super().__init__()
        self.title_text, self.label, self.value, self.ok = title, label, value, ok
        self.cursor_blink = cursor_blink

    def compose(self) -> Iterable[Widget]:
        with Vertical(classes="box"):
            yield Label(self.title_text, classes="title")
            yield Label(self.label)
            field = Input(self.value, id="text", select_on_focus=False)
            field.cursor_blink = self.cursor_blink
            yield field
            yield self.buttons(self.ok)
            yield self.keys_hint(self.ok)

    def submit(self) -> None:
        self.dismiss(self.query_one("#text", Input).value.strip())


class ConfirmDialog(Dialog):
    """Yes or no, with the consequence spelled out."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "yes", "Yes", id="dialog.yes")]

    def __init__(self, title: str, question: str, ok: str = "Delete") -> None:
        super().__init__()
        self.title_text, self.question, self.ok = title, question, ok

    def compose(self) -> Iterable[Widget]:
        with Vertical(classes="box"):
            yield Label(self.title_text, classes="title")
            yield Static(self.question, classes="question")
            yield self.buttons(self.ok, variant="error")

    def action_yes(self) -> None:
        self.submit()

    def submit(self) -> None:
        self.dismiss(True)


@dataclass
class ContextFigures:
    """What the compaction dialog shows before asking."""

    in_context: int
    estimated_tokens: int
    context_window: int | None


class CompactDialog(Dialog):
    """Confirm a compaction: mode, in-context messages and estimated tokens; then progress."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "confirm", "Compact", id="compact.confirm")
    ]

    def action_confirm(self) -> None:
        self.submit()

    def __init__(self, figures: ContextFigures) -> None:
        super().__init__()
        self.figures = figures

    def compose(self) -> Iterable[Widget]:
        f = self.figures
        window = f" of {f.context_window:,}" if f.context_window else ""
        with Vertical(classes="box"):
            yield Label("Compact this conversation", classes="title")
            yield Static(
                f"In context now: {f.in_context} messages, about {f.estimated_tokens:,} tokens"
                f"{window}.\nThe oldest part is replaced by a summary written by the model; "
                "the full history stays readable (toggle compacted history).",
                classes="question",
            )
            with RadioSet(id="mode"):
                yield RadioButton("Sliding window (summarize the oldest ~30%)", value=True)
                yield RadioButton("All (summarize everything after the system prompt)")
            yield self.buttons("Compact (c)")

    def submit(self) -> None:
        all_mode = self.query_one("#mode", RadioSet).pressed_index == 1
        self.dismiss("all" if all_mode else "sliding_window")


class ConnectionErrorScreen(KeysFirst):
    """The server cannot be used: say why, with the URL tried; ``r`` retries, ``q`` quits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry", id="connection.retry"),
        Binding("q", "app.quit", "Quit", id="connection.quit"),
    ]
    DEFAULT_CLASSES = "dialog"

    def __init__(self, message: str, url: str, *, token: bool = False) -> None:
        super().__init__()
        self.message, self.url, self.token = message, url, token

    def compose(self) -> Iterable[Widget]:
        with Vertical(classes="box error"):
            yield Label("Cannot use the server", classes="title")
            yield Static(self.message, id="reason", classes="question")
            yield Static(f"URL tried: {self.url}", id="url")
            if self.token:
                advice = (
                    "The server is there but refused the token. Check it: `--token`, "
                    "LETTA_API_KEY, or the profile's `token` in the config file."
                )
            else:
                advice = (
                    "Start a server with `chinwag serve`, or run `chinwag --server URL "
                    "[--token TOKEN]`."
                )
            yield Static(f"{advice}  r: retry · q: quit", classes="hint")

    def action_retry(self) -> None:
        self.dismiss(True)
