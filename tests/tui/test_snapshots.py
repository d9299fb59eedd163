"""Screenshots of every screen, dialog and state that matters; stable from run to run.

The app talks to a :class:`CannedClient` (fixed data), with a frozen clock, no cursor blink and
no latency figure (see ``pinned_settings``). Each scenario is a name, the client to use, the
terminal size and what to do before the picture is taken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.tui.canned import CannedClient, canned_app
from tests.tui.helpers import wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.panes.memory import BlockCard
from tui.widgets.messages import FoldedBlock, LiveBlock, MessageBlock, SummaryBlock
from tui.widgets.tools import ApprovalBlock, ToolCallBlock

Step = Callable[[Pilot], Awaitable[None]]


async def settle(pilot: Pilot) -> None:
    await wait_for_workers(pilot)
    await pilot.pause()


async def opened(pilot: Pilot) -> None:
    await wait_until(pilot, lambda: len(pilot.app.query(MessageBlock)) >= 10, what="transcript")
    await settle(pilot)


def dialog_after(*keys: str, focus: str | None = None) -> Step:
    async def run(pilot: Pilot) -> None:
        await opened(pilot)
        if focus:
            pilot.app.action_focus(focus)  # type: ignore[attr-defined]
        await pilot.press(*keys)
        await wait_until(pilot, lambda: len(pilot.app.screen_stack) > 1, what="a dialog")
        # Its fields there (the agent detail view fills in once the agent is read).
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "ready", True), what="fields")
        # Network work behind the dialog done (e.g. its model list); a worker waiting on the
        # dialog's answer keeps running.
        await wait_until(
            pilot,
            lambda: not [w for w in pilot.app.workers if w.is_running and w.group != "dialog"],
            what="workers behind the dialog",
        )
        # The command palette's own input blinks whatever the app's setting: still for the shot.
        for typed in pilot.app.screen.query(Input):
            typed.cursor_blink = False
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    return run


async def expand_blocks(pilot: Pilot) -> None:
    await opened(pilot)
    for block in pilot.app.query(FoldedBlock).results():
        if block.entry.kind != "system":
            block.action_toggle()
    await pilot.pause()


async def mid_stream(pilot: Pilot) -> None:
    await opened(pilot)
    await pilot.press(*"schedule?", "enter")
    await wait_until(
        pilot,
        lambda: any("Shape at" in b.entry.text for b in pilot.app.query(LiveBlock)),
        what="partial reply",
    )
    await pilot.pause(0.1)


async def finished_reply(pilot: Pilot) -> None:
    await opened(pilot)
    pilot.app.settings.client_factory(None, None).stream_gate.set()  # type: ignore[attr-defined]
    await pilot.press(*"schedule?", "enter")
    await settle(pilot)


async def busy(pilot: Pilot) -> None:
    await opened(pilot)
    await pilot.press(*"are you there?", "enter")
    await wait_until(pilot, lambda: pilot.app.chat.busy_run_id is not None, what="the banner")
    await settle(pilot)
    pilot.app.messages.scroll_end(animate=False, immediate=True)
    await pilot.pause()


async def compaction_result(pilot: Pilot) -> None:
    await dialog_after("ctrl+k")(pilot)
    await pilot.click("#ok")
    await wait_until(
        pilot, lambda: any(b.counts for b in pilot.app.query(SummaryBlock)), what="counts"
    )
    await settle(pilot)


async def compacted_history(pilot: Pilot) -> None:
    await opened(pilot)
    await pilot.press("ctrl+g")
    await settle(pilot)


async def tool_call_opened(pilot: Pilot) -> None:
    await opened(pilot)
    block = next(b for b in pilot.app.query(ToolCallBlock) if b.tool_name == "memory_insert")
    block.action_toggle()
    await pilot.pause()


async def approval_prompt(pilot: Pilot) -> None:
    await wait_until(pilot, lambda: pilot.app.query(ApprovalBlock), what="the prompt")
    await settle(pilot)


async def memory_live_edit(pilot: Pilot) -> None:
    await opened(pilot)
    await pilot.press("f2")
    await wait_until(pilot, lambda: pilot.app.query(BlockCard), what="memory blocks")
    pilot.app.action_focus("composer")
    await pilot.press(*"I bake on Saturdays", "enter")
    await wait_until(
        pilot, lambda: any(c.before is not None for c in pilot.app.query(BlockCard)), what="edit"
    )
    await settle(pilot)


async def memory_history(pilot: Pilot) -> None:
    await opened(pilot)
    await pilot.press("f2")
    await wait_until(pilot, lambda: pilot.app.query(BlockCard), what="memory blocks")
    await settle(pilot)
    pilot.app.query(BlockCard)[1].focus()
    await pilot.press("h")
    await wait_until(pilot, lambda: len(pilot.app.screen_stack) > 1, what="the history")
    await settle(pilot)


async def search_results(pilot: Pilot) -> None:
    await opened(pilot)
    await pilot.press("ctrl+f")
    await wait_until(pilot, lambda: len(pilot.app.screen_stack) > 1, what="the search")
    await pilot.press(*"proof", "enter")
    await wait_until(pilot, lambda: pilot.app.screen.found, what="results")
    await settle(pilot)


async def context_view(pilot: Pilot) -> None:
    await opened(pilot)
    pilot.app.action_focus("conversations")
    await pilot.press("home")  # the agent's default conversation: the server's own figures
    await wait_until(pilot, lambda: pilot.app.conversation.id == "agent-1", what="default")
    await settle(pilot)
    await pilot.press("f3")
    await wait_until(pilot, lambda: len(pilot.app.screen_stack) > 1, what="the context view")
    await settle(pilot)


@dataclass
class Scenario:
    run_before: Step
    client: dict[str, Any] = field(default_factory=dict)
    size: tuple[int, int] = (130, 36)


SCENARIOS: dict[str, Scenario] = {
    "empty_first_start": Scenario(settle, {"empty": True}),
    "populated_panes": Scenario(opened),
    "small_terminal": Scenario(opened, size=(80, 24)),
    "reasoning_and_tool_blocks": Scenario(expand_blocks, size=(130, 50)),
    "reply_mid_stream": Scenario(mid_stream),
    "finished_reply": Scenario(finished_reply),
    "busy_conversation": Scenario(busy, {"busy": True}),
    "compaction_confirmation": Scenario(dialog_after("ctrl+k")),
    "compaction_result": Scenario(compaction_result),
    "compacted_history_toggle": Scenario(compacted_history),
    "connection_error": Scenario(settle, {"down": True}),
    "help": Scenario(dialog_after("f1")),
    "new_agent": Scenario(dialog_after("n", focus="agents")),
    "agent_detail": Scenario(dialog_after("e", focus="agents"), size=(130, 44)),
    "delete_agent": Scenario(dialog_after("d", focus="agents")),
    "new_conversation": Scenario(dialog_after("ctrl+n")),
    "rename_conversation": Scenario(dialog_after("r", focus="conversations")),
    "delete_conversation": Scenario(dialog_after("d", focus="conversations")),
    "command_palette": Scenario(dialog_after("ctrl+p")),
    "tool_call_opened": Scenario(tool_call_opened),
    "approval_prompt": Scenario(approval_prompt, {"approval": True}),
    "memory_live_edit": Scenario(memory_live_edit, {"memory_turn": True}, size=(150, 40)),
    "memory_history_diff": Scenario(memory_history),
    "search_results": Scenario(search_results),
    "context_view": Scenario(context_view),
}


def build(name: str, config: Path) -> ChinwagApp:
    return canned_app(CannedClient(**SCENARIOS[name].client), config)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_snapshot(snap_compare, isolated_config: Path, name: str) -> None:
    scenario = SCENARIOS[name]
    app = build(name, isolated_config)
    assert snap_compare(app, terminal_size=scenario.size, run_before=scenario.run_before)
