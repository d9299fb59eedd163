"""``chinwag``: the TUI; ``chinwag serve``: the bundled server; ``chinwag ask``: one message.

Which server the TUI talks to: ``--server``, else ``LETTA_BASE_URL``, else ``--profile`` from the
config file, else a bundled server started as a child process for the session.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tui.config import load_config


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="chinwag",
        description="Talk to stateful AI agents. `chinwag serve --help` for the server, "
        "`chinwag ask --help` for one message from a script.",
    )
    parser.add_argument("--server", help="base URL of a chinwag or Letta server")
    parser.add_argument("--token", help="bearer token for the server")
    parser.add_argument("--profile", help="a [profiles.NAME] table of the config file")
    parser.add_argument("--db", type=Path, help="database of the bundled server")
    parser.add_argument("--agent", help="open this agent id")
    parser.add_argument("--conversation", help="open this conversation id")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        os.execv(sys.executable, [sys.executable, "-m", "backend", *argv])
    if argv[:1] == ["ask"]:
        from tui.headless import main as ask

        sys.exit(ask(argv[1:]))
    args = parse_args(argv)
    config = load_config()
    url = args.server or os.environ.get("LETTA_BASE_URL")
    token = args.token or os.environ.get("LETTA_API_KEY")
    if not url and args.profile:
        profile = config.profiles.get(args.profile)
        if profile is None:
            known = ", ".join(sorted(config.profiles)) or "none"
            sys.exit(f"chinwag: no profile {args.profile!r} in {config.path} (known: {known})")
        url, token = profile.url, token or profile.token

    from tui.app import ChinwagApp
    from tui.launcher import EmbeddedServer
    from tui.settings import AppSettings

    launcher = None
    if not url:
        launcher = EmbeddedServer(db=args.db)
        launcher.spawn()
    settings = AppSettings(
        config=config,
        server_url=url,
        token=token,
        launcher=launcher,
        agent_id=args.agent,
        conversation_id=args.conversation,
    )
    app = ChinwagApp(settings)
    try:
        app.run()
    finally:
        if launcher is not None:
            launcher.stop()
    if app.return_code:  # a crash: say so to the shell
        sys.exit(app.return_code)


if __name__ == "__main__":
    main()
