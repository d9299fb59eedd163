"""Query parameters read by the routes' helpers are the values Starlette would give."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from backend.api.common import query_value, query_values

CASES = [
    b"",
    b"limit=50",
    b"agent_id=agent-1&limit=50&order=desc",
    b"a=1&a=2&b=",
    b"flag&x=1&&y",
    b"=v&k=",
    b"name=a%20b&tag=%C3%BC&plus=a+b",
    b"include_return_message_types=user_message,assistant_message&include_return_message_types=x",
    b"raw=\xc3\xbc&q=50%",
    b"raw=\xc3\xbc",
]


def request_for(query: bytes) -> Request:
    return Request({"type": "http", "query_string": query, "headers": []})


def check(query: bytes) -> None:
    expected = request_for(query).query_params
    request = request_for(query)
    got = query_values(request)
    assert got == {k: expected.getlist(k) for k in expected}
    for name in [*expected.keys(), "missing"]:
        assert query_value(request, name) == expected.get(name)


@pytest.mark.parametrize("query", CASES)
def test_known_queries(query: bytes) -> None:
    check(query)


@given(st.lists(st.sampled_from(list("ab=&%+2C é")), max_size=20))
def test_any_query(chars: list[str]) -> None:
    check("".join(chars).encode("utf-8"))
