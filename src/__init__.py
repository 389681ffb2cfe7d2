"""wikibot-auth: the authentication core of the wikibot.io platform.

``import wikibot_auth`` stays light: the domain only. ``Container`` (and with it
boto3, httpx and PyJWT) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The domain's public names, listed once (in domain/__init__.py).
from .domain import *  # noqa: F403
from .domain import __all__ as _domain_names

if TYPE_CHECKING:
    from .entrypoints.containers import Container as Container

__all__ = sorted([*_domain_names, "Container"])


def __getattr__(name: str) -> Any:
    if name == "Container":
        from .entrypoints.containers import Container

        return Container
    raise AttributeError(f"module 'wikibot_auth' has no attribute {name!r}")
