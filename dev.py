#!/usr/bin/env python3
"""Set up the local virtual environment and run chinwag or its tests.

    python3 dev.py app [chinwag args]   # start the app (TUI + embedded server)
    python3 dev.py test [pytest args]   # ruff, then the whole test suite

The environment lives in ``.venv`` next to this file; it is created on first use and
re-synced whenever ``requirements.lock`` or ``pyproject.toml`` changes. Only the Python
standard library is needed to run this script.
"""

import contextlib
import hashlib
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".chinwag-synced"
LOCK = ROOT / ".venv.lock"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _setup_lock() -> Iterator[None]:
    """Hold the set-up lock: a second ``dev.py`` started meanwhile waits for the first to
    finish setting up instead of installing into a half-made ``.venv``."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; start one dev.py at a time
        yield
        return
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_venv() -> None:
    """Create or re-sync ``.venv`` with the pinned dependencies and chinwag itself (editable)."""
    with _setup_lock():
        if not (BIN / "python").exists():
            print("Creating .venv …", flush=True)
            venv.create(VENV, with_pip=True)
        fingerprint = _fingerprint()
        if STAMP.exists() and STAMP.read_text() == fingerprint:
            return
        # pip shows its own progress: a first install takes a minute or two.
        print("Installing pinned dependencies into .venv …", flush=True)
        pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(ROOT / "requirements.lock")], check=True)
        subprocess.run([*pip, "-q", "--no-deps", "-e", str(ROOT)], check=True)
        STAMP.write_text(fingerprint)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script is what tells old Pythons so
        print(f"chinwag needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
        return 1
    if not argv or argv[0] not in ("app", "test"):
        print(__doc__.strip())
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "app":
        os.execv(str(BIN / "chinwag"), [str(BIN / "chinwag"), *rest])
    lint = subprocess.run([str(BIN / "ruff"), "check", str(ROOT)], cwd=ROOT)
    if lint.returncode:
        return lint.returncode
    return subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
