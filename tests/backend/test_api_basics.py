"""Conventions every route follows: health, slashes, errors, auth, body limit, OpenAPI."""

import httpx

from backend import __version__
from tests.servers import ServerThread


def test_health_reports_version_with_and_without_slash(http: httpx.Client) -> None:
    for path in ("/v1/health/", "/v1/health"):
        response = http.get(path)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "version": "0.16.8",
            "server": "chinwag",
            "chinwag_version": __version__,
        }


def test_collection_routes_answer_both_forms_without_redirect(http: httpx.Client) -> None:
    for path in ("/v1/agents/", "/v1/agents", "/v1/models/", "/v1/models"):
        response = http.get(path)
        assert response.status_code == 200, path
        assert isinstance(response.json(), list)


def test_unknown_route_is_404_with_error_body(http: httpx.Client) -> None:
    response = http.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert "/v1/nothing-here" in response.json()["detail"]


def test_wrong_method_is_405_with_error_body(http: httpx.Client) -> None:
    response = http.put("/v1/agents/")
    assert response.status_code == 405
    assert set(response.json()) == {"detail", "code"}


def test_invalid_json_is_422_with_readable_detail(http: httpx.Client) -> None:
    response = http.post(
        "/v1/agents/", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "not valid JSON" in body["detail"]


def test_non_object_body_is_422(http: httpx.Client) -> None:
    response = http.post("/v1/agents/", json=[1, 2])
    assert response.status_code == 422
    assert "JSON object" in response.json()["detail"]


def test_body_over_limit_is_413(server_factory) -> None:
    server: ServerThread = server_factory(body_limit=1000)
    with server.client() as client:
        response = client.post("/v1/agents/", json={"name": "x" * 2000})
        assert response.status_code == 413
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"
        # Chunked bodies (no Content-Length) are counted as they arrive.
        chunked = client.post(
            "/v1/agents/",
            content=iter([b'{"name": "', b"y" * 2000, b'"}']),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413
        assert client.get("/v1/agents/").json() == []


def test_large_block_of_600_kb_is_accepted(http: httpx.Client) -> None:
    value = "lorem ipsum " * 50_000
    response = http.post(
        "/v1/agents/", json={"memory_blocks": [{"label": "human", "value": value, "limit": 10**6}]}
    )
    assert response.status_code == 200
    assert response.json()["blocks"][0]["value"] == value


def test_token_required_everywhere_but_health(server_factory) -> None:
    server: ServerThread = server_factory(token="s3cret")
    with server.client() as client:
        assert client.get("/v1/health/").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = client.get("/v1/agents/", headers=headers)
            assert response.status_code == 401
            assert response.json() == {"detail": "Unauthorized", "code": "UNAUTHORIZED"}
        ok = client.get("/v1/agents/", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_openapi_describes_every_route(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert "post" in paths["/v1/agents/"] and "get" in paths["/v1/agents/"]
    assert "get" in paths["/v1/conversations/{conversation_id}/messages"]
    create = paths["/v1/agents/"]["post"]
    ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.rsplit("/", 1)[1] in spec["components"]["schemas"]
