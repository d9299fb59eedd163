"""Tool calls in the transcript: one block per call with its return, and the approval prompt.

A call is folded to one line that says what it does ("memory_insert → human: + likes tea") and
how it went; opened, it shows its arguments as pretty JSON (live while they stream) and the
return. An :class:`ApprovalBlock` is a call that waits for a person: it asks inline and posts
:class:`ApprovalBlock.Decided`; the approvals feature (``tui/features/approvals.py``) answers.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from tui.tools import pretty_arguments, summary
from tui.transcript import Entry
from tui.widgets.messages import FoldedBlock

Status = Literal["called", "running", "success", "error"]
Decision = Literal["approve", "deny", "always"]
_GLYPHS = {"called": "", "running": " …", "success": " ✓", "error": " ✗ failed"}
_JSON = JSONHighlighter()


class ToolCallBlock(FoldedBlock):
    """A tool call and, once it came, its return. ``entry.text`` holds the arguments."""

    def __init__(self, entry: Entry, status: Status = "called") -> None:
        super().__init__(entry)
        self.add_class("tool_call")
        self.status: Status = status
        self.result: str | None = None

    @property
    def tool_name(self) -> str:
        return self.entry.title or "tool"

    def title(self) -> str:
        return f"⚙ {summary(self.tool_name, self.entry.text)}{_GLYPHS[self.status]}"

    def watch_collapsed(self) -> None:
        text = Text(("▶ " if self.collapsed else "▼ ") + self.title(), style="bold")
        if self.status == "error":
            text.stylize("red")
        if not self.collapsed:
            text.append("\n")
            text.append(self.body())
        self.update(text)

    def body(self) -> Text:
        text = Text("  arguments\n", style="dim")
        text.append_text(_JSON(Text(_indent(pretty_arguments(self.entry.text)))))
        if self.result is not None:
            label = "  returned (error)\n" if self.status == "error" else "  returned\n"
            text.append("\n" + label, style="dim")
            text.append(_indent(self.result))
        return text

    def add_arguments(self, fragment: str) -> None:
        """A streamed fragment of the arguments (Letta sends them piece by piece)."""
        self.set_text(self.entry.text + fragment)

    def set_text(self, text: str) -> None:
        self.entry.text = text
        self.watch_collapsed()  # the summary line changes too

    def settle(self) -> None:
        """The turn ended without a return for this call (it waits, or the turn failed)."""
        if self.status == "running":
            self.status = "called"
            self.watch_collapsed()

    def set_return(self, result: str, failed: bool) -> None:
        self.result = result
        self.status = "error" if failed else "success"
        self.set_class(failed, "failed")
        self.watch_collapsed()


class ApprovalBlock(ToolCallBlock):
    """A call waiting for a person: ``a`` approves, ``d`` denies with a reason, ``A`` approves
    this tool from now on. Shown open, focused when it arrives."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "decide('approve')", "Approve", id="approval.approve"),
        Binding("d", "decide('deny')", "Deny…", id="approval.deny"),
        Binding("A", "decide('always')", "Always approve", id="approval.always"),
    ]

    class Decided(Message):
        """The person answered the prompt (a reason for a denial is asked next)."""

        def __init__(self, block: ApprovalBlock, decision: Decision) -> None:
            super().__init__()
            self.block = block
            self.decision = decision

    def __init__(self, entry: Entry) -> None:
        super().__init__(entry, status="called")
        self.add_class("approval")
        self.answer: str | None = None
        self.collapsed = False

    @property
    def pending(self) -> bool:
        return self.answer is None

    def on_mount(self) -> None:
        super().on_mount()
        if self.pending:
            self.border_title = "⏸ approval needed"

    def title(self) -> str:
        line = f"⚙ {summary(self.tool_name, self.entry.text)}"
        return line if self.pending else f"{line} · {self.answer}{_GLYPHS[self.status]}"

    def body(self) -> Text:
        text = super().body()
        if self.pending:
            text.append("\n\n  ")
            always = f"always approve {self.tool_name}"
            for key, what in (("a", "approve"), ("d", "deny with a reason"), ("A", always)):
                text.append(f" {key} ", style="reverse bold")
                text.append(f" {what}   ")
        return text

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "decide":
            return self.pending
        return True

    def action_decide(self, decision: Decision) -> None:
        if self.pending:
            self.post_message(self.Decided(self, decision))

    def set_answer(self, answer: str) -> None:
        """The answer was sent: the prompt becomes a record of it."""
        self.answer = answer
        self.remove_class("approval")
        self.border_title = None
        self.collapsed = True
        self.watch_collapsed()
        self.refresh_bindings()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))
