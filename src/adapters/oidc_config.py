"""How an OpenID Connect provider is configured, and the well-known presets.

``OIDCProviderConfig``, and the presets of well-known providers (``PRESETS``)
as data, not subclasses.

A shared technical helper of the OpenID Connect adapter, not an adapter. A
preset's issuer quirks (Google's scheme-less ``iss``, Microsoft's multi-tenant
``{tenantid}`` issuer) hold only for the preset's own issuer; its subject claim
and case rule hold whatever the issuer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ..domain.errors import NotConfigured
from .bounded_http import is_safe_url
from .oidc_discovery import TOKEN_AUTH_METHODS

DEFAULT_SCOPES = ("openid", "email", "profile")
DEFAULT_LEEWAY = 30
_PROVIDER_NAME = re.compile(r"[a-z0-9_\-]{1,64}")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TENANT = "{tenantid}"


@attrs.frozen
class OIDCPreset:
    """What a well-known provider needs beyond OpenID Connect itself.

    ``issuer_aliases``: other spellings of ``iss`` its ID tokens may carry.
    ``tenant_issuer``: the issuer its multi-tenant discovery document names,
    a template whose ``{tenantid}`` each ID token's ``tid`` fills in.
    ``lowercase_subject``: subjects are GUIDs, stored lower-cased.
    """

    issuer: str
    subject_claim: str = "sub"
    issuer_aliases: tuple[str, ...] = ()
    tenant_issuer: str | None = None
    lowercase_subject: bool = False


PRESETS: Mapping[str, OIDCPreset] = MappingProxyType(
    {
        # Google's ID tokens may say ``accounts.google.com`` without the scheme.
        "google": OIDCPreset(
            "https://accounts.google.com", issuer_aliases=("accounts.google.com",)
        ),
        # Entra ID's multi-tenant endpoint; ``oid`` is the stable user id that
        # WorkOS records as ``idp_id`` (``sub`` is pairwise per application).
        "microsoft": OIDCPreset(
            "https://login.microsoftonline.com/common/v2.0",
            subject_claim="oid",
            tenant_issuer="https://login.microsoftonline.com/{tenantid}/v2.0",
            lowercase_subject=True,
        ),
    }
)


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _PROVIDER_NAME.fullmatch(value):
        raise NotConfigured("an OIDC provider name must match [a-z0-9_-]{1,64}")


def _scopes(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    scopes = tuple(value.split() if isinstance(value, str) else value)
    if "openid" not in scopes:
        raise NotConfigured("OIDC scopes must include openid")
    return scopes


@attrs.frozen
class OIDCProviderConfig:
    """One OpenID Connect provider, as the settings name it.

    ``client_secret`` None is a public client (PKCE only, ``none``).
    ``token_auth_method`` None: the first of ``client_secret_basic``,
    ``client_secret_post`` (with a secret) or ``none`` (without) that the
    discovery lists. ``leeway`` is the clock skew allowed on ``exp``/``iat``.
    The last three fields are a preset's quirks (see ``OIDCPreset``).
    """

    name: str = attrs.field(validator=_name)
    issuer: str
    client_id: str
    client_secret: str | None = attrs.field(default=None, repr=False)
    scopes: tuple[str, ...] = attrs.field(default=DEFAULT_SCOPES, converter=_scopes)
    subject_claim: str = "sub"
    token_auth_method: str | None = None
    redirect_uri: str | None = None
    leeway: int = DEFAULT_LEEWAY
    issuer_aliases: tuple[str, ...] = ()
    tenant_issuer: str | None = None
    lowercase_subject: bool = False

    def __attrs_post_init__(self) -> None:
        who = f"the OIDC provider {self.name!r}"
        if not is_safe_url(self.issuer):
            raise NotConfigured(f"{who} needs an https issuer (http only on loopback)")
        if not self.client_id:
            raise NotConfigured(f"{who} needs a client id")
        method = self.token_auth_method
        if method is not None and method not in TOKEN_AUTH_METHODS:
            raise NotConfigured(
                f"{who}: token auth method must be one of {TOKEN_AUTH_METHODS}"
            )
        if method not in (None, "none") and not self.client_secret:
            raise NotConfigured(f"{who}: {method} needs a client secret")
        if not self.subject_claim or not 1 <= self.leeway <= 300:
            raise NotConfigured(f"{who}: a subject claim and a leeway of 1-300 s")
        if self.tenant_issuer is not None and _TENANT not in self.tenant_issuer:
            raise NotConfigured(f"{who}: a tenant issuer holds {_TENANT}")

    @classmethod
    def for_provider(
        cls,
        name: str,
        *,
        client_id: str,
        issuer: str | None = None,
        subject_claim: str | None = None,
        **options: Any,
    ) -> OIDCProviderConfig:
        """The configuration of provider ``name``, its preset's values (if it
        has one) under what is given. A preset's issuer quirks hold only for
        the preset's own issuer.

        Raises:
            NotConfigured: no issuer for a provider without a preset, or a
                value that cannot work.
        """
        preset = PRESETS.get(name)
        if preset is None:
            if not issuer:
                raise NotConfigured(f"the OIDC provider {name!r} needs an issuer")
            return cls(
                name, issuer, client_id, subject_claim=subject_claim or "sub", **options
            )
        own_issuer = issuer in (None, "", preset.issuer)
        return cls(
            name,
            issuer or preset.issuer,
            client_id,
            subject_claim=subject_claim or preset.subject_claim,
            issuer_aliases=preset.issuer_aliases if own_issuer else (),
            tenant_issuer=preset.tenant_issuer if own_issuer else None,
            lowercase_subject=preset.lowercase_subject,
            **options,
        )

    @property
    def discovery_issuer(self) -> str:
        """The ``issuer`` the discovery document must name, exactly."""
        return self.tenant_issuer or self.issuer

    @property
    def allowed_auth_methods(self) -> tuple[str, ...]:
        if self.token_auth_method is not None:
            return (self.token_auth_method,)
        if self.client_secret:
            return ("client_secret_basic", "client_secret_post")
        return ("none",)

    def issuer_matches(self, iss: object, tid: object = None) -> bool:
        """An ID token's ``iss`` (with its ``tid`` for a tenant issuer), or an
        authorization response's ``iss`` (any tenant), is this provider's."""
        if not isinstance(iss, str):
            return False
        if self.tenant_issuer is None:
            return iss == self.issuer or iss in self.issuer_aliases
        head, _, tail = self.tenant_issuer.partition(_TENANT)
        tenant = iss[len(head) : len(iss) - len(tail)]
        if not (
            iss.startswith(head) and iss.endswith(tail) and _GUID.fullmatch(tenant)
        ):
            return False
        return tid is None or tid == tenant
