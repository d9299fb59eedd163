"""Who may call (API.md 1): web pages and DNS-rebinding pages never get in (issue 8, point 1)."""

import httpx
import pytest

from tests.servers import ServerThread


def test_a_foreign_host_gets_403_and_no_data(http: httpx.Client) -> None:
    http.post("/v1/agents/", json={"name": "secret"}).raise_for_status()
    for host in ("attacker.example", "attacker.example:8283", "192.168.1.5", "localhost.evil.com"):
        response = http.get("/v1/agents/", headers={"Host": host})
        assert response.status_code == 403, host
        assert response.json()["code"] == "FORBIDDEN_HOST"
        assert "secret" not in response.text
    # Health too: a rebinding page learns nothing, not even that a chinwag is there.
    assert http.get("/v1/health/", headers={"Host": "attacker.example"}).status_code == 403


@pytest.mark.parametrize(
    "host",
    ["localhost", "localhost:{port}", "LOCALHOST:{port}", "127.0.0.1:{port}", "[::1]:{port}"],
)
def test_loopback_hosts_are_answered(server: ServerThread, http: httpx.Client, host: str) -> None:
    response = http.get("/v1/agents/", headers={"Host": host.format(port=server.port)})
    assert response.status_code == 200


def test_localhost_url_works_as_the_app_uses_it(server: ServerThread) -> None:
    """``chinwag --server http://localhost:PORT`` sends ``Host: localhost:PORT``."""
    with httpx.Client(base_url=f"http://localhost:{server.port}", timeout=10) as client:
        made = client.post("/v1/agents/", json={"name": "a"})
        assert made.status_code == 200
        assert client.get(f"/v1/agents/{made.json()['id']}").status_code == 200


def test_with_a_token_any_host_is_answered(server_factory) -> None:
    """A ``--token`` server bound to a LAN address is reached by its LAN name."""
    server: ServerThread = server_factory(token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    with server.client() as http:
        lan = http.get("/v1/agents/", headers={"Host": "192.168.1.5:8283", **auth})
        assert lan.status_code == 200
        assert http.get("/v1/agents/", headers={"Host": "box.lan"}).status_code == 401


def test_a_foreign_origin_gets_403_and_changes_nothing(server: ServerThread) -> None:
    with server.client() as http:
        for origin in ("https://evil.example", "null", f"http://localhost:{server.port + 1}"):
            response = http.post(
                "/v1/agents/", json={"name": "from a page"}, headers={"Origin": origin}
            )
            assert response.status_code == 403, origin
            assert response.json()["code"] == "FORBIDDEN_ORIGIN"
        assert http.get("/v1/agents/").json() == []
        # The server's own origin is not foreign.
        own = http.get("/v1/agents/", headers={"Origin": server.url})
        assert own.status_code == 200


def test_a_foreign_origin_is_refused_with_a_token_too(server_factory) -> None:
    server: ServerThread = server_factory(token="s3cret")
    with server.client(headers={"Authorization": "Bearer s3cret"}) as http:
        response = http.get("/v1/agents/", headers={"Origin": "https://evil.example"})
        assert response.status_code == 403
        assert response.json()["code"] == "FORBIDDEN_ORIGIN"


def test_an_allowed_origin_gets_in_with_cors_answers(server_factory) -> None:
    server: ServerThread = server_factory(allowed_origins=("https://ui.example",))
    with server.client() as http:
        origin = {"Origin": "https://ui.example"}
        preflight = http.options(
            "/v1/agents/",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
        made = http.post("/v1/agents/", json={"name": "ui"}, headers=origin)
        assert made.status_code == 200
        assert made.headers["access-control-allow-origin"] == "https://ui.example"
        other = http.get("/v1/agents/", headers={"Origin": "https://other.example"})
        assert other.status_code == 403


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_a_body_that_is_not_declared_json_gets_415(
    http: httpx.Client, content_type: str | None
) -> None:
    """What a cross-site "simple" POST looks like: it creates nothing."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post("/v1/agents/", content=b'{"name": "cross-site"}', headers=headers)
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert http.get("/v1/agents/").json() == []


def test_json_with_a_charset_and_bodiless_posts_are_fine(http: httpx.Client) -> None:
    made = http.post(
        "/v1/agents/",
        content=b'{"name": "a"}',
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert made.status_code == 200
    conversation = http.post("/v1/conversations/", params={"agent_id": made.json()["id"]})
    assert conversation.status_code == 200
