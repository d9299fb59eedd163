"""Tools an agent calls: a small registry, one module per family (memory, search, web, client)."""

from backend.tools.base import ToolContext, ToolResult, ToolSpec
from backend.tools.registry import BUILTIN, DEFAULT_TOOLS, Toolbox, definitions

__all__ = [
    "BUILTIN",
    "DEFAULT_TOOLS",
    "ToolContext",
    "ToolResult",
    "ToolSpec",
    "Toolbox",
    "definitions",
]
