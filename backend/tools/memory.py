"""The memory tools of Letta's default agent type: insert, replace and rethink a block.

Names, arguments, checks and error texts follow Letta 0.16.8 (``core_tool_executor.py``); as
there, a successful edit returns the block's new value, so the model sees it at once while the
conversation's system message stays as it was (see ``backend.agent.memory``).
"""

import re
from typing import Any

from backend.store.blocks import Author
from backend.tools.base import ToolContext, ToolFailed, ToolSpec

LINE_NUMBER_PREFIX = re.compile(r"^[ \t]*\d+→[ \t]*", re.MULTILINE)
LINE_NUMBER_WARNING = (
    "# NOTE: Line numbers shown below (with arrows like '1→') are to help during editing. "
    "Do NOT include line number prefixes in your memory edit tool calls."
)
TOOL_TYPE = "letta_memory_core"


def _author(ctx: ToolContext, tool: str) -> Author:
    return Author("agent", agent_id=ctx.agent_id, tool_name=tool, run_id=ctx.run_id)


def _no_line_numbers(name: str, text: str, *, warning: bool = True) -> None:
    if LINE_NUMBER_PREFIX.search(text):
        raise ToolFailed(
            f"{name} contains a line number prefix, which is not allowed. Do not include line "
            "numbers when calling memory tools (line numbers are for display purposes only)."
        )
    if warning and LINE_NUMBER_WARNING in text:
        raise ToolFailed(
            f"{name} contains a line number warning, which is not allowed. Do not include line "
            "number information when calling memory tools (line numbers are for display "
            "purposes only)."
        )


async def memory_insert(ctx: ToolContext, args: dict[str, Any]) -> str:
    label, new_string = args["label"], args["new_string"]
    insert_line = args.get("insert_line", -1)
    _no_line_numbers("new_string", new_string)

    def change(current: str) -> str:
        lines = current.expandtabs().split("\n")
        at = len(lines) if insert_line == -1 else insert_line
        if at < 0 or at > len(lines):
            raise ToolFailed(
                f"Invalid `insert_line` parameter: {insert_line}. It should be within the range "
                f"of lines of the memory block: {[0, len(lines)]}, or -1 to append to the end "
                "of the memory block."
            )
        return "\n".join(lines[:at] + new_string.expandtabs().split("\n") + lines[at:])

    block = await ctx.store.blocks.edit(ctx.agent_id, label, change, _author(ctx, "memory_insert"))
    return block["value"]


async def memory_replace(ctx: ToolContext, args: dict[str, Any]) -> str:
    label, old_string, new_string = args["label"], args["old_string"], args["new_string"]
    _no_line_numbers("old_string", old_string)
    _no_line_numbers("new_string", new_string, warning=False)
    old, new = old_string.expandtabs(), new_string.expandtabs()

    def change(current: str) -> str:
        current = current.expandtabs()
        count = current.count(old) if old else 0
        if count == 0:
            raise ToolFailed(
                f"No replacement was performed, old_string `{old_string}` did not appear "
                f"verbatim in memory block with label `{label}`."
            )
        if count > 1:
            lines = [i + 1 for i, line in enumerate(current.split("\n")) if old in line]
            raise ToolFailed(
                f"No replacement was performed. Multiple occurrences of old_string "
                f"`{old_string}` in lines {lines}. Please ensure it is unique."
            )
        return current.replace(old, new)

    block = await ctx.store.blocks.edit(ctx.agent_id, label, change, _author(ctx, "memory_replace"))
    return block["value"]


async def memory_rethink(ctx: ToolContext, args: dict[str, Any]) -> str:
    label, new_memory = args["label"], args["new_memory"]
    _no_line_numbers("new_memory", new_memory)
    block = await ctx.store.blocks.edit(
        ctx.agent_id, label, lambda _: new_memory, _author(ctx, "memory_rethink"), create=True
    )
    return block["value"]


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


_LABEL = {
    "type": "string",
    "description": "Section of the memory to be edited, identified by its label.",
}

TOOLS = [
    ToolSpec(
        "memory_insert",
        "The memory_insert command allows you to insert text at a specific location in a "
        "memory block.",
        _schema(
            {
                "label": _LABEL,
                "new_string": {
                    "type": "string",
                    "description": "The text to insert. Do not include line number prefixes.",
                },
                "insert_line": {
                    "type": "integer",
                    "description": "The line number after which to insert the text (0 for "
                    "beginning of file). Defaults to -1 (end of the file).",
                },
            },
            ["label", "new_string"],
        ),
        TOOL_TYPE,
        memory_insert,
    ),
    ToolSpec(
        "memory_replace",
        "The memory_replace command allows you to replace a specific string in a memory block "
        "with a new string. This is used for making precise edits. Do NOT attempt to replace "
        "long strings, e.g. do not attempt to replace the entire contents of a memory block "
        "with a new string.",
        _schema(
            {
                "label": _LABEL,
                "old_string": {
                    "type": "string",
                    "description": "The text to replace (must match exactly, including "
                    "whitespace and indentation).",
                },
                "new_string": {
                    "type": "string",
                    "description": "The new text to insert in place of the old text. Do not "
                    "include line number prefixes.",
                },
            },
            ["label", "old_string", "new_string"],
        ),
        TOOL_TYPE,
        memory_replace,
    ),
    ToolSpec(
        "memory_rethink",
        "The memory_rethink command allows you to completely rewrite the contents of a memory "
        "block. Use this tool to make large sweeping changes (e.g. when you want to condense "
        "or reorganize the memory blocks), do NOT use this tool to make small precise edits "
        "(e.g. add or remove a line, replace a specific string, etc).",
        _schema(
            {
                "label": {
                    "type": "string",
                    "description": "The memory block to be rewritten, identified by its label.",
                },
                "new_memory": {
                    "type": "string",
                    "description": "The new memory contents with information integrated from "
                    "existing memory blocks and the conversation context.",
                },
            },
            ["label", "new_memory"],
        ),
        TOOL_TYPE,
        memory_rethink,
    ),
]
