"""Waiting on a condition, bounded, instead of sleeping for a guessed time."""

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(read: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Call ``read`` until it returns something truthy; return it, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        time.sleep(interval)


async def until(read: Callable[[], T], timeout: float = 10.0, interval: float = 0.01) -> T:
    """:func:`wait_for` for a test running on an event loop: the loop runs meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s")
        await asyncio.sleep(interval)
