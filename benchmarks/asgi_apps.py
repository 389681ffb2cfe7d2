"""The two apps ``bench_asgi`` serves under uvicorn: one trivial route, bare or
behind ``AuthMiddleware`` (required) with the container's ``authenticate``.

Configured from the environment like ``serve`` (``WIKIBOT_AUTH_*``). The user
store is wrapped to count its reads: each read behind the 5 s user cache is a
cache miss, i.e. one ``asyncio.to_thread`` hop in the middleware. ``/_reads``
answers that count (bench bookkeeping, outside the measured route).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dependency_injector import providers
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from wikibot_auth.domain.model import Identity, User
from wikibot_auth.domain.ports import UserRepository
from wikibot_auth.entrypoints.asgi import AuthMiddleware
from wikibot_auth.entrypoints.containers import create_container


class CountingStore:
    """A ``UserRepository`` that counts ``get`` calls reaching the store."""

    def __init__(self, inner: UserRepository) -> None:
        self.inner = inner
        self.reads = 0

    def get(self, user_id: str) -> User | None:
        self.reads += 1
        return self.inner.get(user_id)

    def find_by_identity(self, identity: Identity) -> User | None:
        return self.inner.find_by_identity(identity)

    def create(self, user: User, identities: Sequence[Identity]) -> tuple[User, bool]:
        return self.inner.create(user, identities)

    def link_identity(
        self, user_id: str, identity: Identity, *, primary: bool = True
    ) -> User:
        return self.inner.link_identity(user_id, identity, primary=primary)

    def update_profile(self, user_id: str, changes: Mapping[str, str]) -> User:
        return self.inner.update_profile(user_id, changes)

    def revoke_tokens(self, user_id: str, now: int) -> User:
        return self.inner.revoke_tokens(user_id, now)

    def set_disabled(self, user_id: str, disabled: bool) -> User:
        return self.inner.set_disabled(user_id, disabled)


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
