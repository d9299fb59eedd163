"""Every key the app binds is in the README's key table, and every palette entry runs."""

from __future__ import annotations

import re
from pathlib import Path

from textual.binding import Binding

from tui.app import APP_COMMANDS, PALETTE_ORDER
from tui.features import FEATURES
from tui.panes.agents import AgentsPane
from tui.panes.chat import ChatPane
from tui.panes.conversations import ConversationsPane
from tui.panes.memory import MemoryPane
from tui.screens.context import ContextScreen
from tui.screens.main import MainScreen
from tui.screens.memory import BlockHistoryScreen
from tui.screens.search import SearchScreen
from tui.widgets.tools import ApprovalBlock

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
PARTS = {
    "agents": AgentsPane,
    "conversations": ConversationsPane,
    "chat": ChatPane,
    "memory": MemoryPane,
    **{feature.NAME: feature for feature in FEATURES},
}


def test_every_key_of_the_agent_features_is_in_the_readme() -> None:
    holders = (MainScreen, MemoryPane, ApprovalBlock, SearchScreen, BlockHistoryScreen)
    ids = [b.id for h in holders for b in h.BINDINGS if isinstance(b, Binding) and b.id and b.show]
    ids += ["search.scope", "memory.restore"]
    missing = [i for i in ids if f"`{i}`" not in README]
    assert not missing, f"binding ids missing from the README key table: {missing}"
    assert ContextScreen.BINDINGS  # closes with esc (the dialogs' row)


def test_every_palette_entry_names_an_action_of_its_part() -> None:
    assert set(PALETTE_ORDER) <= set(PARTS) and "help" in PARTS
    for name, part in PARTS.items():
        for command in part.COMMANDS:
            owner, action = command.target.split(".", 1)
            assert owner == name, command
            assert callable(getattr(part, f"action_{action}", None)), command
    targets = {c.target for part in PARTS.values() for c in part.COMMANDS}
    for wanted in (
        "approvals.approve",
        "approvals.deny",
        "approvals.always",
        "fork.fork",
        "fork.fork_here",
        "search.open",
        "context.open",
        "memory.toggle",
        "memory.add",
        "memory.edit",
        "memory.history",
        "memory.detach",
    ):
        assert wanted in targets
    for binding in MainScreen.BINDINGS:
        assert isinstance(binding, Binding)
        match = re.fullmatch(r"app\.do\('(\w+)\.(\w+)'\)", binding.action)
        if match:
            assert f"{match[1]}.{match[2]}" in targets, binding.action
    assert all("(" in c.target for c in APP_COMMANDS)
