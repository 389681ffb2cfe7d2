"""The two apps ``bench_asgi`` serves under uvicorn: one trivial route, bare or
behind ``AuthMiddleware`` (required) with the container's ``authenticate``.

Configured from the environment like ``serve`` (``WIKIBOT_AUTH_*``). The user
store is wrapped to count its reads: each read behind the 5 s user cache is a
cache miss, i.e. one ``asyncio.to_thread`` hop in the middleware. ``/_reads``
answers that count (bench bookkeeping, outside the measured route).
"""

from __future__ import annotations

from typing import Any

from dependency_injector import providers
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from wikibot_auth.domain.model import User
from wikibot_auth.domain.ports import UserRepository
from wikibot_auth.entrypoints.asgi import AuthMiddleware
from wikibot_auth.entrypoints.containers import create_container


class CountingStore:
    """A ``UserRepository`` that counts ``get`` calls reaching the store; the
    rest of the port is the inner store's own."""

    def __init__(self, inner: UserRepository) -> None:
        self.inner = inner
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get(self, user_id: str) -> User | None:
        self.reads += 1
        return self.inner.get(user_id)


async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def bare_app() -> Any:
    return Starlette(routes=[Route("/ping", ping)])


def middleware_app() -> Any:
    container = create_container()
    counting = CountingStore(container.user_store())
    container.user_store.override(providers.Object(counting))

    async def reads(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(counting.reads))

    return Starlette(
        routes=[Route("/ping", ping), Route("/_reads", reads)],
        middleware=[
            Middleware(
                AuthMiddleware,
                authenticate=container.authenticate(),
                required=lambda scope: scope["path"] != "/_reads",
            )
        ],
    )
