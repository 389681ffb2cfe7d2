"""Read and check an OpenID provider's discovery document.

OpenID Connect Discovery 1.0 §3-4 and RFC 8414. A shared technical helper of
the OpenID Connect adapter, not an adapter. The document's ``issuer`` must be
exactly the one expected (§4.3: a document naming another issuer is refused);
every endpoint must be https (plain http only on a loopback host); the ID-token
algorithms are narrowed to the asymmetric ones we verify.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..domain.errors import IdPError
from .bounded_http import BoundedHttpClient, is_safe_url
from .oauth_client import fetch_json, is_text

logger = logging.getLogger("wikibot_auth.oidc")

WELL_KNOWN = "/.well-known/openid-configuration"
# Never a symmetric algorithm (its key would be the client secret, or a
# public key read as one), never ``none``.
VERIFIABLE_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
_MAX_URL = 2048


def _endpoint(data: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not is_text(value, _MAX_URL) or not is_safe_url(str(value)):
        raise IdPError(f"the discovery document has no usable {key}")
    return str(value)


def _names(data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(is_text(v, 128) for v in value):
        raise IdPError(f"the discovery document has an unusable {key}")
    return tuple(value)


@attrs.frozen
class ProviderMetadata:
    """What we use of a discovery document, checked.

    ``id_token_algorithms`` are those the document lists that we verify;
    ``token_auth_methods`` those it lists (RFC 8414's default when absent:
    ``client_secret_basic``); ``iss_parameter_supported`` is RFC 9207's flag:
    the authorization response then carries ``iss``, and it is required;
    ``claims_parameter_supported`` (only a JSON ``true`` counts) lets the
    authorization request ask for the profile in the ID token (Core §5.5).
    """

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    id_token_algorithms: tuple[str, ...] = ("RS256",)
    token_auth_methods: tuple[str, ...] = ("client_secret_basic",)
    iss_parameter_supported: bool = False
    prompt_values: tuple[str, ...] = ()
    claims_parameter_supported: bool = False

    @classmethod
    def parse(cls, data: Any, expected_issuer: str) -> ProviderMetadata:
        """Check a decoded discovery document.

        Raises:
            IdPError: it is not an object, names another issuer, lacks an
                endpoint, lists no algorithm we verify, or offers no PKCE S256.
        """
        if not isinstance(data, dict):
            raise IdPError("the discovery document is not a JSON object")
        issuer = data.get("issuer")
        if issuer != expected_issuer:
            logger.error(
                "OIDC discovery names another issuer than the one configured "
                "(%s); refusing it",
                expected_issuer,
            )
            raise IdPError("the discovery document names another issuer")
        algorithms = _names(data, "id_token_signing_alg_values_supported") or ()
        usable = tuple(a for a in VERIFIABLE_ALGORITHMS if a in algorithms)
        if not usable:
            raise IdPError("the provider signs ID tokens with no algorithm we verify")
        challenge_methods = _names(data, "code_challenge_methods_supported")
        if challenge_methods is not None and "S256" not in challenge_methods:
            raise IdPError("the provider does not offer PKCE S256")
        iss_flag = data.get("authorization_response_iss_parameter_supported", False)
        if not isinstance(iss_flag, bool):
            raise IdPError("the discovery document has an unusable iss flag")
        claims_flag = data.get("claims_parameter_supported", False)
        return cls(
            issuer=expected_issuer,
            authorization_endpoint=str(
                _endpoint(data, "authorization_endpoint", required=True)
            ),
            token_endpoint=str(_endpoint(data, "token_endpoint", required=True)),
            jwks_uri=str(_endpoint(data, "jwks_uri", required=True)),
            userinfo_endpoint=_endpoint(data, "userinfo_endpoint", required=False),
            id_token_algorithms=usable,
            token_auth_methods=_names(data, "token_endpoint_auth_methods_supported")
            or ("client_secret_basic",),
            iss_parameter_supported=iss_flag,
            prompt_values=_names(data, "prompt_values_supported") or (),
            claims_parameter_supported=claims_flag is True,
        )

    def choose_auth_method(self, allowed: Sequence[str]) -> str | None:
        """The first method the document lists that ``allowed`` holds."""
        return next((m for m in self.token_auth_methods if m in allowed), None)


def discovery_url(issuer: str) -> str:
    """Discovery §4: the issuer, without a trailing slash, then the well-known
    path."""
    return issuer.rstrip("/") + WELL_KNOWN


def fetch_metadata(
    http: BoundedHttpClient,
    issuer: str,
    *,
    expected_issuer: str | None = None,
    service: str,
    deadline: float,
) -> ProviderMetadata:
    """GET the discovery document of ``issuer`` and check it names
    ``expected_issuer`` (default: ``issuer``).

    Raises:
        IdPUnavailable: the provider could not be reached in time, or 429.
        IdPError: any other failure, or a document that does not check out.
    """
    data = fetch_json(
        http,
        "GET",
        discovery_url(issuer),
        service=service,
        route="discovery",
        deadline=deadline,
        retry=True,
        headers={"Accept": "application/json"},
    )
    return ProviderMetadata.parse(data, expected_issuer or issuer)
