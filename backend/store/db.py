"""One SQLite file, one writer connection and a few reader connections (WAL lets them overlap).

Writes go through :meth:`Database.transaction`, which serialises writers inside this process
with an asyncio lock, so concurrent requests never interleave statements of two transactions on
the shared connection, and across the processes on the file with an OS lock
(:mod:`backend.store.write_lock`). The writes of every turn go through :meth:`Database.batched`
instead, so that those queued up commit together. Reads use their own connections and see only
committed data.

A read is a plain function of a ``sqlite3.Connection`` (:meth:`Database.read`). A small one (a
few indexed lookups and at most ``INLINE_ROWS`` rows: a page, a row by id) runs right on the
event loop: it takes a fraction of a millisecond, less CPU than handing it to a thread and back
(which costs about 0.3 ms a time here), and WAL readers never wait for writers. Anything larger
runs on a small pool of threads, each with its own connection, with one hand-off however many
statements it runs, so the loop keeps serving other requests meanwhile.
"""

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from backend.errors import ApiError, StorageFull, StorageReadOnly
from backend.store.schema import MIGRATIONS
from backend.store.write_lock import WriteLock

# SQLite's primary result codes (an extended code keeps its primary one in the low byte).
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26


class StoreOpenError(Exception):
    """The database cannot be used; the message names the file and says what to do."""


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def storage_error(exc: BaseException, path: Path) -> ApiError | None:
    """The clear API error for a failure of the disk under the database, if it is one."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = _primary_code(exc)
    if code == SQLITE_FULL:
        return StorageFull(
            f"The disk holding the database {path} is full, so this change was not saved. "
            "Free some disk space and try again."
        )
    if code in (SQLITE_READONLY, SQLITE_PERM):
        return StorageReadOnly(
            f"The database {path} cannot be written ({exc}): it is read-only, or it was moved "
            "or deleted while the server ran. This change was not saved; make the file "
            "writable (or put it back) and restart the server."
        )
    return None


def _open_problem(exc: BaseException, path: Path) -> str:
    """What went wrong when opening ``path``, and what the person can do about it."""
    if isinstance(exc, OSError):
        return (
            f"Cannot create the database file {path}: {exc.strerror or exc}. Check that its "
            "folder can be written, or choose another file with --db."
        )
    code = _primary_code(exc)
    if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return (
            f"The database file {path} is damaged or is not a chinwag database ({exc}). Move "
            "it aside (or restore a backup) and start again: chinwag then creates a new one."
        )
    if code == SQLITE_FULL:
        return f"The disk holding the database file {path} is full. Free some space and retry."
    if code in (SQLITE_READONLY, SQLITE_PERM):
        return (
            f"The database file {path} is read-only ({exc}). Make it and its folder writable "
            "(SQLite keeps -wal and -shm files beside it), or choose another file with --db."
        )
    if code == SQLITE_CANTOPEN:
        return (
            f"Cannot open the database file {path} ({exc}). Check that its folder exists and "
            "can be written, or choose another file with --db."
        )
    if code == SQLITE_BUSY:
        return f"The database file {path} is locked by another program ({exc}). Close it first."
    if code == SQLITE_IOERR:
        return f"The disk failed while reading or writing the database file {path} ({exc})."
    return f"Cannot use the database file {path}: {exc}."


log = logging.getLogger("chinwag.store")


def now_iso() -> str:
    """Current time as ISO-8601 with an explicit UTC offset, as the API writes timestamps."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


T = TypeVar("T")
# Statement parameters: by position, or by name (``:name``) for statements that repeat one.
Params = tuple[Any, ...] | dict[str, Any]
READER_THREADS = 2
INLINE_ROWS = 200
# Another process holds the write lock: retry BEGIN IMMEDIATE after this many seconds (doubling
# up to the maximum) until the busy timeout, without blocking the event loop meanwhile.
BUSY_RETRY_SECONDS = 0.0005
BUSY_RETRY_MAX_SECONDS = 0.02
BUSY_TIMEOUT_SECONDS = 10.0
# The writers never checkpoint on commit (that copies pages and syncs the disk: on the event loop
# for the inline writer, inside the request's time for a bulk one); a reader thread checkpoints
# after this many write transactions instead.
CHECKPOINT_WRITES = 200
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)


class _Executed:
    """What :meth:`InlineTx.execute` returns: awaited (or entered) it runs the statement and
    gives its cursor, as aiosqlite's ``execute`` does."""

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[], sqlite3.Cursor]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, "InlineCursor"]:
        return self._cursor().__await__()

    async def _cursor(self) -> "InlineCursor":
        return InlineCursor(self._run())

    async def __aenter__(self) -> "InlineCursor":
        return InlineCursor(self._run())

    async def __aexit__(self, *exc: object) -> None:
        return None


class InlineCursor:
    """A finished statement's cursor with aiosqlite's (awaitable) API."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> sqlite3.Row | None:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[sqlite3.Row]:
        return self._cursor.fetchall()


class InlineTx:
    """A connection with aiosqlite's API whose statements run right on the event loop.

    A transaction's statements are small (a few rows by key) and take microseconds, far less
    than a thread hand-off each; the one that can wait, ``BEGIN IMMEDIATE`` while another
    process writes, is retried asynchronously (see :meth:`Database.transaction`).
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def execute(self, sql: str, params: Params | Iterable[Any] = ()) -> _Executed:
        bound = params if isinstance(params, dict) else tuple(params)
        return _Executed(lambda: self._conn.execute(sql, bound))

    def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> _Executed:
        return _Executed(lambda: self._conn.executemany(sql, rows))


Outcome = tuple["asyncio.Future[Any]", BaseException | None, Any]
Queued = tuple[Callable[["InlineTx"], Awaitable[Any]], "asyncio.Future[Any]"]


def _settle(results: list[Outcome]) -> None:
    for done, error, result in results:
        if done.done():
            continue
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)


async def _outcome(done: "asyncio.Future[T]") -> T:
    """``done``'s result, waited for even by a caller cancelled meanwhile (which then sees
    the cancellation at its next ``await``)."""
    cancelled = False
    while not done.done():
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
            task.cancel()
    return done.result()


# A write transaction's connection: inline (the usual one) or aiosqlite's (bulk work).
Tx = InlineTx | aiosqlite.Connection


class JsonText(str):
    """A response body already serialised as JSON (by SQLite), sent as it is."""


def json_array(items: list[str]) -> JsonText:
    """JSON objects' texts joined into one JSON array."""
    return JsonText(f"[{','.join(items)}]")


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Database:
    """Owns the connections to the database file between :meth:`open` and :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self.write_lock = WriteLock(path)
        self._queue: list[Queued] = []
        self._runner: asyncio.Task[None] | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._reader_connections: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._inline: sqlite3.Connection | None = None
        self._inline_writer: sqlite3.Connection | None = None
        self._commits = 0
        self._unchecked = 0  # writes committed since the last checkpoint
        self._checkpoint: asyncio.Future[Any] | None = None

    async def open(self) -> None:
        """Open (creating if needed) and migrate; :class:`StoreOpenError` says what is wrong."""
        try:
            self._create_private()
            self._writer = await self._connect()
            await self._migrate(self._writer, self.path)
            await self._writer.execute("PRAGMA wal_autocheckpoint=0")
            self._inline = self._read_connection()
            self._inline_writer = self._read_connection()
            self._inline_writer.execute("PRAGMA busy_timeout=0")
            self._inline_writer.execute("PRAGMA wal_autocheckpoint=0")
            self._readers = ThreadPoolExecutor(READER_THREADS, "chinwag-reader")
            self.write_lock.open()
        except (sqlite3.Error, OSError) as exc:
            await self.close()
            raise StoreOpenError(_open_problem(exc, self.path)) from exc
        except StoreOpenError:
            await self.close()
            raise

    def _create_private(self) -> None:
        """The folder (if made here) is 0700 and the database 0600: chats are private."""
        if not self.path.parent.exists():
            self.path.parent.mkdir(mode=0o700, parents=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        for path in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
            with contextlib.suppress(OSError):
                mode = stat.S_IMODE(path.stat().st_mode)
                if mode & 0o077:
                    path.chmod(mode & 0o700)

    async def close(self) -> None:
        while self._runner is not None and not self._runner.done():
            await asyncio.wait([self._runner])  # the writes asked for are done
        if self._checkpoint is not None:
            await asyncio.wait([self._checkpoint])
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        if self._inline_writer is not None and self._commits:
            with contextlib.suppress(sqlite3.Error):
                self._inline_writer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        for conn in [*self._reader_connections, *filter(None, [self._inline, self._inline_writer])]:
            conn.close()
        self._reader_connections.clear()
        self.write_lock.close()
        self._inline = self._inline_writer = None
        if self._writer is not None:
            await self._writer.close()
        self._writer = None

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            for pragma in PRAGMAS:
                await conn.execute(pragma)
        except BaseException:
            await conn.close()  # its thread would otherwise keep the process alive
            raise
        return conn

    def _read_connection(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        try:
            for pragma in PRAGMAS:
                conn.execute(pragma)
        except BaseException:
            conn.close()
            raise
        return conn

    def _thread_reader(self) -> sqlite3.Connection:
        """This pool thread's own read connection, opened on its first read."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._read_connection()
            self._reader_connections.append(conn)
        return conn

    @staticmethod
    async def _migrate(conn: aiosqlite.Connection, path: Path) -> None:
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        current = row[0] if row else 0
        if current > len(MIGRATIONS):
            raise StoreOpenError(
                f"The database file {path} was written by a newer chinwag (schema version "
                f"{current}; this one understands up to {len(MIGRATIONS)}). Upgrade chinwag, "
                "or choose another file with --db."
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;"
            )

    @property
    def reader(self) -> InlineTx:
        """The loop's read connection with a transaction's API, for small reads in code shared
        with writes."""
        assert self._inline is not None, "database is not open"
        return InlineTx(self._inline)

    @asynccontextmanager
    async def transaction(self, *, bulk: bool = False) -> AsyncIterator[Tx]:
        """A write transaction; commits on success and rolls back on any exception.

        Its statements run on the event loop (:class:`InlineTx`), unless ``bulk``: a
        transaction that may touch thousands of rows (deleting a conversation, a compaction,
        a fork) runs them on the writer's own thread, so the loop keeps serving meanwhile.
        """
        if not bulk:
            conn = self._inline_writer
            assert conn is not None, "database is not open"
            async with self._exclusive():
                await self._begin(conn)
                try:
                    yield InlineTx(conn)
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            self._committed()
            return
        assert self._writer is not None, "database is not open"
        async with self._exclusive():
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk): keep that
                # error rather than hiding it behind "no transaction is active".
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")
        self._committed()

    async def batched(self, fn: Callable[[InlineTx], Awaitable[T]]) -> T:
        """``await fn(tx)`` as a write transaction (committed on success, rolled back if it
        raises), for the writes of every turn: those that queue up, while one runs or while
        another process holds the write lock, run back to back and commit together.

        A write costs more in its commit (pages written to the log, the text index flushed)
        than in its statements, and processes on one file take turns to write, so a turn of
        one process's queued writes, with no other work in between, keeps the lock briefly
        and for little CPU. Each ``fn`` runs in a savepoint of the group, so one that raises
        leaves the others' changes as they were. It should not wait on anything but its
        statements (the group waits with it). A caller cancelled meanwhile still waits for
        the outcome (its changes are being committed), then sees the cancellation at its next
        ``await``.
        """
        assert self._inline_writer is not None, "database is not open"
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self._queue.append((fn, done))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run_queue(), name="chinwag-writes")
        return await _outcome(done)

    async def _run_queue(self) -> None:
        """Run the queued writes in groups until none is left."""
        while self._queue:
            group: list[Queued] = []
            try:
                conn = self._inline_writer
                assert conn is not None, "database is not open"
                async with self._exclusive():
                    await self._begin(conn)
                    group, self._queue = self._queue, []  # all that queued while this waited
                    try:
                        results = await self._run_group(conn, group)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
            except BaseException as exc:
                stopped = not isinstance(exc, Exception)  # the runner itself is cancelled
                if not group or stopped:  # the lock could not be had: every write waiting fails
                    group, self._queue = [*group, *self._queue], []
                _settle([(done, exc, None) for _, done in group])
                if stopped:
                    raise
                continue
            self._committed(len(group))
            _settle(results)

    @staticmethod
    async def _run_group(conn: sqlite3.Connection, group: list[Queued]) -> list[Outcome]:
        """Each function of ``group`` in a savepoint (none for a group of one); their outcomes."""
        results: list[Outcome] = []
        alone = len(group) == 1
        for fn, done in group:
            if not alone:
                conn.execute("SAVEPOINT tx")
            try:
                result = await fn(InlineTx(conn))
            except Exception as exc:
                if alone:
                    raise
                if not conn.in_transaction:  # SQLite rolled the whole group back (a full disk)
                    raise
                conn.execute("ROLLBACK TO tx")
                conn.execute("RELEASE tx")
                results.append((done, exc, None))
                continue
            if not alone:
                conn.execute("RELEASE tx")
            results.append((done, None, result))
        return results

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A write transaction whose statements ``fn`` runs, with the commit, on a reader
        thread in one hand-off: for one that writes thousands of rows (a fork), so that the
        loop keeps serving and the statements do not each pay a thread hand-off. Rolled back
        if ``fn`` raises; a cancelled caller waits for ``fn`` to end first."""
        conn = self._inline_writer
        assert conn is not None and self._readers is not None, "database is not open"

        def run() -> T:
            result = fn(conn)
            conn.execute("COMMIT")
            return result

        loop = asyncio.get_running_loop()
        async with self._exclusive():
            await self._begin(conn)
            done = loop.run_in_executor(self._readers, run)
            try:
                result = await asyncio.shield(done)
            except BaseException:
                with contextlib.suppress(BaseException):
                    await done  # the connection is the thread's until it is done with it
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._committed()
        return result

    @asynccontextmanager
    async def _exclusive(self) -> AsyncIterator[None]:
        """This writer's turn: first among this process's writers, then among the processes
        on the file (:mod:`backend.store.write_lock`)."""
        async with self._write_lock:
            await self.write_lock.acquire(BUSY_TIMEOUT_SECONDS)
            try:
                yield
            finally:
                self.write_lock.release()

    @staticmethod
    async def _begin(conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``; while another process writes, wait for it without blocking."""
        delay, waited = BUSY_RETRY_SECONDS, 0.0
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if _primary_code(exc) != SQLITE_BUSY or waited >= BUSY_TIMEOUT_SECONDS:
                    raise
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, BUSY_RETRY_MAX_SECONDS)

    def _committed(self, writes: int = 1) -> None:
        """Count a commit (of ``writes`` batched writes); after ``CHECKPOINT_WRITES`` writes,
        checkpoint on a thread."""
        self._commits += 1
        self._unchecked += writes
        running = self._checkpoint is not None and not self._checkpoint.done()
        if self._unchecked < CHECKPOINT_WRITES or running or self._readers is None:
            return
        self._unchecked = 0
        loop = asyncio.get_running_loop()
        self._checkpoint = loop.run_in_executor(self._readers, self._run_checkpoint)

    def _run_checkpoint(self) -> None:
        try:
            self._thread_reader().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            log.exception("could not checkpoint the database's write-ahead log; will retry")

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, rows: int | None = None) -> T:
        """``fn(connection)``: on the loop if it reads at most ``INLINE_ROWS`` ``rows`` by
        index, else on a reader thread (one hand-off, however many statements).

        ``fn`` runs its statements in autocommit mode, each seeing the latest committed data;
        several statements that must agree run inside ``BEGIN``/``COMMIT`` in ``fn``.
        """
        assert self._readers is not None and self._inline is not None, "database is not open"
        if rows is not None and rows <= INLINE_ROWS:
            return fn(self._inline)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._thread_reader()))

    @property
    def commits(self) -> int:
        """Write transactions committed by this process so far (a group of batched writes
        counts once)."""
        return self._commits

    def data_version(self) -> int:
        """A number that changes whenever any connection but this one's readers (this process's
        writer, another process) has committed a change since it was last read: what is cached
        from an earlier value of it may be stale."""
        assert self._inline is not None, "database is not open"
        return self._inline.execute("PRAGMA data_version").fetchone()[0]

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """The first row of ``sql``: for lookups by key, read on the loop."""
        return await self.read(lambda conn: conn.execute(sql, params).fetchone(), rows=1)

    async def fetchall(
        self, sql: str, params: Params = (), *, rows: int | None = None
    ) -> list[sqlite3.Row]:
        """Every row of ``sql``; ``rows`` bounds their number (a page's limit) when known."""
        return await self.read(lambda conn: conn.execute(sql, params).fetchall(), rows=rows)
