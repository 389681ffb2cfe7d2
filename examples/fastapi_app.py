"""A FastAPI app that signs people in with wikibot-auth and protects one route.

It needs the `server` and `fastapi` extras
(`pip install 'wikibot-auth[server,fastapi]'`; `make venv` has them). Run it from
the repository root (after `make venv`), with the local development sign-in page
and the embedded defaults (SQLite store and a generated key under ./.wikibot-auth):

    WIKIBOT_AUTH_IDP=local \
    WIKIBOT_AUTH_REDIRECT_URI=http://127.0.0.1:8000/auth/callback \
    .venv/bin/uvicorn --factory --app-dir examples --no-access-log \
        --host 127.0.0.1 --port 8000 fastapi_app:build

(keep the access log off: callback URLs carry the authorization code). Then open
http://127.0.0.1:8000/auth/login?return_to=/hello, sign in with any email and
name, and /hello greets you (the browser now holds the token cookie). Or take the
token from the JSON callback (README "Log in with curl") and call
`curl -H "Authorization: Bearer $token" http://127.0.0.1:8000/hello`, or paste it
into "Authorize" on http://127.0.0.1:8000/docs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from wikibot_auth import AuthenticatedUser, Container
from wikibot_auth.entrypoints.asgi import create_app
from wikibot_auth.entrypoints.containers import create_container
from wikibot_auth.entrypoints.fastapi import current_user, install


def build(container: Container | None = None) -> FastAPI:
    """The app: ``/hello`` needs a platform token; ``/auth/...``, ``/me`` and
    the JWKS come from ``create_app()``. Without ``container``, the settings
    are read from the environment."""
    if container is None:
        container = create_container()
    app = FastAPI(title="wikibot-auth FastAPI example")
    install(app, container=container)

    @app.get("/hello")
    async def hello(
        user: Annotated[AuthenticatedUser, Depends(current_user)],
    ) -> dict[str, str]:
        return {"hello": user.display_name, "user_id": user.user_id}

    # Last: a mount at "/" answers every path the routes above do not.
    app.mount("/", create_app(container))
    return app
