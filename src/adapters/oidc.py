"""The ``IdentityProvider`` port over any certified OpenID Connect provider.

Authorization code flow with PKCE S256 and a ``nonce`` (OpenID Connect Core
1.0 §3.1). The provider's discovery document is read on first use and cached
(``oidc_discovery``); the ID token is verified with PyJWT against its JWKS
(``oidc_id_token``); the UserInfo endpoint fills what the ID token lacks, and
a provider whose discovery takes the ``claims`` parameter is asked to put the
profile in the ID token (one request fewer per login). A
provider is configured by an ``OIDCProviderConfig``; ``google`` and
``microsoft`` are presets (``PRESETS``): data, not subclasses. The profile's
identity is ``(<provider name>, <subject claim>)``: a direct provider has no
alias (DESIGN "Users and identities"). Nothing secret (client secret, code,
verifier, tokens, nonce) reaches a log line or an exception.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..domain.errors import IdPError, InvalidCallback, InvalidRequest, NotConfigured
from ..domain.model import (
    AuthorizationRequest,
    Identity,
    IdentityProfile,
    LoginCallback,
)
from .bounded_http import BoundedHttpClient
from .oauth_client import (
    basic_credentials,
    fetch_json,
    is_text,
    oauth_error,
    optional_text,
    redirect_uri_of,
    safe_code,
)
from .oidc_config import PRESETS, OIDCPreset, OIDCProviderConfig
from .oidc_discovery import ProviderMetadata, fetch_metadata
from .oidc_id_token import JWKS_REFETCH_INTERVAL, JWKSCache, verify_id_token

__all__ = ["PRESETS", "OIDCIdentityProvider", "OIDCPreset", "OIDCProviderConfig"]

logger = logging.getLogger("wikibot_auth.oidc")

SCREEN_HINTS = ("sign-in", "sign-up")
_NAME_CLAIMS = ("name", "given_name", "family_name")
_EMAIL_CLAIMS = ("email", "email_verified")


class OIDCIdentityProvider:
    """An OpenID Connect provider as an ``IdentityProvider``.

    ``http`` is the shared ``BoundedHttpClient``; ``budget`` (default: the
    client's) bounds one operation with all its requests. Discovery and the
    JWKS are fetched on first use; ``authorization_url`` may therefore raise
    ``IdPError``/``IdPUnavailable`` too.
    """

    def __init__(
        self,
        http: BoundedHttpClient,
        config: OIDCProviderConfig,
        *,
        budget: float | None = None,
        jwks_refetch_interval: float = JWKS_REFETCH_INTERVAL,
    ) -> None:
        self._http = http
        self._config = config
        self._budget = budget
        self._service = f"OIDC {config.name}"
        self._metadata: ProviderMetadata | None = None
        self._keys = JWKSCache(self._fetch_jwks, refetch_interval=jwks_refetch_interval)

    def __repr__(self) -> str:
        config = self._config
        return f"OIDCIdentityProvider(name={config.name!r}, issuer={config.issuer!r})"

    @property
    def config(self) -> OIDCProviderConfig:
        return self._config

    def metadata(self, deadline: float | None = None) -> ProviderMetadata:
        """The provider's checked discovery document, fetched on first use.

        Raises:
            IdPError, IdPUnavailable
        """
        metadata = self._metadata
        if metadata is None:
            metadata = fetch_metadata(
                self._http,
                self._config.issuer,
                expected_issuer=self._config.discovery_issuer,
                service=self._service,
                deadline=deadline or self._http.deadline(self._budget),
            )
            self._metadata = metadata
        return metadata

    # -- the port ---------------------------------------------------------

    def authorization_url(self, request: AuthorizationRequest) -> str:
        redirect = self._redirect(request.redirect_uri)
        if not request.nonce:
            raise InvalidRequest("an OpenID Connect login needs a nonce")
        login_hint, screen_hint = request.login_hint, request.screen_hint
        if login_hint and not is_text(login_hint, 320):
            raise InvalidRequest("login_hint must be an email address")
        if screen_hint is not None and screen_hint not in SCREEN_HINTS:
            raise InvalidRequest("screen_hint must be sign-in or sign-up")
        metadata = self.metadata()
        params = {
            "response_type": "code",
            "client_id": self._config.client_id,
            "redirect_uri": redirect,
            "scope": " ".join(self._config.scopes),
            "state": request.state,
            "nonce": request.nonce,
            "code_challenge": request.code_challenge,
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login_hint"] = login_hint
        wanted = self._id_token_claims()
        if wanted and metadata.claims_parameter_supported:
            params["claims"] = wanted
        if screen_hint == "sign-up" and "create" in metadata.prompt_values:
            params["prompt"] = "create"  # OpenID Connect Prompt Create 1.0
        endpoint = metadata.authorization_endpoint
        joiner = "&" if urlsplit(endpoint).query else "?"
        return f"{endpoint}{joiner}{urlencode(params)}"

    def exchange_code(self, callback: LoginCallback) -> IdentityProfile:
        deadline = self._http.deadline(self._budget)
        if not callback.nonce:
            raise InvalidCallback("the login kept no nonce")
        redirect = self._redirect(callback.redirect_uri)
        metadata = self.metadata(deadline)
        # RFC 9207 / RFC 9700 §4.4: the code goes to no token endpoint
        # before the response is known to come from this provider.
        if callback.iss is None:
            if metadata.iss_parameter_supported:
                logger.warning("%s callback without iss refused", self._service)
                raise InvalidCallback("the authorization response carries no iss")
        elif not self._config.issuer_matches(callback.iss):
            logger.warning("%s callback from another issuer refused", self._service)
            raise InvalidCallback("the authorization response names another issuer")
        tokens = self._token(metadata, callback, redirect, deadline)
        claims = verify_id_token(
            tokens.get("id_token"),
            keys=self._keys,
            algorithms=metadata.id_token_algorithms,
            client_id=self._config.client_id,
            issuer_ok=lambda c: self._config.issuer_matches(
                c.get("iss"), c.get("tid", "")
            ),
            nonce=callback.nonce,
            leeway=self._config.leeway,
            deadline=deadline,
        )
        subject = self._subject(claims)
        extra: Mapping[str, Any] = {}
        if self._lacks_profile(claims) and metadata.userinfo_endpoint:
            extra = self._userinfo(metadata.userinfo_endpoint, tokens, claims, deadline)
        return self._profile(subject, claims, extra)

    # -- helpers ------------------------------------------------------------

    def _redirect(self, redirect_uri: str | None) -> str:
        return redirect_uri_of(redirect_uri, self._config.redirect_uri, self._service)

    def _auth_method(self, metadata: ProviderMetadata) -> str:
        method = metadata.choose_auth_method(self._config.allowed_auth_methods)
        if method is None:
            logger.error(
                "%s accepts none of the client authentication methods %s",
                self._service,
                self._config.allowed_auth_methods,
            )
            raise NotConfigured(
                f"{self._service} accepts no client authentication we may use"
            )
        return method

    def _token(
        self,
        metadata: ProviderMetadata,
        callback: LoginCallback,
        redirect: str,
        deadline: float,
    ) -> dict[str, Any]:
        config = self._config
        method = self._auth_method(metadata)
        form = {
            "grant_type": "authorization_code",
            "code": callback.code,
            "redirect_uri": redirect,
            "code_verifier": callback.code_verifier,
        }
        headers = {"Accept": "application/json"}
        if method == "client_secret_basic":
            headers["Authorization"] = basic_credentials(
                config.client_id, str(config.client_secret)
            )
        else:
            form["client_id"] = config.client_id
            if method == "client_secret_post":
                form["client_secret"] = str(config.client_secret)
        data = fetch_json(
            self._http,
            "POST",
            metadata.token_endpoint,
            service=self._service,
            route="token",
            deadline=deadline,
            data=form,
            headers=headers,
        )
        if not isinstance(data, dict):
            raise IdPError(
                f"{self._service} answered the token request with a wrong shape"
            )
        if "error" in data:
            raise oauth_error(self._service, "token", 400, safe_code(data["error"]))
        return data

    def _fetch_jwks(self, deadline: float) -> Any:
        return fetch_json(
            self._http,
            "GET",
            self.metadata(deadline).jwks_uri,
            service=self._service,
            route="jwks",
            deadline=deadline,
            retry=True,
            headers={"Accept": "application/json"},
        )

    def _subject(self, claims: Mapping[str, Any]) -> str:
        value = claims.get(self._config.subject_claim)
        if not is_text(value, 255) or str(value).strip() != value:
            raise IdPError(f"the ID token has no usable {self._config.subject_claim}")
        subject = str(value)
        return subject.lower() if self._config.lowercase_subject else subject

    def _id_token_claims(self) -> str:
        # Core §5.5: the profile asked for in the ID token itself, so that a
        # provider honouring it spares the UserInfo request.
        names = [*_EMAIL_CLAIMS] if "email" in self._config.scopes else []
        if "profile" in self._config.scopes:
            names += _NAME_CLAIMS
        if not names:
            return ""
        return json.dumps({"id_token": dict.fromkeys(names)}, separators=(",", ":"))

    def _lacks_profile(self, claims: Mapping[str, Any]) -> bool:
        scopes = self._config.scopes
        return ("email" in scopes and "email" not in claims) or (
            "profile" in scopes and not any(claims.get(c) for c in _NAME_CLAIMS)
        )

    def _userinfo(
        self,
        endpoint: str,
        tokens: Mapping[str, Any],
        claims: Mapping[str, Any],
        deadline: float,
    ) -> Mapping[str, Any]:
        access_token = tokens.get("access_token")
        if not is_text(access_token, 8192):
            raise IdPError(f"{self._service} answered no usable access token")
        data = fetch_json(
            self._http,
            "GET",
            endpoint,
            service=self._service,
            route="userinfo",
            deadline=deadline,
            retry=True,
            headers={
                "Accept": "application/json",
                "Authorization": f"Bearer {access_token}",
            },
        )
        if not isinstance(data, dict):
            raise IdPError(f"{self._service} answered UserInfo with a wrong shape")
        # Core §5.3.2: UserInfo about anyone else is not about this login.
        if data.get("sub") != claims.get("sub"):
            logger.warning("%s UserInfo names another subject", self._service)
            raise IdPError(f"{self._service} UserInfo names another subject")
        return data

    def _profile(
        self, subject: str, claims: Mapping[str, Any], extra: Mapping[str, Any]
    ) -> IdentityProfile:
        service = self._service
        # The email and its verification come from the same answer.
        source = claims if "email" in claims else extra
        email = optional_text(source, "email", service, 320)
        verified = source.get("email_verified")
        is_verified = verified is True or verified == "true"
        names = {c: optional_text(claims, c, service) for c in _NAME_CLAIMS}
        for claim, value in names.items():
            if value is None:
                names[claim] = optional_text(extra, claim, service)
        full = names["name"]
        return IdentityProfile(
            alias=Identity(self._config.name, subject),
            # Unverified: not an email of this person; the stored one stays.
            email=email if email and is_verified else "",
            first_name=full or names["given_name"],
            last_name=None if full else names["family_name"],
            email_verified=is_verified if email else None,
        )
