"""The database file: private modes, and start-up errors that name the file (issue 8, 5 and 8)."""

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from backend.store.schema import MIGRATIONS
from tests.servers import ServerProcess


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_is_0600_in_a_0700_folder(tmp_path: Path, config_file: Path) -> None:
    db = tmp_path / "data" / "chinwag.db"
    server = ServerProcess(db, config_file)
    try:
        httpx.post(f"{server.url}/v1/agents/", json={"name": "a"}).raise_for_status()
        assert mode(db.parent) == 0o700
        assert mode(db) == 0o600
        for side in ("-wal", "-shm"):
            extra = Path(f"{db}{side}")
            if extra.exists():
                assert mode(extra) & 0o077 == 0, side
    finally:
        server.stop()


def test_an_existing_world_readable_database_is_made_private(
    tmp_path: Path, config_file: Path
) -> None:
    db = tmp_path / "old.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    server = ServerProcess(db, config_file)
    try:
        assert mode(db) == 0o600
        assert mode(tmp_path) == stat.S_IMODE(tmp_path.stat().st_mode)  # a folder it did not make
    finally:
        server.stop()


def serve(db: Path, *, user: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--port", "1", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "CHINWAG_CONFIG": "/nonexistent/chinwag.toml"},
        user=user,
    )


def test_a_corrupt_database_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    db.write_bytes(b"this is not a database " * 500)
    result = serve(db)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert str(db) in result.stderr
    assert "damaged or is not a chinwag database" in result.stderr
    assert "Move it aside" in result.stderr


def test_a_too_new_schema_names_the_file_and_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "future.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    result = serve(db)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Connection" not in result.stderr
    assert str(db) in result.stderr
    assert f"schema version {len(MIGRATIONS) + 5}" in result.stderr
    assert "Upgrade chinwag" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the server as another user")
def test_a_read_only_database_names_the_problem() -> None:
    folder = Path(tempfile.mkdtemp(prefix="chinwag-ro-"))
    try:
        folder.chmod(0o755)
        db = folder / "chinwag.db"
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (x)")
        # Readable but not writable for the user the server runs as (root ignores modes).
        db.chmod(0o644)
        result = serve(db, user="nobody")
    finally:
        shutil.rmtree(folder)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert str(db) in result.stderr
    assert "read-only" in result.stderr or "can be written" in result.stderr
