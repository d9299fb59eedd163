"""A cheap token estimate for context accounting.

Real tokenizers differ per model and would add a heavy dependency; the server only needs to know
whether a context *probably* fits, before it calls the model. English text averages about four
characters per token, so the estimate is UTF-8 bytes / 4 (equal to chars / 4 for ASCII, and more
cautious for scripts whose characters are tokens of their own), plus a fixed overhead per message
for the role and framing that chat formats add. It errs on the high side, which is the safe side.
"""

import json
import math
from typing import Any

BYTES_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role, separators and framing per message
REPLY_PRIMING = 3  # the tokens that open the assistant's reply


def estimate_text_tokens(text: str) -> int:
    """Tokens of one piece of text."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def message_text(content: Any) -> str:
    """The text of a message ``content``: a string, or a list of ``{"type": "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


def estimate_message_tokens(message: dict) -> int:
    """Tokens one OpenAI-style message costs, tool calls included."""
    tokens = MESSAGE_OVERHEAD + estimate_text_tokens(message_text(message.get("content")))
    if message.get("tool_calls"):
        tokens += estimate_text_tokens(json.dumps(message["tool_calls"]))
    return tokens


def estimate_tokens(messages: list[dict]) -> int:
    """Tokens a list of OpenAI-style messages costs as a prompt."""
    return REPLY_PRIMING + sum(estimate_message_tokens(m) for m in messages)
