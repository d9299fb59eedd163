"""``python -m backend serve``: run the bundled server (``chinwag serve`` execs this)."""

import argparse
import asyncio
import ipaddress
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from backend import __version__
from backend.app import create_app
from backend.llm import ProviderConfigError
from backend.serving import Server, build_config
from backend.settings import Settings, default_db_path, load_config
from backend.store.db import Database, StoreOpenError
from backend.workers import bind, serve_workers


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _check_database(path: Path) -> None:
    """Open (and migrate) the database once before serving, so a bad file is one clear line."""
    db = Database(path)
    await db.open()
    await db.close()


async def _stop_runs(app: Starlette) -> None:
    services = getattr(app.state, "services", None)
    if services is not None:
        await services.runs.stop()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chinwag serve", description="Run the chinwag server.")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve"], help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8283, help="port (default: %(default)s)")
    parser.add_argument(
        "--db", type=Path, default=None, help=f"SQLite database file (default: {default_db_path()})"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CHINWAG_TOKEN"),
        help="require this bearer token (default: $CHINWAG_TOKEN)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without a token (any Host header is then answered)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let web pages from this origin (e.g. http://localhost:5173) call the server; "
        "repeatable",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close a connection whose request head takes longer (default: %(default)s)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="close a connection whose request body takes longer (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="serve from N processes on the one database, for more sends per second on a"
        " machine with N cores (default: %(default)s)",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--access-log",
        action="store_true",
        default=os.environ.get("CHINWAG_ACCESS_LOG", "") not in ("", "0"),
        help="log every request (off by default: it costs about 5%% of a read's CPU;"
        " or set CHINWAG_ACCESS_LOG=1)",
    )
    return parser.parse_args(argv)


def uvicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """How uvicorn serves the app; benchmarks serve their reference app the same way."""
    return {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": args.access_log,
        "timeout_graceful_shutdown": 5,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not _is_loopback(args.host) and not args.token and not args.insecure:
        sys.exit(
            f"chinwag: refusing to listen on {args.host} without a token. "
            "Set --token (or CHINWAG_TOKEN), or pass --insecure if you really mean it."
        )
    settings = Settings(
        db_path=args.db or default_db_path(),
        token=args.token,
        allowed_origins=tuple(args.allow_origin),
        insecure=args.insecure,
        config=load_config(),
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    if args.workers < 1:
        sys.exit("chinwag: --workers must be at least 1.")
    if args.workers > 1 and not hasattr(os, "fork"):
        sys.exit("chinwag: --workers needs a system that can fork processes (not Windows).")
    try:
        app = create_app(settings)
    except ProviderConfigError as exc:
        sys.exit(f"chinwag: the config file has a problem: {exc}")
    try:
        asyncio.run(_check_database(settings.db_path))
    except StoreOpenError as exc:
        sys.exit(f"chinwag: {exc}")
    print(
        f"chinwag {__version__} serving http://{args.host}:{args.port} "
        f"(database {settings.db_path})",
        flush=True,
    )
    if args.workers == 1:
        _serve(app, args)
        return
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        sys.exit(f"chinwag: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    # Each worker builds its own app after the fork: nothing of the parent's is shared.
    serve_workers(args.workers, sock, lambda sock: _serve(create_app(settings), args, sock))


def _serve(app: Starlette, args: argparse.Namespace, sock: socket.socket | None = None) -> None:
    config = build_config(
        app,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        **uvicorn_options(args),
    )
    Server(config, before_shutdown=lambda: _stop_runs(app)).run(
        sockets=[sock] if sock is not None else None
    )


if __name__ == "__main__":
    main()
