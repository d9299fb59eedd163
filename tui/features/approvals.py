"""Approvals: answer a tool call that waits for a person, and show who is waiting.

The prompt itself is an :class:`~tui.widgets.tools.ApprovalBlock` in the transcript; its keys
(and the palette entries here) come to :meth:`Approvals.decide`. The answer is sent as Letta's
``{"type": "approval", "approvals": [...]}`` and the chat pane streams the rest of the same turn.
"always" first turns ``requires_approval`` off for that tool, then approves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from tui.client import ApprovalAnswer
from tui.errors import ClientError
from tui.parts import Command, Feature
from tui.screens.dialogs import TextDialog
from tui.widgets.tools import ApprovalBlock, Decision

if TYPE_CHECKING:
    from tui.app import ChinwagApp


class Approvals(Feature):
    """Keeps which conversations wait for approval (list entry, status bar) and answers them."""

    NAME = "approvals"
    COMMANDS: ClassVar[list[Command]] = [
        Command("approvals.approve", "Approve tool call", "Run the tool call that waits"),
        Command("approvals.deny", "Deny tool call", "Refuse the waiting tool call, with a reason"),
        Command(
            "approvals.always",
            "Always approve this tool",
            "Approve the waiting call and stop asking for this tool",
        ),
    ]

    def __init__(self, app: ChinwagApp) -> None:
        super().__init__(app)
        self.waiting: set[str] = set()

    # -- which conversations wait -----------------------------------------------------------

    def pending_block(self) -> ApprovalBlock | None:
        """The open conversation's prompt that waits for an answer, if any."""
        blocks = [b for b in self.app.messages.query(ApprovalBlock) if b.pending]
        return blocks[-1] if blocks else None

    def sync(self, focus: bool) -> None:
        """After a turn or an open: record whether the open conversation waits, and say so;
        after a turn the prompt takes the focus."""
        conversation = self.app.conversation
        if conversation is None:
            return
        block = self.pending_block()
        if block is not None:
            self.waiting.add(conversation.id)
        else:
            self.waiting.discard(conversation.id)
        self.show()
        if focus and block is not None and not self.app.streaming:
            block.focus()

    async def refresh(self, agent_id: str, conversation_ids: list[str]) -> None:
        """Learn from the server which of the agent's conversations wait, including ones this
        app never opened (another client's turn, or an earlier session). The open conversation
        is left to its transcript, which knows of an answer given a moment ago."""
        client = self.app.client
        if client is None:
            return
        try:
            found = await client.conversations_waiting(agent_id, conversation_ids)
        except ClientError:
            return  # a server without a runs list: only what this app saw is marked
        if self.app.status_bar() is None:  # the app closed meanwhile
            return
        open_id = self.app.conversation.id if self.app.conversation else None
        for conversation_id in {agent_id, *conversation_ids} - {open_id}:
            if conversation_id in found:
                self.waiting.add(conversation_id)
            else:
                self.waiting.discard(conversation_id)
        self.show()

    def show(self) -> None:
        conversation = self.app.conversation
        open_waits = conversation is not None and conversation.id in self.waiting
        if status := self.app.status_bar():
            status.waiting = "⏸ waiting for your approval" if open_waits else ""
        self.app.conversations.mark_waiting(self.waiting)
        self.app.refresh_bindings()

    def check(self, action: str) -> bool | None:
        return self.pending_block() is not None and not self.app.streaming

    # -- answering --------------------------------------------------------------------------

    def action_approve(self) -> None:
        self._answer_pending("approve")

    def action_deny(self) -> None:
        self._answer_pending("deny")

    def action_always(self) -> None:
        self._answer_pending("always")

    def _answer_pending(self, decision: Decision) -> None:
        block = self.pending_block()
        if block is None:
            self.app.notify("No tool call waits for approval here.")
            return
        self.decide(block, decision)

    def decide(self, block: ApprovalBlock, decision: Decision) -> None:
        """Answer ``block``: at once for approve and always, after asking why for deny."""
        if self.app.streaming:
            self.app.notify("A reply is still streaming.", severity="warning")
            return
        if decision != "deny":
            self.run(self.answer(block, decision, None), "answer approval", exclusive=True)
            return
        dialog = TextDialog(
            "Deny tool call",
            f"Why not? The agent reads this reason ({block.tool_name})",
            ok="Deny",
            cursor_blink=self.app.settings.cursor_blink,
        )

        def denied(reason: str | None) -> None:
            if reason is not None:
                self.run(self.answer(block, "deny", reason), "answer approval", exclusive=True)

        self.app.push_screen(dialog, denied)

    async def answer(self, block: ApprovalBlock, decision: Decision, reason: str | None) -> None:
        app = self.app
        agent, client, conversation = app.agent, app.client, app.conversation
        if agent is None or client is None or conversation is None:
            return
        if decision == "always":
            try:
                await client.set_tool_approval(agent.id, block.tool_name, False)
            except ClientError as exc:
                app.report(exc)
                return
        approve = decision != "deny"
        answer = "approved" if approve else "denied" + (f": {reason}" if reason else "")
        if decision == "always":
            answer = "approved (always from now on)"
        block.set_answer(answer)
        self.waiting.discard(conversation.id)
        self.show()
        app.composer.focus()
        call = ApprovalAnswer(block.entry.call_id, approve, reason or None)
        app.chat.run_turn(None, approvals=[call])
