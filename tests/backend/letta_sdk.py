"""Turns driven through the official SDK, shared by the server tests."""

from letta_client import Letta


def say(sdk: Letta, conversation_id: str, text: str) -> None:
    """Send ``text`` and read the reply's stream to its end."""
    list(
        sdk.conversations.messages.create(
            conversation_id, messages=[{"role": "user", "content": text}]
        )
    )
