"""Regressions found in review: first send, stale placeholder, focus after dialogs, form keys."""

from __future__ import annotations

from textual.widgets import Input, TextArea

from tests.servers import ServerThread
from tests.tui.conftest import AppFactory
from tests.tui.helpers import idle_in, screen_text, type_burst, wait_for_workers, wait_until
from tui.app import ChinwagApp
from tui.client import ChinwagClient
from tui.screens.dialogs import NewAgentDialog
from tui.widgets.messages import LiveBlock, MessageBlock

SIZE = (160, 45)
DRAFT = "Hello! My cat is called **Miso**. Can you show me a python snippet?"


async def _agent_without_conversations(url: str) -> str:
    api = ChinwagClient(url)
    agent = await api.create_agent("cat-person")
    await api.aclose()
    return agent.id


async def test_first_send_typed_fast_arrives_whole_and_shows_live(
    server: ServerThread, make_app: AppFactory
) -> None:
    await _agent_without_conversations(server.url)
    app: ChinwagApp = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: "No conversations yet" in screen_text(pilot), what="the hint"
        )
        await wait_for_workers(pilot)
        assert app.focused is app.composer
        type_burst(pilot, *DRAFT, "enter")
        await wait_until(pilot, lambda: app.conversation is not None, what="a conversation")
        await wait_until(
            pilot,
            lambda: any(b.entry.text.startswith("You said") for b in app.query(LiveBlock)),
            what="the reply shown live",
        )
        await wait_until(pilot, lambda: not app.streaming, what="the reply to end")
        await wait_for_workers(pilot)
        user = [b.entry.text for b in app.query(MessageBlock) if b.entry.kind == "user"]
        assert user == [DRAFT]
        assert "No conversations yet" not in screen_text(pilot)
        assert not app.messages.query(".hint")
        assert app.composer.text == ""

        api = ChinwagClient(server.url)
        page = await api.newest_page(app.conversation.id)
        await api.aclose()
        sent = [m.content for m in page.messages if m.message_type == "user_message"]
        assert sent == [DRAFT]


async def test_keys_after_new_agent_dialog_land_in_composer(
    server: ServerThread, make_app: AppFactory
) -> None:
    app: ChinwagApp = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "agents", ready=lambda: "No agents yet" in screen_text(pilot))
        # Everything typed at once: open the dialog, name the agent, create it, send a message.
        type_burst(pilot, "n", *"quick", "enter")
        await wait_until(pilot, lambda: len(app.agents.agents) == 1, what="the agent")
        await wait_for_workers(pilot)
        assert app.agents.agents[0].name == "quick"
        assert app.focused is app.composer
        type_burst(pilot, *DRAFT, "enter")
        await wait_until(pilot, lambda: app.conversation is not None, what="a conversation")
        await wait_until(pilot, lambda: not app.streaming, what="the reply")
        await wait_for_workers(pilot)
        user = [b.entry.text for b in app.query(MessageBlock) if b.entry.kind == "user"]
        assert user == [DRAFT]


async def test_dialog_takes_the_keys_typed_after_it_opens_and_hands_on_those_after_it(
    server: ServerThread, make_app: AppFactory
) -> None:
    await _agent_without_conversations(server.url)
    app: ChinwagApp = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "conversations")
        # One burst: open the dialog, name the conversation, submit, and go on typing.
        type_burst(pilot, "n", *"named", "enter", *"straight on")
        await wait_until(
            pilot,
            lambda: (
                [c.summary for c in app.conversations.conversations]
                == ["Default conversation", "named"]
            ),
            what="the conversation named in the dialog",
        )
        await wait_until(pilot, lambda: app.composer.text == "straight on", what="the draft")
        assert app.focused is app.composer


async def test_new_agent_form_keys(server: ServerThread, make_app: AppFactory) -> None:
    app: ChinwagApp = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "agents", ready=lambda: "No agents yet" in screen_text(pilot))
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewAgentDialog), what="dialog")
        dialog = app.screen
        assert "ctrl+s" in screen_text(pilot)
        await pilot.press(*"tabby")
        human = dialog.query_one("#human", TextArea)
        human.focus()
        await pilot.press(*"likes", "tab")
        assert human.text == "likes"  # tab moved on, no tab character
        assert app.focused is not human
        # Tab from the Human field reaches the Create button; enter on it creates the agent.
        assert app.focused is dialog.query_one("#ok")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.agents.agents) == 1, what="the agent")
        await wait_for_workers(pilot)
        assert app.agents.agents[0].name == "tabby"

        app.action_focus("agents")
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NewAgentDialog), what="dialog")
        app.screen.query_one("#name", Input).value = "saved-with-ctrl-s"
        app.screen.query_one("#persona", TextArea).focus()
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(app.agents.agents) == 2, what="the second agent")
        await wait_for_workers(pilot)
        assert "saved-with-ctrl-s" in [a.name for a in app.agents.agents]


async def test_enter_that_does_not_close_a_dialog_keeps_the_keys_in_it(
    server: ServerThread, make_app: AppFactory
) -> None:
    app: ChinwagApp = make_app(server.url)
    async with app.run_test(size=SIZE) as pilot:
        await idle_in(pilot, "agents", ready=lambda: "No agents yet" in screen_text(pilot))
        # Enter with no name yet: the dialog stays, and what is typed next is the name.
        type_burst(pilot, "n", "enter", *"late")
        await wait_until(pilot, lambda: isinstance(app.screen, NewAgentDialog), what="dialog")
        dialog = app.screen
        name = dialog.query_one("#name", Input)
        await wait_until(pilot, lambda: name.value == "late", what="the name typed after enter")
        # Enter in a text area is a new line, not a submission.
        persona = dialog.query_one("#persona", TextArea)
        persona.focus()
        persona.text = ""
        await pilot.press(*"one", "enter", *"two")
        assert persona.text == "one\ntwo"
        assert app.screen is dialog
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: len(app.agents.agents) == 1, what="the agent")
        assert app.agents.agents[0].name == "late"
