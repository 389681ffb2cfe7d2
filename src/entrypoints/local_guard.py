"""Keeps the local development IdP's app to requests made on this machine.

The local IdP signs anyone in as anyone. While it is active, every request must
reach a loopback address of the server and name, in its ``Host``, a loopback
name (``127.0.0.1``, ``[::1]``, ``localhost``) with the port it was served on:
a DNS-rebinding page (``Host: rebind.attacker.example``) or a machine on the
network (``Host: 127.0.0.1:8000`` sent to a public address) gets 400
``invalid_request``. Pure ASGI; the port comes from the scope's ``server``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..domain.errors import InvalidRequest
from .asgi import ASGIApp, Receive, Scope, Send, send_error
from .settings import LOOPBACK_NAMES, is_loopback_host


def is_local_request(scope: Scope) -> bool:
    """The request reached a loopback address and its one Host header names a
    loopback name with the served port."""
    server: Any = scope.get("server")
    if "aws.event" in scope:  # Mangum builds the server from the Host header
        return False
    if not server or len(server) != 2 or not is_loopback_host(str(server[0])):
        return False
    hosts = [v for k, v in scope.get("headers", ()) if k.lower() == b"host"]
    if len(hosts) != 1:
        return False
    try:
        parts = urlsplit("//" + hosts[0].decode("ascii"))
        port = parts.port
    except (UnicodeDecodeError, ValueError):
        return False
    if port is None:
        port = 443 if scope.get("scheme") in ("https", "wss") else 80
    return parts.hostname in LOOPBACK_NAMES and port == server[1]


class LocalOnly:
    """Answers 400 ``invalid_request`` to every request that is not local."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not is_local_request(scope):
            error = InvalidRequest("the local IdP answers loopback requests only")
            await send_error(scope, send, error)
            return
        await self.app(scope, receive, send)
