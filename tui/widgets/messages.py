"""The transcript pane: a bounded window of message blocks over a history of any length.

Listed messages render as cheap ``Static`` blocks (a Textual ``Markdown`` widget costs ~50 ms to
mount); only the reply being streamed is a live ``Markdown`` fed through ``get_stream()``. When
the view reaches the top the pane asks for the previous page and keeps what the reader sees in
place; the far side of the window is pruned so the number of mounted blocks stays bounded.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel
from rich.markdown import Markdown as RichMarkdown
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Markdown, Static

from tui.clipboard import copy_text
from tui.transcript import Entry, clock_of, entry_of

_MARKDOWN_HINT = re.compile(r"[*_`#>|~\[\]<]|^\s*(?:[-+]|\d+[.)])\s", re.MULTILINE)
_FOLDED_TITLES = {
    "system": "System prompt",
    "reasoning": "Reasoning",
    "tool_call": "Tool call",
    "tool_return": "Tool result",
    "event": "Event",
    "other": "Message",
}


class MessageBlock(Static, can_focus=True):
    """One transcript entry in a single widget (cheap to mount); focus it to copy it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy message", id="message.copy")
    ]

    def __init__(self, entry: Entry) -> None:
        classes = f"message {entry.kind}"
        if entry.failed:
            classes += " failed"
        if not entry.in_context:
            classes += " compacted"
        super().__init__(classes=classes)
        self.entry = entry

    def action_copy(self) -> None:
        said = copy_text(self.entry.text, self.app.copy_to_clipboard)
        self.notify(f"Message: {said}", timeout=4)

    def header(self) -> str:
        who = {"user": "you", "assistant": "assistant"}.get(self.entry.kind, self.entry.kind)
        parts = [who]
        if clock := clock_of(self.entry.date):
            parts.append(clock)
        if self.entry.failed:
            parts.append("⚠ failed")
        if not self.entry.in_context:
            parts.append("compacted")
        return " · ".join(parts)


def rendered(text: str) -> RichMarkdown | Text:
    """Markdown (code highlighted) when the text uses any; plain text, much cheaper, if not."""
    if _MARKDOWN_HINT.search(text):
        return RichMarkdown(text)
    return Text(text or " ")


class ChatBlock(MessageBlock):
    """User or assistant text, rendered as Markdown (code highlighted)."""

    def on_mount(self) -> None:
        self.border_title = self.header()
        self.update(rendered(self.entry.text))


class FoldedBlock(MessageBlock):
    """Reasoning, tool calls and returns, the system prompt: one line until opened."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "toggle", "Open/close", id="message.toggle")
    ]

    collapsed: reactive[bool] = reactive(True)

    def title(self) -> str:
        title = _FOLDED_TITLES.get(self.entry.kind, self.entry.kind)
        if self.entry.title:
            title = f"{title}: {self.entry.title}"
        if self.entry.failed:
            title += " ⚠ failed"
        return title

    def on_mount(self) -> None:
        self.watch_collapsed()

    def watch_collapsed(self) -> None:
        text = Text(("▶ " if self.collapsed else "▼ ") + self.title(), style="bold")
        if not self.collapsed:
            text.append("\n")
            text.append(textwrap.indent(self.entry.text, "  "), style="not bold")
        self.update(text)

    def action_toggle(self) -> None:
        self.collapsed = not self.collapsed

    def on_click(self) -> None:
        self.action_toggle()

    def set_text(self, text: str) -> None:
        self.entry.text = text
        if not self.collapsed:
            self.watch_collapsed()


class SummaryBlock(MessageBlock):
    """A compaction summary, with the counts when this client did the compaction."""

    def __init__(self, entry: Entry, counts: tuple[int, int] | None = None) -> None:
        super().__init__(entry)
        self.counts = counts

    def on_mount(self) -> None:
        self.set_counts(self.counts)
        self.update(rendered(self.entry.text))

    def set_counts(self, counts: tuple[int, int] | None) -> None:
        self.counts = counts
        title = "Summary of earlier messages"
        if counts:
            title += f" · {counts[0]} → {counts[1]} messages"
        self.border_title = title


class LiveBlock(MessageBlock):
    """The assistant text being streamed into a live Markdown.

    Fragments are appended in batches, at most ``FRAME`` apart and spaced further when an
    append is slow: appending re-parses the growing last paragraph, so appending every delta
    of a long single paragraph (thousands a second) would fall ever further behind. The whole
    text is rendered once more at the end (``finish``).
    """

    FRAME = 1 / 20

    def __init__(self, entry: Entry) -> None:
        super().__init__(entry)
        self.add_class("assistant", "live")
        self.markdown = Markdown("", classes="body")
        self._pending = ""
        self._timer: Timer | None = None
        self._interval = self.FRAME
        self._appending = asyncio.Lock()

    def compose(self) -> Iterable[Widget]:
        self.border_title = self.header()
        yield self.markdown

    async def write(self, fragment: str) -> None:
        self.entry.text += fragment
        self._pending += fragment
        if self._timer is None:
            self._timer = self.set_timer(self._interval, self._append)

    async def _append(self) -> None:
        self._timer = None
        async with self._appending:
            text, self._pending = self._pending, ""
            if not text or not self.is_attached:
                return
            started = time.perf_counter()
            await self.markdown.append(text)
            self._interval = max(self.FRAME, 2 * (time.perf_counter() - started))

    async def finish(self, note: str | None = None) -> None:
        """Render the whole text once (the batches may have split a Markdown construct)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        async with self._appending:
            self._pending = ""
            await self.markdown.update(self.entry.text)
        if note:
            self.border_title = f"{self.header()} · {note}"


def block_for(entry: Entry) -> MessageBlock:
    from tui.widgets.tools import ApprovalBlock, ToolCallBlock  # they build on FoldedBlock

    if entry.kind in ("user", "assistant"):
        return ChatBlock(entry)
    if entry.kind == "summary":
        return SummaryBlock(entry)
    if entry.kind == "tool_call":
        return ToolCallBlock(entry)
    if entry.kind == "approval":
        return ApprovalBlock(entry)
    return FoldedBlock(entry)


def blocks_for(messages: list[BaseModel]) -> list[MessageBlock]:
    """Blocks of a listed page: a tool's return (or a person's answer to an approval) joins the
    block of its call when both are in the page."""
    from tui.widgets.tools import ApprovalBlock, ToolCallBlock

    blocks: list[MessageBlock] = []
    calls: dict[str, ToolCallBlock] = {}
    for message in messages:
        entry = entry_of(message)
        call = calls.get(entry.call_id) if entry.call_id else None
        if entry.kind == "tool_return" and call is not None:
            call.set_return(entry.text, entry.failed)
            continue
        if entry.kind == "approval_response" and isinstance(call, ApprovalBlock):
            call.answer = entry.text
            call.collapsed = True
            continue
        block = block_for(entry)
        if isinstance(block, ToolCallBlock) and entry.call_id:
            calls[entry.call_id] = block
        blocks.append(block)
    return blocks


@dataclass
class _Part:
    block: MessageBlock
    text: str = ""


class Turn:
    """The blocks of one reply as it streams in, keyed by ``(message id, kind)``: every part of
    one model step may share an id (Letta), and the chunks of one part share it too."""

    def __init__(self, view: MessageList, user_block: MessageBlock | None) -> None:
        self.view = view
        self.user_block = user_block
        self.parts: dict[tuple[str, str], _Part] = {}
        self.calls: dict[str, MessageBlock] = {}  # tool_call_id -> its ToolCallBlock
        self.note: Static | None = None
        self.last_id: str | None = None

    async def feed(self, chunk: BaseModel) -> MessageBlock | None:
        """Add one streamed chunk: a new block for a new part, else append its fragment.

        Returns the block it changed; a tool's return completes its call's block."""
        from tui.widgets.tools import ApprovalBlock, ToolCallBlock

        entry = entry_of(chunk)
        kinds = ("assistant", "reasoning", "tool_call", "tool_return", "approval")
        if entry.kind not in kinds:
            return None
        call = self.calls.get(entry.call_id) if entry.call_id else None
        if entry.kind == "tool_return" and isinstance(call, ToolCallBlock):
            call.set_return(entry.text, entry.failed)
            return call
        key = (entry.id or f"{entry.kind}-{len(self.parts)}", entry.kind)
        self.last_id = entry.id or self.last_id
        part = self.parts.get(key)
        if part is None:
            block: MessageBlock
            if entry.kind == "assistant":
                block = LiveBlock(Entry(id=entry.id, kind="assistant", text="", date=entry.date))
            elif entry.kind == "tool_call":
                block = ToolCallBlock(Entry(**{**entry.__dict__, "text": ""}), status="running")
            elif entry.kind == "approval":
                block = ApprovalBlock(Entry(**{**entry.__dict__, "text": ""}))
            else:
                block = FoldedBlock(Entry(**{**entry.__dict__, "text": ""}))
            part = self.parts[key] = _Part(block)
            await self.view.mount_live(block)
            if isinstance(block, ApprovalBlock):
                block.focus()
        block = part.block
        if isinstance(block, ToolCallBlock):
            block.entry.title = block.entry.title or entry.title
            if entry.call_id and not block.entry.call_id:
                block.entry.call_id = entry.call_id
            if block.entry.call_id:
                self.calls[block.entry.call_id] = block
            block.add_arguments(entry.text)
        elif isinstance(block, LiveBlock):
            await block.write(entry.text)
        elif isinstance(block, FoldedBlock):
            part.text = entry.text if entry.kind == "tool_return" else part.text + entry.text
            block.set_text(part.text)
        return block

    def adopt(self, call_ids: list[str]) -> None:
        """Calls shown earlier (answered approvals) whose returns come in this turn."""
        for block in self.view.query(MessageBlock):
            if block.entry.call_id in call_ids and hasattr(block, "set_return"):
                self.calls[block.entry.call_id] = block

    async def restart(self) -> None:
        """Forget what was shown: the server is replaying the run from its start."""
        for part in self.parts.values():
            await part.block.remove()
        self.parts.clear()

    async def finish(
        self, stop_reason: str | None, error: str | None = None, *, interrupted: bool = False
    ) -> None:
        """Render final text; mark a cancelled or failed turn so the reader sees why it
        stopped (``interrupted``: cut because the app is quitting)."""
        note = None
        if stop_reason == "cancelled":
            note = "interrupted" if interrupted else "cancelled"
        elif error or (stop_reason and stop_reason not in ("end_turn", "max_steps")):
            note = "⚠ failed"
        for part in self.parts.values():
            if isinstance(part.block, LiveBlock):
                await part.block.finish(note)
            elif hasattr(part.block, "settle"):
                part.block.settle()
        if error:
            await self.view.mount_live(Static(f"⚠ {error}", classes="turn-error"))
        if note and self.user_block is not None:
            self.user_block.add_class("failed" if note != "cancelled" else "cancelled")

    def message_ids(self) -> set[str]:
        """The ids of the messages this reply stored (parts of one step share one on Letta)."""
        return {p.block.entry.id for p in self.parts.values() if p.block.entry.id}

    def text(self) -> str:
        return "".join(
            p.block.entry.text for p in self.parts.values() if isinstance(p.block, LiveBlock)
        )


class MessageList(VerticalScroll):
    """Scrollable, anchored transcript with a bounded window of mounted blocks.

    ``home`` / ``end`` jump to the oldest / newest message in one press (the chat pane loads
    that page directly); ``pageup`` / ``pagedown`` move exactly one screen, also across a page
    that is still loading: the rows not yet there are owed and scrolled once it is in.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "oldest", "Oldest message", id="messages.oldest", show=False),
        Binding("end", "newest", "Newest message", id="messages.newest", show=False),
    ]

    class NeedOlder(Message):
        """The reader reached the top and older messages exist."""

    class NeedNewer(Message):
        """The reader reached the bottom of a window whose newest side was pruned."""

    class JumpOldest(Message):
        """The reader asked for the first message of the conversation."""

    class JumpNewest(Message):
        """The reader asked for the newest message of the conversation."""

    def __init__(self, window: int = 90, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.window = window
        self.has_older = False
        self.has_newer = False
        self.fetching = False
        self._painted_size = Size(0, 0)
        # Rows a page key asked for beyond the loaded edge (negative: up), paid after a load.
        self._owed = 0

    def on_resize(self, event: events.Resize) -> None:
        # When the view shrinks while anchored (a banner appears), Textual scrolls it in the same
        # layout pass but may keep painting the scrollbar from before; repaint it afterwards.
        # Only for the view's own size: content growing (a streamed reply) resizes too.
        if event.size != self._painted_size:
            self._painted_size = event.size
            self.call_after_refresh(self.vertical_scrollbar.refresh)

    # -- reading the window ---------------------------------------------------------------

    @property
    def blocks(self) -> list[MessageBlock]:
        return [c for c in self.children if isinstance(c, MessageBlock)]

    @property
    def oldest_id(self) -> str | None:
        return next((b.entry.id for b in self.blocks if b.entry.id), None)

    @property
    def newest_id(self) -> str | None:
        return next((b.entry.id for b in reversed(self.blocks) if b.entry.id), None)

    def entries(self) -> list[Entry]:
        return [b.entry for b in self.blocks]

    # -- filling it ------------------------------------------------------------------------

    async def show(self, messages: list[BaseModel], has_older: bool) -> None:
        """Replace the window with the newest page and stick to the bottom."""
        await self.remove_children()
        self.has_older, self.has_newer = has_older, False
        self._owed = 0
        await self.mount_all(blocks_for(messages))
        if self.blocks:
            await self._laid_out(self.blocks[-1])
        self.anchor()

    async def show_around(
        self, messages: list[BaseModel], has_older: bool, has_newer: bool, mark: str
    ) -> None:
        """Replace the window with ``messages`` and bring the one with id ``mark`` into view,
        marked (a search hit); the view does not follow the bottom."""
        await self.remove_children()
        self.has_older, self.has_newer = has_older, has_newer
        self.anchor(False)
        blocks = blocks_for(messages)
        await self.mount_all(blocks)
        target = next((b for b in blocks if b.entry.id == mark), None)
        if target is None:
            return
        target.add_class("marked")
        await self._laid_out(target)
        self.scroll_to_widget(target, animate=False, center=True, immediate=True)
        target.focus(scroll_visible=False)

    async def show_oldest(self, messages: list[BaseModel], has_newer: bool) -> None:
        """Replace the window with the oldest page and show its top."""
        await self.remove_children()
        self.has_older, self.has_newer = False, has_newer
        self._owed = 0
        self.anchor(False)
        await self.mount_all(blocks_for(messages))
        self.scroll_home(animate=False, immediate=True)

    # -- moving through it ----------------------------------------------------------------

    def action_oldest(self) -> None:
        self._owed = 0
        if self.has_older:
            self.post_message(self.JumpOldest())
        else:
            self.scroll_home(animate=False, immediate=True)

    def action_newest(self) -> None:
        self._owed = 0
        if self.has_newer:
            self.post_message(self.JumpNewest())
        else:
            self.anchor()

    def action_page_up(self) -> None:
        self.move_by(-self.scrollable_content_region.height)

    def action_page_down(self) -> None:
        self.move_by(self.scrollable_content_region.height)

    def move_by(self, rows: int) -> None:
        """Scroll ``rows`` (one screen per page key) from where the last move ended, not from
        where an animation happens to be; rows beyond a loaded edge with more behind it are
        owed until that page is in."""
        want = self.scroll_y + self._owed + rows
        self._owed = 0
        if want < 0 and self.has_older:
            self._owed = round(want)
            want = 0
        elif want > self.max_scroll_y and self.has_newer:
            self._owed = round(want - self.max_scroll_y)
            want = self.max_scroll_y
        self.scroll_to(y=max(0, min(want, self.max_scroll_y)), animate=False, immediate=True)
        if self._owed:
            self.check_edges()

    def pay_owed(self) -> None:
        """After a page came in: scroll the rows still owed to the page keys."""
        if self._owed:
            self.move_by(0)

    def check_edges(self) -> None:
        """Ask for more if the view rests on an edge with more beyond it (after each load, and
        when a first page is shorter than the screen)."""
        if self.fetching:
            return
        if self.has_older and self.scroll_y <= 0:
            self.post_message(self.NeedOlder())
        elif self.has_newer and self.scroll_y >= self.max_scroll_y:
            self.post_message(self.NeedNewer())

    async def prepend(self, messages: list[BaseModel], has_older: bool) -> None:
        """Add an older page above, keep the reader's view still, prune the newest side."""
        self.has_older = has_older
        blocks = blocks_for(messages)
        first = self.blocks[0] if self.blocks else None
        if not blocks or first is None:
            await self.mount_all(blocks)
            return
        offset, prior = self.scroll_y - first.virtual_region.y, first.virtual_region.y
        # Prune the newest side in the same layout pass as the mount: nothing above it moves,
        # and one layout per page instead of two keeps paging cheap.
        current = self.blocks
        excess = len(current) + len(blocks) - self.window
        doomed = [b for b in current[-excess:] if b is not first] if excess > 0 else []
        if doomed:
            self.has_newer = True
            self.anchor(False)  # the newest side is gone: do not chase the bottom
        mounting = self.mount_all(blocks, before=first)
        removing = self.remove_children(doomed) if doomed else None
        await mounting
        await self._hold_still(first, offset, prior)
        if removing is not None:
            await removing

    async def append_page(self, messages: list[BaseModel], has_newer: bool) -> None:
        """Add a newer page below (after pruning), prune the oldest side, keep the view still."""
        self.has_newer = has_newer
        blocks = blocks_for(messages)
        last = self.blocks[-1] if self.blocks else None
        await self.mount_all(blocks)
        if last is not None:
            await self._prune_oldest(last, force=True)

    async def add_new(self, messages: list[BaseModel]) -> None:
        """Add messages stored meanwhile (by another client) at the bottom."""
        await self.remove_children(".hint")
        blocks = blocks_for(messages)
        await self.mount_all(blocks)
        if blocks:
            await self._prune_oldest(blocks[-1])

    async def mount_live(self, widget: Widget) -> None:
        """Mount a block of the reply being streamed at the bottom."""
        await self.mount(widget)
        await self._prune_oldest(widget)

    async def add_summary(self, text: str, counts: tuple[int, int]) -> SummaryBlock:
        block = SummaryBlock(Entry(id="", kind="summary", text=text), counts)
        await self.mount_live(block)
        return block

    async def begin_turn(self, user_text: str | None) -> Turn:
        """Start a reply; the user's block is shown at once (``None`` when attaching)."""
        await self.remove_children(".hint")
        block = ChatBlock(Entry(id="", kind="user", text=user_text)) if user_text else None
        if block is not None:
            await self.mount_live(block)
        self.anchor()
        return Turn(self, block)

    async def _prune_oldest(self, keep: Widget, force: bool = False) -> None:
        """Drop blocks beyond the window on the oldest side; ``keep`` stays where it is seen
        unless the view follows the bottom (``force`` for paging, where the reader is reading).
        """
        excess = len(self.blocks) - self.window
        if excess <= 0:
            return
        offset, prior = self.scroll_y - keep.virtual_region.y, keep.virtual_region.y
        await self.remove_children(self.blocks[:excess])
        self.has_older = True
        if force or not self.sticks_to_bottom:
            await self._hold_still(keep, offset, prior)

    async def _hold_still(self, widget: Widget, offset: float, prior: int) -> None:
        """Once the new layout is in (``widget`` moved from ``prior``), scroll so ``widget`` is
        where the reader saw it. Bounded: a few refreshes at most."""
        # Lay out now rather than on the screen's next update tick: the scroll below then
        # lands in the same frame as the new page (Textual internals, used only if present).
        screen = self.screen
        layout_now = getattr(screen, "_refresh_layout", None)
        pending = getattr(screen, "_layout_required", False)
        if widget.virtual_region.y == prior and pending and callable(layout_now):
            layout_now()
            screen._layout_required = False
        for _ in range(30):
            if widget.virtual_region.y != prior:
                break
            await self._next_refresh()
            if widget.virtual_region.y != prior:
                break
        self.scroll_to(y=widget.virtual_region.y + offset, animate=False, immediate=True)

    async def _laid_out(self, widget: Widget) -> None:
        """Wait (a few refreshes at most) until ``widget`` has been given a size."""
        for _ in range(30):
            if widget.size.height > 0:
                return
            await self._next_refresh()

    def _next_refresh(self) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.call_after_refresh(lambda: done.done() or done.set_result(None))
        return done

    @property
    def sticks_to_bottom(self) -> bool:
        """Anchored and not scrolled away by the reader."""
        return bool(self._anchored and not self._anchor_released)

    # -- asking for more -------------------------------------------------------------------

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self.fetching:
            return
        if new <= 0 and self.has_older and self.max_scroll_y > 0:
            self.post_message(self.NeedOlder())
        elif new >= self.max_scroll_y and self.has_newer and new > old:
            self.post_message(self.NeedNewer())

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll_y <= 0 and self.has_older and not self.fetching:
            self.post_message(self.NeedOlder())
