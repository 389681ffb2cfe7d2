"""Malformed Lambda events: only the documented outcomes may come out.

The authorizer answers every malformed event ``Unauthorized``; the handler
answers 400 ``invalid_request`` JSON. First the cases a hostile review found,
then hypothesis over arbitrary JSON and over valid events with one part broken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.test_lambda import (  # fixtures and helpers
    API,
    container,
    load,
    raises_unauthorized,
    token,
    user,
)
from wikibot_auth.entrypoints.aws_lambda import AuthorizerFailure, authorizer, handler

__all__ = ["container", "token", "user"]  # pytest fixtures, re-used

AUTHORIZER_EVENTS = [
    "rest_token_authorizer",
    "rest_request_authorizer",
    "http_v2_authorizer",
]
PROXY_EVENTS = ["rest_proxy", "http_v2_proxy", "function_url"]


def changed(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``event`` with the dotted ``path`` set to ``value`` (``...`` deletes it)."""
    *parents, last = path.split(".")
    node: Any = event
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return event


# --- the authorizer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("rest_request_authorizer", "headers", ["Authorization", "Bearer x"]),
        ("rest_request_authorizer", "headers", "Authorization: Bearer x"),
        ("rest_request_authorizer", "multiValueHeaders", {"Authorization": "x"}),
        ("http_v2_authorizer", "headers", ["authorization"]),
        ("http_v2_authorizer", "requestContext", "x"),
        ("http_v2_authorizer", "requestContext.http", "x"),
        ("http_v2_authorizer", "cookies", 5),
        ("http_v2_authorizer", "cookies", [None]),
        ("http_v2_authorizer", "routeArn", None),
        ("http_v2_authorizer", "routeArn", "x"),
        ("http_v2_authorizer", "routeArn", "arn:aws:execute-api:us-east-1:1:api"),
        ("rest_token_authorizer", "methodArn", ...),
        ("rest_token_authorizer", "methodArn", "arn:aws:s3:::bucket/x"),
        ("rest_token_authorizer", "authorizationToken", 5),
    ],
)
def test_a_malformed_authorizer_event_is_unauthorized(
    container, token, name, path, value
):
    raises_unauthorized(changed(load(name, token), path, value))


@pytest.mark.parametrize("event", [[], "x", 5, None, True, {}])
def test_an_event_that_is_no_object_is_unauthorized(container, event):
    raises_unauthorized(event)


def request_with_cookie(token: str, method_arn: str) -> dict[str, Any]:
    event = load("rest_request_authorizer", token)
    for headers in (event["headers"], event["multiValueHeaders"]):
        for name in [n for n in headers if n.lower() == "authorization"]:
            del headers[name]
    event["headers"]["Cookie"] = f"__Host-wikibot_auth_token={token}"
    del event["httpMethod"]
    event["methodArn"] = method_arn
    return event


@pytest.mark.parametrize(
    ("verb", "effect"), [("GET", "Allow"), ("POST", "Deny"), ("*", "Deny")]
)
def test_without_httpmethod_the_method_comes_from_the_method_arn(
    container, token, verb, effect
):
    container.config.authorizer_cookie_auth.override(True)
    arn = f"arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/{verb}/me"
    answer = authorizer(request_with_cookie(token, arn), None)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == effect
    if effect == "Deny":  # a cookie-authenticated unsafe method needs an Origin
        assert answer["context"] == {"error": "csrf_rejected"}


# --- the handler ----------------------------------------------------------------


def status_and_code(answer: dict[str, Any]) -> tuple[int, str | None]:
    body = answer.get("body") or ""
    code = json.loads(body).get("error") if body.startswith("{") else None
    return answer["statusCode"], code


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("http_v2_proxy", "headers.accept", None),
        ("http_v2_proxy", "headers.accept", 5),
        ("rest_proxy", "headers.Accept", None),
        ("rest_proxy", "body", 5),
        ("http_v2_proxy", "body", {"a": 1}),
        ("http_v2_proxy", "rawQueryString", None),
        ("http_v2_proxy", "cookies", 5),
        ("http_v2_proxy", "cookies", [None]),
        ("rest_proxy", "queryStringParameters", ["a", "b"]),
        ("rest_proxy", "multiValueHeaders", {"Accept": "x"}),
        ("http_v2_proxy", "requestContext.http.sourceIp", ...),
        ("http_v2_proxy", "requestContext.http", "x"),
        ("rest_proxy", "path", ...),
        ("rest_proxy", "requestContext", "x"),
        ("rest_proxy", "requestContext.identity", "x"),
        ("function_url", "isBase64Encoded", "yes"),
        ("http_v2_proxy", "headers.host", "a:b:c"),
        ("http_v2_proxy", "headers.x-forwarded-port", "https"),
    ],
)
def test_a_malformed_proxy_event_is_a_json_400(container, name, path, value):
    answer = handler(changed(load(name), path, value), None)
    assert status_and_code(answer) == (400, "invalid_request")
    assert answer["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize("event", [[], "x", 5, None, {}, {"version": "2.0"}])
def test_an_event_that_is_no_proxy_event_is_a_json_400(container, event):
    assert status_and_code(handler(event, None)) == (400, "invalid_request")


# --- properties -------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "type",
        "version",
        "headers",
        "cookies",
        "body",
        "httpMethod",
        "path",
        "requestContext",
        "routeArn",
        "methodArn",
        "authorizationToken",
        "rawQueryString",
        "multiValueHeaders",
        "queryStringParameters",
        "isBase64Encoded",
        "resource",
    ]
)
EVENTS = JSON | st.dictionaries(KEYS, JSON, max_size=8)


def paths_of(node: Any, prefix: str = "") -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            found.append(path)
            found.extend(paths_of(value, path + "."))
    return found


@st.composite
def broken(draw: Callable[..., Any], names: list[str], token: str) -> dict[str, Any]:
    """A valid event with one part replaced by any JSON, or removed."""
    event = load(draw(st.sampled_from(names)), token)
    path = draw(st.sampled_from(paths_of(event)))
    return changed(event, path, draw(st.just(...) | JSON))


PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def authorizer_outcome(event: Any) -> str:
    """The outcome's kind; anything undocumented fails the test."""
    refused: Exception | None = None
    try:
        answer = authorizer(event, None)
    except AuthorizerFailure as failure:  # no dependency fails here
        raise AssertionError(f"AuthorizerFailure({failure})") from failure
    except Exception as exc:
        refused = exc
    if refused is not None:
        assert type(refused) is Exception, repr(refused)
        assert refused.args == ("Unauthorized",), repr(refused)
        return "unauthorized"
    if "isAuthorized" in answer:
        assert set(answer) <= {"isAuthorized", "context"}
        return "simple"
    assert answer["policyDocument"]["Statement"][0]["Effect"] in ("Allow", "Deny")
    return "policy"


@PROPERTY
@given(event=EVENTS)
def test_any_json_event_is_unauthorized_by_the_authorizer(container, event):
    assert authorizer_outcome(event) == "unauthorized"


@PROPERTY
@given(data=st.data())
def test_a_broken_authorizer_event_has_a_documented_outcome(container, token, data):
    authorizer_outcome(data.draw(broken(AUTHORIZER_EVENTS, token)))


HANDLER_STATUSES = {200, 204, 302, 303, 400, 401, 403, 404, 405}


def handler_outcome(event: Any) -> int:
    answer = handler(event, None)
    status, code = status_and_code(answer)
    assert status in HANDLER_STATUSES, (status, code)
    if status >= 400 and code is not None:
        assert code != "internal_error"
    return status


@PROPERTY
@given(event=EVENTS)
def test_any_json_event_gets_a_json_400_from_the_handler(container, event):
    assert handler_outcome(event) == 400


@PROPERTY
@given(data=st.data())
def test_a_broken_proxy_event_has_a_documented_outcome(container, data):
    handler_outcome(data.draw(broken(PROXY_EVENTS, "")))


def test_the_fixtures_themselves_pass(container, token):
    assert status_and_code(handler(load("http_v2_proxy"), None)) == (
        401,
        "missing_token",
    )
    assert (
        authorizer(load("rest_token_authorizer", token), None)["principalId"]
        == "usr_ada"
    )
    assert API.startswith("https://")


def test_a_rest_event_with_two_cookie_lines_reads_them_as_the_authorizer_does(
    container, token
):
    event = load("rest_proxy")
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "cookie"}
    event["headers"] = {**headers, "Cookie": "theme=dark"}
    event["multiValueHeaders"] = {
        **{k: [v] for k, v in headers.items()},
        "Cookie": ["theme=dark", f"__Host-wikibot_auth_token={token}"],
    }
    event["headers"]["Origin"] = API
    answer = handler(event, None)
    assert answer["statusCode"] == 200, answer["body"]  # /me, by the cookie
    assert json.loads(answer["body"])["user_id"] == "usr_ada"
