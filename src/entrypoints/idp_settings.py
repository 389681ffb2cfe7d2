"""The identity providers ``WIKIBOT_AUTH_IDP`` names, and each one's variables.

``WIKIBOT_AUTH_IDP`` is a comma-separated list of provider names, the first
the default: ``workos``, ``local``, ``github``, or any name configured as an
OpenID Connect provider through ``WIKIBOT_AUTH_OIDC_<NAME>_*`` (``<NAME>``
upper-cased, ``-`` as ``_``; the presets ``google`` and ``microsoft`` need only
a client); ``none`` alone means no provider. A bad value is a
``NotConfigured`` naming the variable, never its value. Nothing here imports
an adapter: the Lambda authorizer reads these settings too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

import attrs

from ..domain.errors import NotConfigured

PREFIX = "WIKIBOT_AUTH_"
IDP_VARIABLE = PREFIX + "IDP"
NONE = "none"
# The kinds of provider; a name that is not one of the first three is OIDC.
KINDS = ("workos", "local", "github", "oidc")
RESERVED = ("workos", "local", "github", NONE)
# adapters/oidc_config.py's PRESETS (a test keeps the two in step): their
# issuer and subject claim have defaults.
OIDC_PRESETS = ("google", "microsoft")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
DEFAULT_SCOPES = ("openid", "email", "profile")
# Kinds whose adapters take no ``nonce`` (only OpenID Connect's need one).
NO_NONCE_KINDS = frozenset({"workos", "local", "github"})

_NAME = re.compile(r"[a-z0-9_\-]{1,64}")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")  # RFC 6749 §3.3
_CLAIM = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_OIDC_SUFFIXES = (
    "ISSUER",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "SCOPES",
    "SUBJECT_CLAIM",
    "TOKEN_AUTH_METHOD",
)


@attrs.frozen
class ProviderSettings:
    """One configured identity provider: its name (the identities' namespace),
    its kind, and what its kind needs (OIDC: issuer, client, scopes, subject
    claim, token auth method; GitHub: client and URLs; None: the default)."""

    name: str
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    issuer: str | None = None
    scopes: tuple[str, ...] | None = None
    subject_claim: str | None = None
    token_auth_method: str | None = None
    url: str | None = None
    api_url: str | None = None

    @property
    def takes_nonce(self) -> bool:
        return self.kind not in NO_NONCE_KINDS


def kind_of(name: str) -> str:
    return name if name in KINDS[:3] else "oidc"


def oidc_variable(name: str, suffix: str) -> str:
    """``WIKIBOT_AUTH_OIDC_<NAME>_<suffix>`` for provider ``name``."""
    return f"{PREFIX}OIDC_{name.upper().replace('-', '_')}_{suffix}"


def parse_idp_names(raw: str) -> tuple[str, ...]:
    """The provider names of a ``WIKIBOT_AUTH_IDP`` value, in order
    (``none``: no name).

    Raises:
        NotConfigured: an empty or malformed name, a name twice, two names
            that share their OIDC variables, or ``none`` beside another.
    """
    names = tuple(part.strip().lower() for part in raw.split(","))
    for position, name in enumerate(names, 1):
        if not _NAME.fullmatch(name):
            raise NotConfigured(
                f"{IDP_VARIABLE}: provider {position} must match [a-z0-9_-]{{1,64}}"
            )
    if len(set(names)) != len(names):
        raise NotConfigured(f"{IDP_VARIABLE} names a provider twice")
    if len({oidc_variable(n, "") for n in names}) != len(names):
        raise NotConfigured(
            f"{IDP_VARIABLE} names two providers that differ only by - and _ "
            "(they would share their WIKIBOT_AUTH_OIDC_<NAME>_* variables)"
        )
    if NONE in names:
        if len(names) > 1:
            raise NotConfigured(f"{IDP_VARIABLE}: none stands alone")
        return ()
    return names


def _value(environ: Mapping[str, str], variable: str) -> str | None:
    value = environ.get(variable)
    return value.strip() if value and value.strip() else None


def _printable(environ: Mapping[str, str], variable: str, limit: int) -> str | None:
    value = _value(environ, variable)
    if value is not None and (
        len(value) > limit or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)
    ):
        raise NotConfigured(f"{variable} must be at most {limit} visible characters")
    return value


def _safe_url(environ: Mapping[str, str], variable: str) -> str | None:
    """An https URL, or plain http to a loopback host (credentials travel to
    it), without query or fragment; taken as written (an OpenID issuer must
    equal its discovery document's ``issuer`` exactly, trailing slash and
    all)."""
    from urllib.parse import urlsplit

    value = _printable(environ, variable, 2048)
    if value is None:
        return None
    parts = urlsplit(value)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (
        (parts.scheme == "https" and host) or (parts.scheme == "http" and loopback)
    ):
        raise NotConfigured(
            f"{variable} must be an https URL (plain http only on a loopback host)"
        )
    if parts.query or parts.fragment or "#" in value:
        raise NotConfigured(f"{variable} must have no query or fragment")
    return value


def _client(
    environ: Mapping[str, str], id_var: str, secret_var: str
) -> tuple[str | None, str | None]:
    client_id = _printable(environ, id_var, 512)
    secret = _value(environ, secret_var)
    if secret is not None and (
        len(secret) > 1024 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in secret)
    ):
        raise NotConfigured(f"{secret_var} must be at most 1024 printable characters")
    return client_id, secret


def _oidc(environ: Mapping[str, str], name: str, position: int) -> ProviderSettings:
    def var(suffix: str) -> str:
        return oidc_variable(name, suffix)

    issuer = _safe_url(environ, var("ISSUER"))
    client_id, secret = _client(environ, var("CLIENT_ID"), var("CLIENT_SECRET"))
    if issuer is None and name not in OIDC_PRESETS:
        configured = any(_value(environ, var(s)) for s in _OIDC_SUFFIXES)
        raise NotConfigured(
            f"{var('ISSUER')} is not set"
            if configured
            else f"{IDP_VARIABLE}: provider {position} is neither workos, local "
            "nor github, and no WIKIBOT_AUTH_OIDC_<NAME>_ISSUER configures it "
            "as an OpenID Connect provider (google and microsoft need only "
            "WIKIBOT_AUTH_OIDC_<NAME>_CLIENT_ID)"
        )
    if client_id is None:
        raise NotConfigured(f"{var('CLIENT_ID')} is not set")
    scopes_raw = _value(environ, var("SCOPES"))
    scopes = DEFAULT_SCOPES if scopes_raw is None else tuple(scopes_raw.split())
    if not all(_SCOPE.fullmatch(s) for s in scopes) or "openid" not in scopes:
        raise NotConfigured(
            f"{var('SCOPES')} must be space-separated scopes including openid"
        )
    claim = _value(environ, var("SUBJECT_CLAIM"))
    if claim is not None and not _CLAIM.fullmatch(claim):
        raise NotConfigured(f"{var('SUBJECT_CLAIM')} must be a claim name")
    method = _value(environ, var("TOKEN_AUTH_METHOD"))
    if method is not None:
        method = method.lower()
        if method not in TOKEN_AUTH_METHODS:
            raise NotConfigured(
                f"{var('TOKEN_AUTH_METHOD')} must be one of "
                f"{', '.join(TOKEN_AUTH_METHODS)}"
            )
        if method != "none" and secret is None:
            raise NotConfigured(
                f"{var('TOKEN_AUTH_METHOD')} other than none needs "
                f"{var('CLIENT_SECRET')}"
            )
    return ProviderSettings(
        name,
        "oidc",
        client_id=client_id,
        client_secret=secret,
        issuer=issuer,
        scopes=scopes,
        subject_claim=claim,
        token_auth_method=method,
    )


def _github(environ: Mapping[str, str]) -> ProviderSettings:
    id_var, secret_var = PREFIX + "GITHUB_CLIENT_ID", PREFIX + "GITHUB_CLIENT_SECRET"
    client_id, secret = _client(environ, id_var, secret_var)
    if client_id is None or secret is None:
        raise NotConfigured(f"the github provider needs {id_var} and {secret_var}")
    return ProviderSettings(
        "github",
        "github",
        client_id=client_id,
        client_secret=secret,
        url=_safe_url(environ, PREFIX + "GITHUB_URL"),
        api_url=_safe_url(environ, PREFIX + "GITHUB_API_URL"),
    )


def providers_from_env(
    environ: Mapping[str, str], names: tuple[str, ...]
) -> tuple[ProviderSettings, ...]:
    """The settings of each named provider, in order.

    Raises:
        NotConfigured: a provider's variables are missing or malformed.
    """
    found = []
    for position, name in enumerate(names, 1):
        kind = kind_of(name)
        if kind == "oidc":
            found.append(_oidc(environ, name, position))
        elif kind == "github":
            found.append(_github(environ))
        else:
            found.append(ProviderSettings(name, kind))
    return tuple(found)


def plain_providers(idp: str) -> tuple[ProviderSettings, ...]:
    """The providers of ``idp`` that need no variables of their own (workos,
    local): the default of a ``Settings`` built by hand."""
    names = parse_idp_names(idp) if idp else ()
    return tuple(ProviderSettings(n, kind_of(n)) for n in names if n in KINDS[:2])
