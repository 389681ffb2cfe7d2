"""AWS Lambda: ``authorizer(event, context)`` and ``handler(event, context)``.

The container is built once per cold start, on first use (importing this module
is cheap). The authorizer needs public keys only: ``WIKIBOT_AUTH_PUBLIC_KEYS_FILE``
alone is enough, and it imports neither the routes, Starlette's app nor Mangum.
``handler`` runs the same routes as ``asgi.create_app()`` through Mangum for REST
v1 proxy, HTTP API (payload 1.0 and 2.0) and Function URL events.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..domain.errors import (
    AuthError,
    InternalError,
    InvalidRequest,
    MissingToken,
)
from ..domain.model import AuthenticatedUser
from .containers import Container, create_container
from .cookies import TOKEN_COOKIE, cookie_name, is_secure_origin, origin_of
from .credentials import Credentials, collect_headers, read_credentials
from .wire import error_answer, wire_error

logger = logging.getLogger("wikibot_auth")

Event = Mapping[str, Any]

_container: Container | None = None
_http_handler: Callable[[Event, Any], dict[str, Any]] | None = None
_loop: asyncio.AbstractEventLoop | None = None


class AuthorizerFailure(Exception):
    """Raised by ``authorizer`` for a 5xx code (API Gateway answers 500); the
    message is the code, e.g. ``store_unavailable``."""


def configure(container: Container | None = None) -> None:
    """Use ``container`` from now on (tests); None rebuilds from the environment
    on next use."""
    global _container, _http_handler, _loop
    _container = container
    _http_handler = None
    if _loop is not None:
        _loop.close()
        asyncio.set_event_loop(None)
        _loop = None


def get_container() -> Container:
    """The container of this cold start (``runtime`` is ``lambda``: the tighter
    store budget, and a verify-only key ring from the public keys file)."""
    global _container
    if _container is None:
        _container = create_container(runtime="lambda")
    return _container


# --- the authorizer ----------------------------------------------------------

TOKEN, REST_REQUEST, HTTP_V2_AUTHORIZER, PROXY = "token", "request", "v2", "proxy"


def event_kind(event: Event) -> str:
    """``token``, ``request`` (REST), ``v2`` (HTTP API authorizer) or ``proxy``."""
    if not isinstance(event, Mapping):
        raise TypeError("a Lambda event is a JSON object")
    if event.get("type") == "TOKEN":
        return TOKEN
    if event.get("type") == "REQUEST" and "routeArn" in event:
        return HTTP_V2_AUTHORIZER
    if event.get("type") == "REQUEST" and "methodArn" in event:
        return REST_REQUEST
    return PROXY


def _headers(event: Event) -> dict[str, list[str]]:
    """Case-insensitive header values; ``multiValueHeaders`` wins when present."""
    found = collect_headers(
        (str(name), value)
        for name, value in (event.get("headers") or {}).items()
        if isinstance(value, str)
    )
    multi = collect_headers(
        (str(name), value)
        for name, values in (event.get("multiValueHeaders") or {}).items()
        if isinstance(values, list)
        for value in values
        if isinstance(value, str)
    )
    found.update(multi)
    return found


def _method(event: Event) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or event.get("httpMethod") or "GET").upper()


def _credentials(event: Event, kind: str) -> Credentials | None:
    """The credentials of an authorizer event. The token cookie counts only with
    ``WIKIBOT_AUTH_AUTHORIZER_COOKIE_AUTH=true`` (and ``WIKIBOT_AUTH_COOKIE_AUTH``):
    API Gateway caches an answer by its identity sources, so an Origin check made
    for one request would otherwise be reused for another."""
    if kind == TOKEN:
        token = event.get("authorizationToken")
        return Credentials(header=token) if isinstance(token, str) else None
    config = get_container().config
    cookie_header = None
    if kind == HTTP_V2_AUTHORIZER and event.get("cookies"):
        cookie_header = "; ".join(str(c) for c in event["cookies"])
    redirect_uri = config.redirect_uri()
    return read_credentials(
        _headers(event),
        method=_method(event),
        cookie_auth=bool(config.cookie_auth() and config.authorizer_cookie_auth()),
        allowed_origins={origin_of(redirect_uri)} if redirect_uri else set(),
        token_cookie=cookie_name(
            TOKEN_COOKIE,
            secure=not redirect_uri or is_secure_origin(origin_of(redirect_uri)),
        ),
        cookie_header=cookie_header,
    )


def _authenticate(event: Event, kind: str) -> AuthenticatedUser:
    """The caller; a refusal of a valid token's user carries the token's
    ``sub`` as the error's ``subject`` (the Deny's principalId)."""
    authenticate = get_container().authenticate()
    credentials = _credentials(event, kind)
    if credentials is None:
        raise MissingToken()
    if credentials.cookie_token is not None:
        return authenticate.token(credentials.cookie_token)
    return authenticate(credentials.header)


def policy_resource(arn: str) -> str:
    """``arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/*/*``: one
    cached policy serves every route of the stage."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
        raise InvalidRequest("the event's method or route ARN is malformed")
    api, _, rest = parts[5].partition("/")
    stage = rest.partition("/")[0]
    if not api or not stage:
        raise InvalidRequest("the event's method or route ARN is malformed")
    return ":".join(parts[:5]) + f":{api}/{stage}/*/*"


def _context(user: AuthenticatedUser) -> dict[str, str | int | bool]:
    return {k: v for k, v in user.public_dict().items() if v is not None}


def _policy(
    principal: str, effect: str, resource: str, context: Mapping[str, Any] | None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": effect,
                    "Resource": resource,
                }
            ],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def authorizer(event: Event, context: Any) -> dict[str, Any]:
    """API Gateway Lambda authorizer for REST TOKEN/REQUEST and HTTP API 2.0 events.

    Allow: ``principalId`` = user id and a flat context (user_id, email,
    display_name, tier). A 401 code raises ``Exception("Unauthorized")``;
    ``user_disabled`` (and ``csrf_rejected``) return an explicit Deny; a 5xx code
    raises ``AuthorizerFailure(<code>)``. HTTP API events get the simple answer
    ``{isAuthorized, context}`` unless ``WIKIBOT_AUTH_AUTHORIZER_RESPONSE=iam``.
    """
    kind = event_kind(event)
    if kind == PROXY:
        raise ValueError(
            "wikibot_auth authorizer received a proxy or Function URL event: "
            "point routes at wikibot_auth.entrypoints.aws_lambda.handler and use "
            "authorizer only as an API Gateway Lambda authorizer"
        )
    simple, arn = False, ""
    try:
        simple = (
            kind == HTTP_V2_AUTHORIZER
            and get_container().config.authorizer_response() == "simple"
        )
        arn = str(event.get("routeArn") or event.get("methodArn") or "")
        resource = "" if simple else policy_resource(arn)
        user = _authenticate(event, kind)
        if simple:
            return {"isAuthorized": True, "context": _context(user)}
        return _policy(user.user_id, "Allow", resource, _context(user))
    except AuthError as exc:
        return _refuse(exc, arn, simple, exc.subject or "anonymous")
    except Exception:
        logger.exception("unexpected error in the authorizer")
        return _refuse(InternalError(), arn, simple)


def _refuse(
    error: AuthError, arn: str, simple: bool, principal: str = "anonymous"
) -> dict[str, Any]:
    status = wire_error(error.code).status
    if status >= 500:
        raise AuthorizerFailure(error.code)
    if status == 403:
        if simple:
            return {"isAuthorized": False}
        resource = policy_resource(arn)  # checked before authenticating
        return _policy(principal, "Deny", resource, {"error": error.code})
    raise Exception("Unauthorized")


# --- the HTTP handler ----------------------------------------------------------


def _build_http_handler() -> Callable[[Event, Any], dict[str, Any]]:
    global _loop
    from mangum import Mangum

    from .asgi import create_app

    app = create_app(get_container())  # may raise NotConfigured: no loop yet
    # Mangum runs each event on the current loop; own it so configure() can close it.
    _loop = asyncio.new_event_loop()
    asyncio.set_event_loop(_loop)
    adapter = Mangum(app, lifespan="off")
    return adapter  # type: ignore[return-value]


def handler(event: Event, context: Any) -> dict[str, Any]:
    """The routes of ``asgi.create_app()`` for REST v1 proxy, HTTP API and
    Function URL events. Cookies: ``cookies`` (v2), or ``Set-Cookie`` in
    ``multiValueHeaders`` (v1)."""
    global _http_handler
    if event_kind(event) != PROXY:
        raise ValueError(
            "wikibot_auth handler received an authorizer event: use "
            "wikibot_auth.entrypoints.aws_lambda.authorizer as the authorizer"
        )
    if "requestContext" not in event or not (
        "httpMethod" in event or "http" in (event.get("requestContext") or {})
    ):
        raise ValueError(
            "wikibot_auth handler needs an API Gateway proxy or Function URL event"
        )
    if event.get("isBase64Encoded") and not _is_base64(event.get("body")):
        return _error_response(InvalidRequest("the body is not valid base64"))
    if _http_handler is None:
        try:
            _http_handler = _build_http_handler()
        except AuthError as exc:  # e.g. not_configured: no redirect URI
            logger.error("the handler cannot start: %s", exc.code)
            return _error_response(exc)
    response = _http_handler(_normalized(event), context)
    if event.get("version") != "2.0":
        _v1_cookies(response)
    return response


def _is_base64(body: Any) -> bool:
    if body is None:
        return True
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    return True


def _error_response(error: AuthError) -> dict[str, Any]:
    answer = error_answer(error)
    return {
        "statusCode": answer.status,
        "headers": dict(answer.headers),
        "body": answer.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def _normalized(event: Event) -> dict[str, Any]:
    """Nulls where Mangum expects maps (REST sends null, not {})."""
    fixed = dict(event)
    for key in ("headers", "multiValueHeaders"):
        if fixed.get(key) is None:
            fixed[key] = {}
    if fixed.get("version") == "2.0":
        fixed.setdefault("rawQueryString", "")
    return fixed


def _v1_cookies(response: dict[str, Any]) -> None:
    headers: dict[str, Any] = response.setdefault("headers", {}) or {}
    multi: dict[str, Any] = response.setdefault("multiValueHeaders", {}) or {}
    cookies: list[str] = []
    for name in [n for n in headers if n.lower() == "set-cookie"]:
        cookies.append(headers.pop(name))
    for name in [n for n in multi if n.lower() == "set-cookie"]:
        cookies.extend(multi.pop(name))
    if cookies:
        multi["Set-Cookie"] = cookies
    response["headers"], response["multiValueHeaders"] = headers, multi
