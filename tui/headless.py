"""``chinwag ask``: send one message, print the reply; for scripts and pipes.

The same server choice as the app (``--server``, ``LETTA_BASE_URL``, ``--profile``, else a
bundled server started for the call and stopped after it), the same client (:mod:`tui.client`),
no Textual. The exit status says how the turn ended, so a script can branch on it:

- 0: the turn ended (``end_turn``);
- 1: it failed, or the server refused the request (unknown agent, bad token, …);
- 2: bad usage (no message, conflicting options);
- 3: a tool call waits for approval; stderr shows the call and the command that answers it;
- 4: the conversation is busy with another run.

Defaults: without ``--agent`` the agent that the last ``chinwag ask`` used on this server, else
the only agent, else a new agent when the server has none (the server's default model); several
agents and no remembered one is an error that lists them. Without ``--conversation`` the
conversation that the last ``ask`` used with that agent, else the agent's default conversation
(Letta's agent-level messages). What was used last is kept in a small state file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import platformdirs

from shared_schema import Agent, ErrorMessage, StopReason
from tui.client import ApprovalAnswer, ChinwagClient, Reattached
from tui.config import APP_NAME, Config, load_config
from tui.errors import (
    ApiError,
    ClientError,
    ConversationBusy,
    NotFound,
    Unauthorized,
)
from tui.launcher import EmbeddedServer, LaunchError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_APPROVAL = 3
EXIT_BUSY = 4

DEFAULT = "default"
NEW = "new"
NEW_AGENT_NAME = "assistant"
_SKIPPED_PARTS = {"ping"}


def _calls_of(chunk: Any) -> list[Any]:
    """The tool calls a message carries: ``tool_calls`` (a list, or one streamed fragment as
    Letta sends it) when present, else ``tool_call``. Letta repeats the fragment in both."""
    calls = getattr(chunk, "tool_calls", None)
    if isinstance(calls, dict):
        return [calls]
    if calls:
        return list(calls)
    call = getattr(chunk, "tool_call", None)
    return [call] if call is not None else []


def _waits_for_approval(detail: str) -> bool:
    """Whether a refusal says a tool call waits for approval (chinwag's and Letta's wording)."""
    lowered = detail.lower()
    return "waiting for approval" in lowered or "approval_pending" in lowered


class AskError(Exception):
    """Ends the command with a one-line message on stderr and an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="chinwag ask",
        description="Send one message to an agent and print its reply.",
        epilog="Exit status: 0 the turn ended, 1 it failed, 2 bad usage, "
        "3 a tool call waits for approval, 4 the conversation is busy.",
    )
    parser.add_argument("message", nargs="?", help="the message; '-' or none: read stdin")
    parser.add_argument("--agent", help="agent id or name (default: the last one used)")
    parser.add_argument(
        "--conversation",
        help="conversation id, 'default' (the agent's own messages) or 'new' "
        "(default: the last one used with this agent, else 'default')",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line per streamed part")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show reasoning and tool calls on stderr"
    )
    answer = parser.add_mutually_exclusive_group()
    answer.add_argument(
        "--approve", action="store_true", help="approve the tool call that waits for approval"
    )
    answer.add_argument(
        "--deny", metavar="REASON", help="deny the tool call that waits, telling the agent why"
    )
    parser.add_argument("--server", help="base URL of a chinwag or Letta server")
    parser.add_argument("--token", help="bearer token for the server")
    parser.add_argument("--profile", help="a [profiles.NAME] table of the config file")
    parser.add_argument("--db", type=Path, help="database of the bundled server")
    return parser.parse_args(argv)


def read_message(args: argparse.Namespace, stdin: TextIO) -> str | None:
    """The message from the argument, or from stdin when it is absent or ``-``.

    ``None`` for an approval answer, which carries no text.
    """
    if args.approve or args.deny is not None:
        if args.message not in (None, "-"):
            raise AskError("--approve and --deny take no message.", EXIT_USAGE)
        return None
    if args.message is not None and args.message != "-":
        text = args.message
    elif stdin.isatty():
        raise AskError('Give a message: chinwag ask "hello", or pipe one in.', EXIT_USAGE)
    else:
        text = stdin.read()
    if not text.strip():
        raise AskError("The message is empty.", EXIT_USAGE)
    return text.rstrip("\n")


def resolve_server(args: argparse.Namespace, config: Config) -> tuple[str | None, str | None]:
    """URL and token as the app resolves them; no URL means the bundled server."""
    url = args.server or os.environ.get("LETTA_BASE_URL")
    token = args.token or os.environ.get("LETTA_API_KEY")
    if not url and args.profile:
        profile = config.profiles.get(args.profile)
        if profile is None:
            known = ", ".join(sorted(config.profiles)) or "none"
            raise AskError(
                f"No profile {args.profile!r} in {config.path} (known: {known}).", EXIT_USAGE
            )
        url, token = profile.url, token or profile.token
    return url, token


class AskState:
    """What the last ``chinwag ask`` used, per server: the agent, and a conversation per agent."""

    def __init__(self, path: Path, server_key: str) -> None:
        self.path = path
        self.key = server_key
        try:
            self._data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._data = {}
        if not isinstance(self._data, dict):
            self._data = {}

    @staticmethod
    def default_path() -> Path:
        return Path(platformdirs.user_state_dir(APP_NAME)) / "ask.json"

    def _entry(self) -> dict[str, Any]:
        entry = self._data.get(self.key)
        return entry if isinstance(entry, dict) else {}

    @property
    def agent_id(self) -> str | None:
        value = self._entry().get("agent_id")
        return value if isinstance(value, str) else None

    def conversation_for(self, agent_id: str) -> str | None:
        value = (self._entry().get("conversations") or {}).get(agent_id)
        return value if isinstance(value, str) else None

    def remember(self, agent_id: str, conversation: str) -> None:
        """Store the choice; a state file that cannot be written only loses the default."""
        entry = self._entry()
        conversations = entry.get("conversations")
        conversations = dict(conversations) if isinstance(conversations, dict) else {}
        conversations[agent_id] = conversation
        self._data[self.key] = {"agent_id": agent_id, "conversations": conversations}
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self._data, indent=1), encoding="utf-8")
            tmp.replace(self.path)


@dataclass
class _Call:
    name: str = ""
    arguments: str = ""
    tool_call_id: str | None = None

    def show(self) -> str:
        args = self.arguments
        with contextlib.suppress(ValueError):
            args = json.dumps(json.loads(args), ensure_ascii=False)
        return f"{self.name} {args}".strip()


@dataclass
class Outcome:
    """What the streamed turn said about its own end."""

    stop_reason: str | None = None
    error: str | None = None
    pending: list[_Call] = field(default_factory=list)


class TurnPrinter:
    """Writes a streamed turn: the reply's text (or JSON lines), tool calls on request."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool, verbose: bool) -> None:
        self.out, self.err = out, err
        self.as_json, self.verbose = as_json, verbose
        self.outcome = Outcome()
        self._received: dict[str, str] = {}
        self._printed: dict[str, int] = {}
        self._last_text_id: str | None = None
        self._calls: dict[str, dict[str, _Call]] = {}
        self._shown_calls: set[str] = set()

    def line(self, payload: dict[str, Any]) -> None:
        self.out.write(json.dumps(payload, ensure_ascii=False) + "\n")
        self.out.flush()

    def part(self, chunk: Any) -> None:
        if isinstance(chunk, Reattached):
            if chunk.replayed:
                self._received.clear()
                self._calls.clear()
            if self.as_json:
                self.line({"message_type": "reattached", **chunk.__dict__})
            return
        kind = getattr(chunk, "message_type", None)
        if kind in _SKIPPED_PARTS:
            return
        if self.as_json:
            self.line(chunk.model_dump(mode="json", exclude_unset=True))
        if isinstance(chunk, StopReason):
            self.outcome.stop_reason = chunk.stop_reason
        elif isinstance(chunk, ErrorMessage):
            self.outcome.error = chunk.detail or chunk.message or chunk.error_type
        elif kind == "assistant_message":
            self._text(chunk.id, getattr(chunk, "content", "") or "")
        elif kind == "reasoning_message" and self.verbose and not self.as_json:
            self.err.write(getattr(chunk, "reasoning", "") or "")
            self.err.flush()
        elif kind in ("tool_call_message", "approval_request_message"):
            self._call(chunk)
        elif kind == "tool_return_message" and self.verbose and not self.as_json:
            self._show_calls()
            status = getattr(chunk, "status", "")
            first = (str(getattr(chunk, "tool_return", "")).strip().splitlines() or [""])[0]
            self.err.write(f"← {status}: {first[:200]}\n")

    def _text(self, message_id: str, delta: str) -> None:
        received = self._received.get(message_id, "") + delta
        self._received[message_id] = received
        printed = self._printed.get(message_id, 0)
        if self.as_json or len(received) <= printed:
            return
        if self._last_text_id not in (None, message_id):
            self.out.write("\n\n")
        self._last_text_id = message_id
        self.out.write(received[printed:])
        self.out.flush()
        self._printed[message_id] = len(received)

    def _call(self, chunk: Any) -> None:
        """Assemble a tool call streamed in fragments (name first, then argument pieces)."""
        calls = self._calls.setdefault(chunk.id, {})
        for raw in _calls_of(chunk):
            data = raw if isinstance(raw, dict) else raw.model_dump()
            call_id = data.get("tool_call_id")
            key = call_id or (next(reversed(calls)) if calls else "0")
            call = calls.setdefault(key, _Call())
            call.name = call.name or data.get("name") or ""
            call.tool_call_id = call.tool_call_id or call_id
            call.arguments += data.get("arguments") or ""
        if chunk.message_type == "approval_request_message":
            self.outcome.pending = list(calls.values())

    def _show_calls(self) -> None:
        for message_id, calls in self._calls.items():
            for key, call in calls.items():
                if (message_id, key) in self._shown_calls:
                    continue
                self._shown_calls.add((message_id, key))  # type: ignore[arg-type]
                self.err.write(f"→ {call.show()}\n")

    def finish(self) -> None:
        if self.verbose and not self.as_json:
            self._show_calls()
        if self._printed and not self.as_json:
            self.out.write("\n")
            self.out.flush()


class Ask:
    """One ``chinwag ask``: pick the agent and conversation, send, print, judge the end."""

    def __init__(
        self,
        client: ChinwagClient,
        args: argparse.Namespace,
        state: AskState,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.client, self.args, self.state = client, args, state
        self.out, self.err = out, err
        self.address: str | None = None  # where the message went, once chosen

    async def run(self, text: str | None) -> int:
        agent, conversation = await self.resolve()
        address = self.address = agent.id if conversation == DEFAULT else conversation
        printer = TurnPrinter(self.out, self.err, as_json=self.args.json, verbose=self.args.verbose)
        if self.args.json:
            printer.line(
                {
                    "message_type": "session",
                    "agent_id": agent.id,
                    "agent_name": agent.name,
                    "conversation_id": conversation,
                    "server": self.client.base_url,
                }
            )
        self.state.remember(agent.id, conversation)
        try:
            if text is None:
                calls = await self._pending(agent, conversation)
                answers = [
                    ApprovalAnswer(c.tool_call_id, self.args.approve, self.args.deny)
                    for c in calls
                    if c.tool_call_id
                ]
                stream = self.client.send_approvals(address, answers)
            else:
                stream = self.client.send(address, text, otid=str(uuid.uuid4()))
            async for chunk in stream:
                printer.part(chunk)
        except ApiError as exc:
            if exc.status == 409 and (
                exc.code == "APPROVAL_PENDING" or _waits_for_approval(exc.detail)
            ):
                calls = await self._pending(agent, conversation)
                hint = self._approval_hint(agent, conversation, calls)
                raise AskError(hint, EXIT_APPROVAL) from exc
            if not isinstance(exc, ConversationBusy):
                raise
            raise AskError(
                f"The conversation is busy with another run ({exc.run_id or 'unknown'}); "
                "try again when it has ended.",
                EXIT_BUSY,
            ) from exc
        finally:
            printer.finish()
        return await self._judge(printer.outcome, agent, conversation)

    async def _judge(self, outcome: Outcome, agent: Agent, conversation: str) -> int:
        if outcome.error and _waits_for_approval(outcome.error):  # Letta says so in the stream
            calls = await self._pending(agent, conversation)
            raise AskError(self._approval_hint(agent, conversation, calls), EXIT_APPROVAL)
        if outcome.error:
            raise AskError(f"The turn failed: {outcome.error}")
        if outcome.stop_reason == "end_turn":
            return EXIT_OK
        if outcome.stop_reason == "requires_approval":
            raise AskError(self._approval_hint(agent, conversation, outcome.pending), EXIT_APPROVAL)
        if outcome.stop_reason is None:
            raise AskError("The reply ended without saying how the turn ended.")
        raise AskError(f"The turn stopped: {outcome.stop_reason}.")

    # -- choosing the agent and the conversation -------------------------------------------

    async def resolve(self) -> tuple[Agent, str]:
        """The agent, and the conversation: a ``conv-…`` id or :data:`DEFAULT`."""
        wanted = self.args.conversation
        if wanted and wanted not in (DEFAULT, NEW) and not wanted.startswith("agent-"):
            conversation = await self._get(
                self.client.get_conversation(wanted), f"No conversation {wanted}"
            )
            agent = await self._agent_for_conversation(conversation.agent_id)
            return agent, conversation.id
        if wanted and wanted.startswith("agent-"):
            if self.args.agent:
                raise AskError(
                    "Give either --agent or an agent id as --conversation, not both.", EXIT_USAGE
                )
            return await self._agent_by_ref(wanted), DEFAULT
        agent = await self.resolve_agent()
        if wanted == NEW:
            created = await self.client.create_conversation(agent.id)
            return agent, created.id
        if wanted == DEFAULT:
            return agent, DEFAULT
        remembered = self.state.conversation_for(agent.id)
        if remembered and remembered != DEFAULT:
            with contextlib.suppress(NotFound):
                if (await self.client.get_conversation(remembered)).agent_id == agent.id:
                    return agent, remembered
        return agent, DEFAULT

    async def _agent_for_conversation(self, agent_id: str) -> Agent:
        agent = await self._get(self.client.get_agent(agent_id), f"No agent {agent_id}")
        if self.args.agent and self.args.agent not in (agent.id, agent.name):
            raise AskError(
                f"That conversation belongs to agent {agent.name!r} ({agent.id}), "
                f"not {self.args.agent!r}.",
                EXIT_USAGE,
            )
        return agent

    async def resolve_agent(self) -> Agent:
        if self.args.agent:
            return await self._agent_by_ref(self.args.agent)
        remembered = self.state.agent_id
        if remembered:
            with contextlib.suppress(NotFound):
                return await self.client.get_agent(remembered)
        agents = await self.client.list_agents(limit=1000)
        if len(agents) == 1:
            return agents[0]
        if not agents:
            return await self._create_agent()
        names = ", ".join(a.name for a in agents[:10]) + (", …" if len(agents) > 10 else "")
        raise AskError(
            f"{len(agents)} agents on this server; choose one with --agent NAME or ID ({names}).",
            EXIT_USAGE,
        )

    async def _agent_by_ref(self, ref: str) -> Agent:
        if ref.startswith("agent-"):
            return await self._get(self.client.get_agent(ref), f"No agent {ref}")
        agents = await self.client.list_agents(limit=1000, name=ref)
        exact = [a for a in agents if a.name == ref]
        if not exact:
            everyone = await self.client.list_agents(limit=1000)
            exact = [a for a in everyone if a.name.casefold() == ref.casefold()]
        if len(exact) == 1:
            return exact[0]
        if exact:
            ids = ", ".join(a.id for a in exact)
            raise AskError(f"Several agents are named {ref!r}; give an id ({ids}).", EXIT_USAGE)
        raise AskError(f"No agent named {ref!r} on this server.")

    async def _create_agent(self) -> Agent:
        try:
            agent = await self.client.create_agent(NEW_AGENT_NAME)
        except ApiError as exc:
            raise AskError(
                f"The server has no agent, and creating one failed: {exc.detail} "
                "Create one in the app (chinwag) and pass --agent."
            ) from exc
        model = agent.model or (agent.llm_config.handle if agent.llm_config else None) or "?"
        self.err.write(
            f"chinwag: no agent yet; created {agent.name!r} ({agent.id}, model {model}).\n"
        )
        return agent

    @staticmethod
    async def _get(call: Any, missing: str) -> Any:
        try:
            return await call
        except NotFound as exc:
            raise AskError(f"{missing} on this server.") from exc

    # -- approvals -------------------------------------------------------------------------

    async def _pending(self, agent: Agent, conversation: str) -> list[_Call]:
        """The tool calls that wait for approval, from the newest messages.

        A call waits when an approval request carries it and no tool return or approval
        response names it yet. Order within the page is not relied on: Letta lists an agent's
        newest messages oldest first even when asked for ``desc``.
        """
        address = agent.id if conversation == DEFAULT else conversation
        page = await self.client.newest_page(address, limit=20)
        requested: list[_Call] = []
        answered: set[str] = set()
        for message in page.messages:
            kind = getattr(message, "message_type", "")
            if kind == "approval_request_message":
                for item in _calls_of(message):
                    data = item if isinstance(item, dict) else item.model_dump()
                    name, args = data.get("name") or "", data.get("arguments") or ""
                    requested.append(_Call(name, args, data.get("tool_call_id")))
            elif kind == "tool_return_message":
                answered.add(str(getattr(message, "tool_call_id", "")))
            elif kind == "approval_response_message":
                for item in getattr(message, "approvals", None) or []:
                    if isinstance(item, dict):
                        answered.add(str(item.get("tool_call_id")))
                answered.add(str(getattr(message, "approval_request_id", "")))
        pending = {c.tool_call_id: c for c in requested if c.tool_call_id not in answered}
        pending.pop(None, None)
        if not pending:
            raise AskError("Nothing in this conversation waits for approval.")
        return list(pending.values())

    def _approval_hint(self, agent: Agent, conversation: str, calls: list[_Call]) -> str:
        shown = "; ".join(c.show() for c in calls) or "a tool call"
        where = [f"--agent {agent.id}", f"--conversation {conversation}"]
        if self.args.server:
            where.append(f"--server {self.args.server}")
        if self.args.profile:
            where.append(f"--profile {self.args.profile}")
        if self.args.db:
            where.append(f"--db {self.args.db}")
        command = "chinwag ask " + " ".join(where)
        return (
            f"Waiting for approval: {shown}. Answer with `{command} --approve` "
            f'or `{command} --deny "reason"`.'
        )


async def run_ask(
    args: argparse.Namespace,
    text: str | None,
    url: str | None,
    token: str | None,
    state_path: Path,
    out: TextIO,
    err: TextIO,
) -> int:
    """Start the bundled server if no URL is given, run the ask, stop the server."""
    launcher = None
    if not url:
        launcher = EmbeddedServer(db=args.db)
        launcher.spawn()
    try:
        if launcher is not None:
            url = await launcher.wait_ready()
        key = url if launcher is None else f"bundled:{args.db.resolve() if args.db else DEFAULT}"
        client = ChinwagClient(url or "", token)
        ask = Ask(client, args, AskState(state_path, str(key)), out, err)
        try:
            return await ask.run(text)
        except asyncio.CancelledError:
            if ask.address:  # Ctrl-C: stop the run too, as the app's Esc does
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.cancel(ask.address), 2)
            raise
        finally:
            await client.aclose()
    finally:
        if launcher is not None:
            launcher.stop()


def main(argv: list[str]) -> int:
    """``chinwag ask …``; returns the exit status."""
    stdin, out, err = sys.stdin, sys.stdout, sys.stderr
    args = parse_args(argv)
    try:
        text = read_message(args, stdin)
        url, token = resolve_server(args, load_config())
        return asyncio.run(run_ask(args, text, url, token, AskState.default_path(), out, err))
    except AskError as exc:
        err.write(f"chinwag: {exc}\n")
        return exc.status
    except Unauthorized as exc:
        err.write(f"chinwag: the server refused the token: {exc.detail} (pass --token).\n")
        return EXIT_FAILED
    except (ClientError, LaunchError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err.write(f"chinwag: {message}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        err.write("chinwag: interrupted.\n")
        return 130
