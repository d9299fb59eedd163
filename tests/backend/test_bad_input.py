"""Bad input never gets a 5xx, and the kept-alive connection survives (issue 8, points 2, 9)."""

import http.client
import json
import sqlite3

import httpx
import pytest
from starlette.applications import Starlette

from backend.routes import ENDPOINTS
from tests.backend.test_sending import new_conversation
from tests.servers import ServerThread


class OneConnection:
    """Requests over one kept-alive TCP connection, to see whether the server kept it."""

    def __init__(self, server: ServerThread) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        self.sock: object = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if self.sock is None:
            self.sock = self.conn.sock
        assert self.conn.sock is self.sock, "the server closed the kept-alive connection"
        return response.status, data

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def one(server: ServerThread):
    connection = OneConnection(server)
    yield connection
    connection.close()


def nested(depth: int) -> bytes:
    return b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [70, 1000, 100_000])
def test_deeply_nested_json_is_422(one: OneConnection, server: ServerThread, depth: int) -> None:
    with server.client() as http:
        _, conversation = new_conversation(http)
    status, body = one.request(
        "POST", f"/v1/conversations/{conversation['id']}/messages", nested(depth)
    )
    assert status == 422, body
    assert "nested too deeply" in json.loads(body)["detail"]
    assert one.request("GET", "/v1/health/")[0] == 200


def test_integers_too_big_for_sqlite_are_422(one: OneConnection, server: ServerThread) -> None:
    with server.client() as http:
        agent, conversation = new_conversation(http)
    big = str(2**63).encode()
    stream = f"/v1/conversations/{conversation['id']}/stream"
    block = f"/v1/agents/{agent['id']}/core-memory/blocks/human"
    cases = [
        ("POST", "/v1/agents/", b'{"memory_blocks": [{"label": "x", "limit": ' + big + b"}]}"),
        ("POST", stream, b'{"starting_after": ' + big + b"}"),
        ("POST", stream, b'{"starting_after": -' + big + b"1}"),
        ("PATCH", block, b'{"value": "v", "limit": ' + big + b"}"),
        ("PATCH", block, b'{"value": "v", "limit": "' + big + b'"}'),  # a number in a string
        ("PATCH", block, b'{"value": "v", "limit": 1e19}'),
    ]
    for method, path, body in cases:
        status, answer = one.request(method, path, body)
        assert status == 422, (path, answer)
        assert json.loads(answer)["code"] == "VALIDATION_ERROR"


BIG = 2**63
SPELLINGS = {  # a body with the integer ``BIG`` as its one field, spelled other than as 19 digits
    "utf-16": lambda field: json.dumps({field: BIG}).encode("utf-16-le"),
    "utf-32": lambda field: json.dumps({field: BIG}).encode("utf-32"),
    "underscores": lambda field: json.dumps({field: f"{BIG:_}"}).encode(),
    "escaped digits": lambda field: (
        f'{{"{field}": "' + "".join(f"\\u{ord(c):04x}" for c in str(BIG)) + '"}'
    ).encode(),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_integers_too_big_for_sqlite_are_422_however_spelled(
    one: OneConnection, server: ServerThread, spelling: str
) -> None:
    with server.client() as http:
        agent, _ = new_conversation(http)
        block = http.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human").json()
    body = SPELLINGS[spelling]
    for method, path, sent in (
        ("PATCH", f"/v1/blocks/{block['id']}", body("limit")),
        ("POST", f"/v1/blocks/{block['id']}/restore", body("version")),
    ):
        status, answer = one.request(method, path, sent)
        assert status == 422, (path, answer)
        assert json.loads(answer)["code"] == "VALIDATION_ERROR"


def test_an_integer_literal_over_4300_digits_is_422(one: OneConnection) -> None:
    status, answer = one.request("POST", "/v1/agents/", b'{"tags": [' + b"9" * 5000 + b"]}")
    assert status == 422, answer
    status, answer = one.request("GET", "/v1/agents/?limit=" + "9" * 5000)
    assert status == 422, answer


def test_nan_and_infinity_are_422(one: OneConnection, server: ServerThread) -> None:
    with server.client() as http:
        _, conversation = new_conversation(http)
    body = b'{"compaction_settings": {"sliding_window_percentage": NaN}}'
    status, answer = one.request("POST", f"/v1/conversations/{conversation['id']}/compact", body)
    assert status == 422, answer


def test_a_lone_surrogate_is_422_and_stores_nothing(server: ServerThread) -> None:
    with server.client() as http:
        agent, conversation = new_conversation(http)
        send = f"/v1/conversations/{conversation['id']}/messages"
        bodies = [
            (send, b'{"input": "a \\ud800 b"}'),
            ("/v1/agents/", b'{"name": "\\udfff"}'),
            ("/v1/agents/", b'{"tags": ["ok"], "\\ud800": 1}'),
            # No escape: the surrogate's own bytes, in UTF-8 and in UTF-16.
            (send, b'{"input": "a \xed\xa0\x80 b"}'),
            (send, '{"input": "a \ud800 b"}'.encode("utf-16-le", "surrogatepass")),
        ]
        for path, body in bodies:
            response = http.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 422, response.text
            assert "surrogate" in response.json()["detail"]
        messages = http.get(f"/v1/conversations/{conversation['id']}/messages").json()
        assert messages == []
        assert [a["id"] for a in http.get("/v1/agents/").json()] == [agent["id"]]


def get_paths(agent_id: str, conversation_id: str, run_id: str) -> list[str]:
    ids = {
        "agent_id": agent_id,
        "conversation_id": conversation_id,
        "run_id": run_id,
        "label": "human",
        "block_id": "block-00000000-0000-4000-8000-000000000000",
        "message_id": "message-00000000-0000-4000-8000-000000000000",
        "tool_id": "tool-00000000-0000-4000-8000-000000000000",
    }
    paths = []
    for ep in ENDPOINTS:
        if ep.method == "GET":
            path = ep.path
            for name, value in ids.items():
                path = path.replace("{" + name + "}", value)
            paths.append(path + ("?agent_id=" + agent_id if "agent_id" in ep.query else ""))
    return paths


def test_head_works_on_every_get_route(server: ServerThread, one: OneConnection) -> None:
    with server.client() as http:
        agent, conversation = new_conversation(http)
        for path in get_paths(agent["id"], conversation["id"], "run-none"):
            got = http.get(path)
            head = http.head(path)
            assert head.status_code == got.status_code, (path, head.status_code)
            assert head.content == b""
            assert head.headers["content-type"] == got.headers["content-type"]
    # Without a token too, and the connection goes on.
    assert one.request("HEAD", "/v1/health/") == (200, b"")
    assert one.request("GET", "/v1/health/")[0] == 200


def test_405_names_the_allowed_methods(http: httpx.Client) -> None:
    response = http.put("/v1/agents/", json={})
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"
    response = http.delete("/v1/health/")
    assert response.status_code == 405
    assert response.headers["allow"]
    # A fixed path names its own methods, not those of a templated path that also matches.
    search = http.put("/v1/messages/search", json={})
    assert search.status_code == 405
    assert search.headers["allow"].replace(" ", "") == "POST"


def test_a_body_is_optional_exactly_when_every_field_has_a_default(http: httpx.Client) -> None:
    """As the OpenAPI document says (``requestBody.required``)."""
    assert http.post("/v1/agents/").status_code == 200
    refused = http.post("/v1/messages/search")
    assert refused.status_code == 422
    assert "needs a JSON body" in refused.json()["detail"]


async def _drop_agents(app: Starlette) -> None:
    async with app.state.services.store.db.transaction() as tx:
        await tx.execute("PRAGMA foreign_keys=OFF")
        await tx.execute("DROP TABLE agents")


def test_after_a_500_the_kept_alive_connection_still_works(
    server: ServerThread, one: OneConnection
) -> None:
    server.call(_drop_agents)  # a broken store: the one way left to get a 500
    status, body = one.request("GET", "/v1/agents/")
    assert status == 500
    answer = json.loads(body)
    assert answer["code"] == "INTERNAL" and answer["request_id"]
    assert "Traceback" not in body.decode()
    assert one.request("GET", "/v1/health/")[0] == 200


async def _fill_the_disk(app: Starlette) -> None:
    """What a full disk looks like to SQLite (SQLITE_FULL): no page can be added."""
    db = app.state.services.store.db
    async with db.transaction() as tx:
        async with tx.execute("PRAGMA page_count") as cur:
            pages = (await cur.fetchone())[0]
        await tx.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_is_a_clear_error_and_the_server_goes_on(
    server: ServerThread, one: OneConnection
) -> None:
    with server.client() as http:
        agent, _ = new_conversation(http)
    server.call(_fill_the_disk)
    big = json.dumps({"memory_blocks": [{"label": "x", "value": "v" * 200_000, "limit": 200_000}]})
    status, body = one.request("POST", "/v1/agents/", big.encode())
    assert status == 507, body
    answer = json.loads(body)
    assert answer["code"] == "STORAGE_FULL"
    assert "disk" in answer["detail"] and "full" in answer["detail"]
    assert str(server.settings.db_path) in answer["detail"]
    status, body = one.request("GET", f"/v1/agents/{agent['id']}")
    assert status == 200


def test_sqlite_codes_map_to_clear_storage_errors(tmp_path) -> None:
    from backend.store.db import storage_error

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode = 8 | (6 << 8)  # type: ignore[attr-defined]  # READONLY_DBMOVED
    assert storage_error(full, tmp_path / "c.db").status == 507  # type: ignore[union-attr]
    error = storage_error(readonly, tmp_path / "c.db")
    assert error is not None and error.code == "STORAGE_READ_ONLY"
    assert str(tmp_path / "c.db") in error.detail
    assert storage_error(ValueError("x"), tmp_path) is None
