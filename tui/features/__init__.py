"""Flows without a pane of their own, one module each (see :class:`tui.parts.Feature`).

A new feature gets a module here with a :class:`~tui.parts.Feature` subclass, an entry in
``FEATURES`` below, palette ``COMMANDS`` and, for a global key, a binding on the main screen
whose action is ``app.do('<name>.<action>')``.
"""

from __future__ import annotations

from tui.features.approvals import Approvals
from tui.features.compaction import Compaction
from tui.features.connection import Connection
from tui.features.context import Context
from tui.features.export import Export
from tui.features.fork import Fork
from tui.features.help import Help
from tui.features.search import Search
from tui.features.sync import Sync
from tui.parts import Feature

FEATURES: list[type[Feature]] = [
    Connection,
    Compaction,
    Export,
    Help,
    Approvals,
    Fork,
    Search,
    Context,
    Sync,
]
