"""The database's write lock across processes (``serve --workers``, two terminals), in the OS.

SQLite serialises writers itself, but a writer that finds the file locked can only poll for it,
sleeping between tries, and the lock is often free long before it wakes. An ``flock`` on a file
beside the database (``<db>-writer.lock``) is taken around every write transaction instead. A
process that finds it held has a thread wait until it is let go of, which the kernel signals at
once, and then tries again from the event loop: the lock is only ever taken by the loop that
is about to write, never handed to a process whose loop is busy with other work (which would
keep it from everyone meanwhile). Held by an open file description, it goes with a process that
dies, however it dies.

Where it cannot be had (no ``fcntl``, a folder that cannot be written), writers fall back to
SQLite's own lock alone, as does every process (an older chinwag, the sqlite3 shell) that does
not take it.
"""

import asyncio
import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    import fcntl
except ImportError:  # not a POSIX system: SQLite's own lock serialises writers alone
    fcntl = None  # type: ignore[assignment]


class WriteLockTimeout(Exception):
    """Another process held the write lock for longer than the caller would wait."""


class WriteLock:
    """One process's handle on the write lock; used by one event loop, one holder at a time."""

    def __init__(self, db_path: Path) -> None:
        self.path = Path(f"{db_path}-writer.lock")
        self._fd: int | None = None
        self._watch_fd: int | None = None  # the waiting thread's own file description
        self._waiter: ThreadPoolExecutor | None = None
        self.waits = 0  # times the lock was found held by another process (the tests read it)

    def open(self) -> None:
        """Open (creating, private) the lock file; without it, writers rely on SQLite alone."""
        if fcntl is None:
            return
        fds = []
        for _ in range(2):
            try:
                fds.append(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
            except OSError:
                with contextlib.suppress(OSError):
                    fds.append(os.open(self.path, os.O_RDONLY | os.O_CLOEXEC))
        if len(fds) < 2:
            for fd in fds:
                os.close(fd)
            return
        self._fd, self._watch_fd = fds
        self._waiter = ThreadPoolExecutor(1, "chinwag-write-lock")

    def close(self) -> None:
        """Let go of the file (and so of the lock, if held)."""
        if self._waiter is not None:
            self._waiter.shutdown(wait=False)
            self._waiter = None
        for fd in (self._fd, self._watch_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._watch_fd = None

    async def acquire(self, timeout: float) -> None:
        """Take the lock, waiting (without blocking the loop) while another process holds it;
        :class:`WriteLockTimeout` after ``timeout`` seconds."""
        fd = self._fd
        if fd is None or fcntl is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if not waited:
                self.waits += 1
                waited = True
            remaining = deadline - loop.time()
            if remaining <= 0 or self._waiter is None:
                raise WriteLockTimeout(
                    f"another process held the write lock for more than {timeout:g} s"
                )
            let_go = loop.run_in_executor(self._waiter, self._until_free)
            # A wait given up on (timeout, cancellation) ends by itself when the lock is free.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(let_go), remaining)

    def release(self) -> None:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _until_free(self) -> None:
        """In the waiting thread: return once no process holds the lock (a shared lock is
        granted only then, and let go of at once)."""
        fd = self._watch_fd
        if fd is not None and fcntl is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: the loop tries again
                fcntl.flock(fd, fcntl.LOCK_SH)
                fcntl.flock(fd, fcntl.LOCK_UN)
