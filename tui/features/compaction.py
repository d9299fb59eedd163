"""Compaction: show the context figures, ask how to compact, compact, show the summary."""

from __future__ import annotations

from typing import ClassVar

from tui.errors import ClientError, ConversationBusy
from tui.parts import Command, Feature
from tui.screens.dialogs import CompactDialog, ContextFigures
from tui.widgets.messages import SummaryBlock


class Compaction(Feature):
    """``ctrl+k``: the dialog, then the compaction as a worker, then the summary in view."""

    NAME = "compaction"
    COMMANDS: ClassVar[list[Command]] = [
        Command(
            "compaction.open", "Compact conversation", "Summarize the oldest part of the context"
        ),
    ]

    def action_open(self) -> None:
        chat = self.app.chat
        conversation = chat.conversation
        if conversation is None:
            self.app.notify("Open a conversation first.")
            return
        count = chat.context_count
        if count is None:
            count = len(conversation.in_context_message_ids)
        figures = ContextFigures(count, chat.context_tokens(), chat.context_window())

        def chosen(mode: str | None) -> None:
            if mode:
                self.run(self.compact(mode), "compact", exclusive=True)

        self.app.push_screen(CompactDialog(figures), chosen)

    async def compact(self, mode: str) -> None:
        app = self.app
        chat, client = app.chat, app.client
        conversation = chat.conversation
        if conversation is None or client is None:
            return
        app.set_activity("compacting…")
        try:
            result = await client.compact(conversation.id, mode)  # type: ignore[arg-type]
        except ConversationBusy as exc:
            chat.set_busy(exc.run_id)
            app.notify("Cannot compact while a reply is running.", severity="warning")
            return
        except ClientError as exc:
            title = "Nothing to compact" if exc.status == 400 else "Compaction failed"
            app.notify(exc.message, title=title, severity="warning")
            return
        finally:
            app.set_activity("")
        await chat.reload_newest()
        view = chat.messages
        counts = (result.num_messages_before, result.num_messages_after)
        summaries = view.query(SummaryBlock)
        if summaries:
            summary = summaries.last()
            summary.set_counts(counts)
        else:
            summary = await view.add_summary(result.summary, counts)
        # The summary is the news: bring it (with its counts) into view.
        view.anchor(False)
        view.call_after_refresh(view.scroll_to_widget, summary, animate=False, top=True)
        app.notify(f"Compacted: {counts[0]} → {counts[1]} messages", title="Compaction done")
        chat.refresh_context()
