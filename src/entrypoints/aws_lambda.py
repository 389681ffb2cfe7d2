"""AWS Lambda: ``authorizer(event, context)`` and ``handler(event, context)``.

The container is built once per cold start, on first use (importing this module
is cheap). The authorizer's container is verify-only: its key ring holds public
keys and never signs (``WIKIBOT_AUTH_PUBLIC_KEYS_FILE`` when given, else the
public half of the configured key: one KMS ``GetPublicKey`` per cold start,
never ``Sign``), and it imports neither the routes, Starlette's app nor Mangum.
``handler`` runs the same routes as ``asgi.create_app()`` through Mangum for REST
v1 proxy, HTTP API (payload 1.0 and 2.0) and Function URL events.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..domain.errors import (
    AuthError,
    InternalError,
    InvalidRequest,
    MissingToken,
    NotConfigured,
)
from ..domain.model import AuthenticatedUser
from .containers import Container, create_container
from .cookies import TOKEN_COOKIE, cookie_name, is_secure_origin, origin_of
from .credentials import Credentials, read_credentials
from .extras import LAMBDA, install_hint, missing_package
from .lambda_events import (
    HTTP_V2_AUTHORIZER,
    TOKEN,
    AuthorizerRequest,
    authorizer_request,
    proxy_request,
)
from .wire import error_answer, wire_error

logger = logging.getLogger("wikibot_auth")

Event = Mapping[str, Any]

# The login handler's answer (500 not_configured) when the package was built
# without Mangum or Starlette: the authorizer needs neither.
MISSING_LAMBDA_EXTRA = (
    f"The Lambda handler needs the 'lambda' extra: {install_hint(LAMBDA)}."
)

_container: Container | None = None
_authorizer_container: Container | None = None
_http_handler: Callable[[Event, Any], dict[str, Any]] | None = None
_loop: asyncio.AbstractEventLoop | None = None


class AuthorizerFailure(Exception):
    """Raised by ``authorizer`` for a 5xx code (API Gateway answers 500); the
    message is the code, e.g. ``store_unavailable``."""


def configure(container: Container | None = None) -> None:
    """Use ``container`` from now on for both functions (tests); None rebuilds
    each from the environment on next use."""
    global _container, _authorizer_container, _http_handler, _loop
    _container = _authorizer_container = container
    _http_handler = None
    if _loop is not None:
        _loop.close()
        asyncio.set_event_loop(None)
        _loop = None


def get_container() -> Container:
    """The handler's container of this cold start (``runtime`` is ``lambda``:
    the tighter budget of the DynamoDB and KMS clients)."""
    global _container
    if _container is None:
        _container = create_container(runtime="lambda")
    return _container


def get_authorizer_container() -> Container:
    """The authorizer's container of this cold start: as the handler's, with
    a verify-only key ring (``verify_only``)."""
    global _authorizer_container
    if _authorizer_container is None:
        _authorizer_container = create_container(runtime="lambda", verify_only=True)
    return _authorizer_container


# --- the authorizer ----------------------------------------------------------


def _credentials(request: AuthorizerRequest) -> Credentials | None:
    """The credentials of an authorizer event. The token cookie counts only with
    ``WIKIBOT_AUTH_AUTHORIZER_COOKIE_AUTH=true`` (and ``WIKIBOT_AUTH_COOKIE_AUTH``):
    API Gateway caches an answer by its identity sources, so an Origin check made
    for one request would otherwise be reused for another."""
    if request.kind == TOKEN:
        return Credentials(header=request.token)
    config = get_authorizer_container().config
    redirect_uri = config.redirect_uri()
    return read_credentials(
        request.headers,
        method=request.method,
        cookie_auth=bool(config.cookie_auth() and config.authorizer_cookie_auth()),
        allowed_origins={origin_of(redirect_uri)} if redirect_uri else set(),
        token_cookie=cookie_name(
            TOKEN_COOKIE,
            secure=not redirect_uri or is_secure_origin(origin_of(redirect_uri)),
        ),
        cookie_header=request.cookie_header,
    )


def _authenticate(request: AuthorizerRequest) -> AuthenticatedUser:
    """The caller; a refusal of a valid token's user carries the token's
    ``sub`` as the error's ``subject`` (the Deny's principalId)."""
    authenticate = get_authorizer_container().authenticate()
    credentials = _credentials(request)
    if credentials is None:
        raise MissingToken()
    if credentials.cookie_token is not None:
        return authenticate.token(credentials.cookie_token)
    return authenticate(credentials.header)


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
    display_name, tier). A 401 code, and any malformed event (an event of the
    handler's kind included), raises ``Exception("Unauthorized")``;
    ``user_disabled`` (and ``csrf_rejected``) return an explicit Deny; a 5xx code
    raises ``AuthorizerFailure(<code>)``. HTTP API events get the simple answer
    ``{isAuthorized, context}`` unless ``WIKIBOT_AUTH_AUTHORIZER_RESPONSE=iam``.
    """
    simple, resource = False, ""
    try:
        try:
            request = authorizer_request(event)
        except InvalidRequest as exc:  # a fixed sentence, never the event's data
            logger.warning("the authorizer refused an event: %s", exc.message)
            raise
        simple = (
            request.kind == HTTP_V2_AUTHORIZER
            and get_authorizer_container().config.authorizer_response() == "simple"
        )
        resource = request.arn.stage_resource
        user = _authenticate(request)
        if simple:
            return {"isAuthorized": True, "context": _context(user)}
        return _policy(user.user_id, "Allow", resource, _context(user))
    except AuthError as exc:
        return _refuse(exc, resource, simple, exc.subject or "anonymous")
    except Exception:
        logger.exception("unexpected error in the authorizer")
        return _refuse(InternalError(), resource, simple)


def _refuse(
    error: AuthError, resource: str, simple: bool, principal: str = "anonymous"
) -> dict[str, Any]:
    status = wire_error(error.code).status
    if status >= 500:
        raise AuthorizerFailure(error.code)
    if status == 403 and simple:
        return {"isAuthorized": False}
    if status == 403 and resource:
        return _policy(principal, "Deny", resource, {"error": error.code})
    raise Exception("Unauthorized")


# --- the HTTP handler ----------------------------------------------------------


class _MissingExtra(Exception):
    pass


def _build_http_handler() -> Callable[[Event, Any], dict[str, Any]]:
    global _loop
    try:
        from mangum import Mangum

        from . import routes  # noqa: F401 - Starlette, which create_app needs
    except ModuleNotFoundError as exc:
        raise _MissingExtra(missing_package(exc)) from exc
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
    ``multiValueHeaders`` (v1). A malformed event (an authorizer event
    included) is answered 400 ``invalid_request``; a package without the
    ``lambda`` extra (Mangum, Starlette), 500 ``not_configured`` naming it."""
    global _http_handler
    try:
        request = proxy_request(event)
    except InvalidRequest as exc:  # a fixed sentence, never the event's data
        logger.warning("the handler refused an event: %s", exc.message)
        return _error_response(exc)
    if request["isBase64Encoded"] and not _is_base64(request["body"]):
        return _error_response(InvalidRequest("the body is not valid base64"))
    if _http_handler is None:
        try:
            _http_handler = _build_http_handler()
        except AuthError as exc:  # e.g. not_configured: no redirect URI
            logger.error("the handler cannot start: %s", exc.code)
            return _error_response(exc)
        except _MissingExtra as exc:  # a package built without [lambda]
            logger.error(
                "the handler cannot start: %s is missing; %s", exc, install_hint(LAMBDA)
            )
            return _error_response(NotConfigured(), MISSING_LAMBDA_EXTRA)
    response = _http_handler(request, context)
    if request.get("version") != "2.0":
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


def _error_response(error: AuthError, description: str | None = None) -> dict[str, Any]:
    answer = error_answer(error)
    body = answer.body.decode("utf-8")
    if description is not None:  # a fixed sentence, like the table's own
        body = json.dumps(
            {"error": answer.code, "error_description": description},
            separators=(",", ":"),
        )
    return {
        "statusCode": answer.status,
        "headers": dict(answer.headers),
        "body": body,
        "isBase64Encoded": False,
    }


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
