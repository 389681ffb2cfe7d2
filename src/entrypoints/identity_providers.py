"""The identity providers by name, in the configured order, and their callbacks.

``IdentityProviders`` is what the container's ``identity_providers`` gives: a
read-only mapping name -> ``IdentityProvider`` whose adapters are built on
first use (an OpenID provider's discovery waits for its first login), and
which knows each provider's kind. Provider NAME's callback is
``<WIKIBOT_AUTH_REDIRECT_URI>/<NAME>``; a lone provider keeps the bare URI.
The remote adapters (and WorkOS's directory) are imported when first made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..domain.ports import IdentityProvider
from .idp_settings import NO_NONCE_KINDS, ProviderSettings

if TYPE_CHECKING:
    from ..adapters.bounded_http import BoundedHttpClient
    from ..adapters.local_idp import LocalIdentityProvider
    from ..adapters.workos import WorkOSIdentityProvider
    from ..adapters.workos_directory import WorkOSIdentityDirectory

# The kind /auth/providers shows for an adapter put in by hand (tests,
# embedding), and the name of one put in as ``identity_provider`` while
# WIKIBOT_AUTH_IDP is ``none``.
CUSTOM_KIND = "custom"
UNNAMED = "default"


class IdentityProviders(Mapping[str, IdentityProvider]):
    """name -> ``IdentityProvider`` in the configured order, the default
    first; ``build(name)`` makes (or returns the one already made) adapter."""

    def __init__(
        self, kinds: Mapping[str, str], build: Callable[[str], IdentityProvider]
    ) -> None:
        self._kinds = dict(kinds)
        self._build = build

    @classmethod
    def of(
        cls, adapters: Mapping[str, IdentityProvider], kind: str = CUSTOM_KIND
    ) -> IdentityProviders:
        """Adapters made elsewhere, in the given order, all of ``kind``."""
        fixed = dict(adapters)
        return cls(dict.fromkeys(fixed, kind), fixed.__getitem__)

    def __getitem__(self, name: str) -> IdentityProvider:
        if name not in self._kinds:
            raise KeyError(name)
        return self._build(name)

    def __contains__(self, name: object) -> bool:  # without building it
        return name in self._kinds

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def __repr__(self) -> str:
        return f"IdentityProviders({self._kinds!r})"

    def kind(self, name: str) -> str:
        """``workos``, ``local``, ``github``, ``oidc`` (or ``custom``)."""
        return self._kinds[name]

    def takes_nonce(self, name: str) -> bool:
        """Whether a login at ``name`` carries a ``nonce`` (OpenID Connect;
        an adapter of unknown kind gets one too)."""
        return self._kinds[name] not in NO_NONCE_KINDS

    @property
    def default_name(self) -> str | None:
        return next(iter(self._kinds), None)

    @property
    def lone(self) -> bool:
        """Exactly one provider: its callback is the bare redirect URI."""
        return len(self._kinds) == 1

    def listing(self) -> list[dict[str, str]]:
        """``[{name, kind}, ...]``, the default first: ``GET /auth/providers``."""
        return [{"name": name, "kind": kind} for name, kind in self._kinds.items()]


def callback_uri(redirect_uri: str, name: str, *, lone: bool) -> str:
    """Provider ``name``'s callback under the configured redirect URI:
    ``<redirect_uri>/<name>``, or ``redirect_uri`` itself for a lone provider
    (what deployments of a single provider registered)."""
    if lone:
        return redirect_uri
    parts = urlsplit(redirect_uri)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{name}"))


# -- the container's wiring (containers.py) ---------------------------------


def callback_of(
    redirect_uri: str | None, specs: tuple[ProviderSettings, ...], name: str
) -> str | None:
    """Provider ``name``'s callback (None: derived from each request)."""
    if not redirect_uri:
        return None
    return callback_uri(redirect_uri, name, lone=len(specs) <= 1)


def workos_adapter(**kwargs: Any) -> WorkOSIdentityProvider:
    from ..adapters.workos import WorkOSIdentityProvider

    return WorkOSIdentityProvider(**kwargs)


def workos_directory(**kwargs: Any) -> WorkOSIdentityDirectory:
    """WorkOS's directory over a ``WorkOSApi(**kwargs)``."""
    from ..adapters.workos_api import WorkOSApi
    from ..adapters.workos_directory import WorkOSIdentityDirectory

    return WorkOSIdentityDirectory(WorkOSApi(**kwargs))


def remote_adapter(
    spec: ProviderSettings, http: BoundedHttpClient, callback: str | None, leeway: int
) -> IdentityProvider:
    if spec.kind == "github":
        from ..adapters.github import GitHubIdentityProvider

        return GitHubIdentityProvider(
            http,
            client_id=str(spec.client_id),
            client_secret=str(spec.client_secret),
            name=spec.name,
            base_url=spec.url or "https://github.com",
            api_url=spec.api_url or "https://api.github.com",
            redirect_uri=callback,
        )
    from ..adapters.oidc import OIDCIdentityProvider, OIDCProviderConfig

    config = OIDCProviderConfig.for_provider(
        spec.name,
        client_id=str(spec.client_id),
        issuer=spec.issuer,
        subject_claim=spec.subject_claim,
        client_secret=spec.client_secret,
        scopes=spec.scopes or ("openid", "email", "profile"),
        token_auth_method=spec.token_auth_method,
        redirect_uri=callback,
        leeway=leeway,
    )
    return OIDCIdentityProvider(http, config)


class ProviderAdapters:
    """Each configured provider's adapter, made on first use and kept; one
    lock, so the shared HTTP client is opened once. ``workos`` and ``local``
    come from their own container providers (which a test may override)."""

    def __init__(
        self,
        specs: tuple[ProviderSettings, ...],
        *,
        redirect_uri: str | None,
        leeway: int,
        http: Callable[[], BoundedHttpClient],
        workos: Callable[[], IdentityProvider],
        local: Callable[[], IdentityProvider],
    ) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.default_name = specs[0].name if specs else None
        self._redirect_uri = redirect_uri
        self._leeway = leeway
        self._http, self._workos, self._local = http, workos, local
        self._lock = threading.RLock()
        self._made: dict[str, IdentityProvider] = {}

    def __call__(self, name: str) -> IdentityProvider:
        spec = self.specs[name]
        with self._lock:  # also around workos: its first use opens the client
            made = self._made.get(name)
            if made is None:
                if spec.kind in ("workos", "local"):
                    # Not kept here: an override of their providers wins.
                    return self._workos() if spec.kind == "workos" else self._local()
                callback = callback_of(
                    self._redirect_uri, tuple(self.specs.values()), name
                )
                made = remote_adapter(spec, self._http(), callback, self._leeway)
                self._made[name] = made
            return made


def default_adapter(adapters: ProviderAdapters) -> IdentityProvider | None:
    name = adapters.default_name
    return None if name is None else adapters(name)


def configured_providers(
    adapters: ProviderAdapters, default: Callable[[], IdentityProvider | None]
) -> IdentityProviders:
    """The configured providers, the default one resolved through the
    ``identity_provider`` provider (so overriding it replaces the default's
    adapter everywhere); with ``none``, an adapter put in as
    ``identity_provider`` is the lone provider, named ``default``."""
    first = adapters.default_name
    if first is None:
        lone = default()
        return IdentityProviders.of({} if lone is None else {UNNAMED: lone})

    def build(name: str) -> IdentityProvider:
        made = default() if name == first else None
        return adapters(name) if made is None else made

    kinds = {name: spec.kind for name, spec in adapters.specs.items()}
    return IdentityProviders(kinds, build)


def first_of(providers: IdentityProviders) -> IdentityProvider | None:
    name = next(iter(providers), None)
    return None if name is None else providers[name]


def active_local(
    specs: tuple[ProviderSettings, ...], local: Callable[[], LocalIdentityProvider]
) -> LocalIdentityProvider | None:
    return local() if any(spec.kind == "local" for spec in specs) else None
