"""Checks API Gateway and Function URL events before anything reads them.

Every field our Lambda functions read is checked for its type here, once: a
malformed event (wrong types anywhere, missing keys, an ARN that is not an
execute-api ARN, an event of the other function's kind) is ``InvalidRequest``,
which the authorizer answers ``Unauthorized`` and the handler 400. The handler
passes Mangum a canonical copy holding only checked values, never the event
itself. Shapes: ``shared/reference/aws-lambda-events.md`` and docs/integrating.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..domain.errors import InvalidRequest
from .credentials import collect_headers

TOKEN, REST_REQUEST, HTTP_V2_AUTHORIZER = "token", "request", "v2"
PROXY_V1, PROXY_V2 = "proxy-v1", "proxy-v2"

_HOST = re.compile(r"[A-Za-z0-9.\-_]+(:[0-9]{1,5})?")
_PORT = re.compile(r"[0-9]{1,5}")


def _malformed(what: str) -> InvalidRequest:
    return InvalidRequest(f"malformed Lambda event: {what}")


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _malformed(f"{what} is not a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON's \ud800
        raise _malformed(f"{what} is not text") from None
    return value


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _malformed(f"{what} is not an object")
    return value


def _optional_object(event: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = event.get(key)
    return {} if value is None else _object(value, key)


def _text_map(event: Mapping[str, Any], key: str) -> dict[str, str]:
    """A map of strings; null or absent is empty."""
    return {
        _text(name, key): _text(value, f"{key} value")
        for name, value in _optional_object(event, key).items()
    }


def _text_list(value: object, what: str) -> list[str]:
    if not isinstance(value, list):
        raise _malformed(f"{what} is not a list")
    return [_text(item, what) for item in value]


def _list_map(event: Mapping[str, Any], key: str) -> dict[str, list[str]]:
    return {
        _text(name, key): _text_list(values, f"{key} value")
        for name, values in _optional_object(event, key).items()
    }


@attrs.frozen
class ExecuteApiArn:
    """``arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<verb>/...``."""

    prefix: str  # arn:<partition>:execute-api:<region>:<account>
    api: str
    stage: str
    method: str | None

    @classmethod
    def parse(cls, value: object) -> ExecuteApiArn:
        arn = _text(value, "the method or route ARN")
        parts = arn.split(":", 5)
        if (
            len(parts) != 6
            or parts[0] != "arn"
            or parts[2] != "execute-api"
            or not (parts[1] and parts[3] and parts[4])
        ):
            raise _malformed("not an execute-api ARN")
        path = parts[5].split("/")
        if len(path) < 2 or not path[0] or not path[1]:
            raise _malformed("the ARN names no API and stage")
        method = path[2].upper() if len(path) > 2 and path[2] else None
        return cls(":".join(parts[:5]), path[0], path[1], method)

    @property
    def stage_resource(self) -> str:
        """``.../<api>/<stage>/*/*``: one cached policy serves the whole stage."""
        return f"{self.prefix}:{self.api}/{self.stage}/*/*"


@attrs.frozen
class AuthorizerRequest:
    """What an authorizer event carries that we read."""

    kind: str
    arn: ExecuteApiArn
    method: str
    token: str | None = attrs.field(default=None, repr=False)
    headers: Mapping[str, list[str]] = attrs.field(factory=dict, repr=False)
    cookie_header: str | None = attrs.field(default=None, repr=False)


def authorizer_request(event: object) -> AuthorizerRequest:
    """A REST TOKEN or REQUEST event, or an HTTP API (2.0) authorizer event.

    Raises:
        InvalidRequest: anything else, or any field of the wrong type.
    """
    event = _object(event, "the event")
    kind = event.get("type")
    if kind == "TOKEN":
        arn = ExecuteApiArn.parse(event.get("methodArn"))
        token = _text(event.get("authorizationToken"), "authorizationToken")
        return AuthorizerRequest(TOKEN, arn, arn.method or "*", token=token)
    if kind != "REQUEST":
        raise _malformed(
            "not an API Gateway authorizer event (a proxy event? point routes "
            "at wikibot_auth.entrypoints.aws_lambda.handler)"
        )
    headers = collect_headers(_text_map(event, "headers").items())
    if "routeArn" in event:
        arn = ExecuteApiArn.parse(event.get("routeArn"))
        http = _optional_object(_optional_object(event, "requestContext"), "http")
        method = http.get("method")
        cookies = event.get("cookies")
        return AuthorizerRequest(
            HTTP_V2_AUTHORIZER,
            arn,
            _text(method, "the method").upper() if method is not None else "*",
            headers=headers,
            cookie_header=None
            if cookies is None
            else "; ".join(_text_list(cookies, "cookies")),
        )
    arn = ExecuteApiArn.parse(event.get("methodArn"))
    headers.update(collect_headers(_pairs(_list_map(event, "multiValueHeaders"))))
    method = event.get("httpMethod")
    return AuthorizerRequest(
        REST_REQUEST,
        arn,
        _text(method, "httpMethod").upper()
        if method is not None
        else arn.method or "*",
        headers=headers,
    )


def _pairs(values: Mapping[str, list[str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, items in values.items() for value in items]


def proxy_kind(event: object) -> str:
    """``proxy-v2`` (HTTP API 2.0, Function URLs) or ``proxy-v1`` (REST, HTTP
    API 1.0). Raises InvalidRequest for anything else (an authorizer event)."""
    event = _object(event, "the event")
    if event.get("type") in ("TOKEN", "REQUEST"):
        raise _malformed(
            "an authorizer event (use wikibot_auth.entrypoints.aws_lambda."
            "authorizer as the API Gateway authorizer)"
        )
    if event.get("version") == "2.0":
        return PROXY_V2
    if "httpMethod" in event:
        return PROXY_V1
    raise _malformed("not an API Gateway proxy or Function URL event")


def proxy_request(event: object) -> dict[str, Any]:
    """The canonical event Mangum reads: checked values only.

    Raises:
        InvalidRequest: any field Mangum would read has the wrong type.
    """
    kind = proxy_kind(event)
    event = _object(event, "the event")
    context = _object(event.get("requestContext"), "requestContext")
    body = event.get("body")
    canonical: dict[str, Any] = {
        "headers": _text_map(event, "headers"),
        "body": None if body is None else _text(body, "body"),
        "isBase64Encoded": _flag(event.get("isBase64Encoded")),
        "requestContext": {},
    }
    if kind == PROXY_V2:
        http = _object(context.get("http"), "requestContext.http")
        raw_query = event.get("rawQueryString", "")
        canonical.update(
            version="2.0",
            rawQueryString=_text(raw_query, "rawQueryString"),
            requestContext={
                "http": {
                    "method": _text(http.get("method"), "the method"),
                    "path": _text(http.get("path"), "the path"),
                    "sourceIp": _text(http.get("sourceIp"), "sourceIp"),
                }
            },
        )
        cookies = event.get("cookies")
        if cookies is not None:
            canonical["cookies"] = _text_list(cookies, "cookies")
    else:
        identity = _optional_object(context, "identity")
        source_ip = identity.get("sourceIp")
        canonical.update(
            resource="/{proxy+}",
            httpMethod=_text(event.get("httpMethod"), "httpMethod"),
            path=_text(event.get("path"), "path"),
            multiValueHeaders=_list_map(event, "multiValueHeaders"),
            queryStringParameters=_text_map(event, "queryStringParameters"),
            multiValueQueryStringParameters=_list_map(
                event, "multiValueQueryStringParameters"
            ),
            requestContext={"identity": {"sourceIp": _optional_text(source_ip)}},
        )
        _one_cookie_header(canonical)
    _check_server(_as_mangum_reads_them(canonical))
    return canonical


def _one_cookie_header(canonical: dict[str, Any]) -> None:
    """Cookie lines joined with "; " (Mangum joins repeated headers with ", ",
    which would glue two cookies into one value): the rule the authorizer and
    the ASGI middleware read cookies by."""
    multi = canonical["multiValueHeaders"]
    lines = [
        v for name in list(multi) if name.lower() == "cookie" for v in multi.pop(name)
    ]
    if lines:
        headers = canonical["headers"]
        for name in [n for n in headers if n.lower() == "cookie"]:
            del headers[name]
        headers["cookie"] = "; ".join(lines)


def _flag(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _malformed("isBase64Encoded is not a boolean")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value, "sourceIp")


def _as_mangum_reads_them(canonical: Mapping[str, Any]) -> dict[str, str]:
    """The request headers as Mangum merges them (v1: ``multiValueHeaders``
    joined with ", " over ``headers``)."""
    merged = {name.lower(): value for name, value in canonical["headers"].items()}
    multi = canonical.get("multiValueHeaders")
    if multi:
        merged.update({name.lower(): ", ".join(v) for name, v in multi.items()})
    return merged


def _check_server(headers: Mapping[str, str]) -> None:
    """Mangum takes the server's name and port from ``Host`` (else
    ``X-Forwarded-Port``), and the scheme from ``X-Forwarded-Proto``: they
    must be readable."""
    host = headers.get("host")
    if host is not None and not _HOST.fullmatch(host):
        raise _malformed("the Host header is not host[:port]")
    if host is None or ":" not in host:
        port = headers.get("x-forwarded-port")
        if port is not None and not _PORT.fullmatch(port):
            raise _malformed("X-Forwarded-Port is not a port")
    if headers.get("x-forwarded-proto") not in (None, "http", "https"):
        raise _malformed("X-Forwarded-Proto is not http or https")
