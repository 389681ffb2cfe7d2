"""The signed login cookie: ``{state, verifier, provider, nonce, return_to, exp}``.

Base64url JSON plus an HMAC-SHA256 whose key is derived with HKDF from the
platform signing key, so every process holding that key (the server, each
Lambda instance) accepts the cookie and nothing else needs configuring.
``provider`` names the identity provider the login went to (its callback must
be that one's); ``nonce`` is the OpenID Connect nonce (null for the others).
A cookie that names no provider (made before there were several) is refused:
which provider issued its code cannot be known.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from urllib.parse import urlsplit

import attrs
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..adapters.key_ring import KeyRing
from ..domain.errors import InvalidCallback, InvalidRequest, NotConfigured
from ..domain.ports import Clock
from .cookies import LOGIN_MAX_AGE

HKDF_INFO = b"wikibot-auth login-state v1"
MAX_RETURN_TO = 2048
MAX_COOKIE = 4096
_PROVIDER = re.compile(r"[a-z0-9_\-]{1,64}")


def derive_login_state_key(key_ring: KeyRing) -> bytes:
    """32 bytes for HMAC-SHA256, derived (HKDF-SHA256) from the signing key.

    Raises:
        NotConfigured: the key ring has no signing key.
    """
    if key_ring.signer is None:
        raise NotConfigured("logging in needs a signing key")
    material = key_ring.signer.secret_material()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        material
    )


def check_return_to(value: str | None) -> str:
    """A same-site path (``/x``), else ``InvalidRequest``; ``/`` by default."""
    if value is None or value == "":
        return "/"
    if (
        len(value) > MAX_RETURN_TO
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise InvalidRequest("return_to must be a path on this site")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        raise InvalidRequest("return_to must be a path on this site")
    return value


@attrs.frozen
class LoginState:
    state: str = attrs.field(repr=False)
    verifier: str = attrs.field(repr=False)
    provider: str
    nonce: str | None = attrs.field(repr=False)
    return_to: str
    exp: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@attrs.frozen
class LoginStateCodec:
    """Signs and checks the login cookie's value."""

    key: bytes = attrs.field(repr=False)
    clock: Clock

    def _mac(self, payload: str) -> str:
        return _b64(
            hmac.new(self.key, payload.encode("ascii"), hashlib.sha256).digest()
        )

    def dumps(
        self,
        state: str,
        verifier: str,
        return_to: str,
        *,
        provider: str,
        nonce: str | None = None,
    ) -> str:
        exp = math.floor(self.clock.now()) + LOGIN_MAX_AGE
        body = json.dumps(
            {
                "state": state,
                "verifier": verifier,
                "provider": provider,
                "nonce": nonce,
                "return_to": return_to,
                "exp": exp,
            },
            separators=(",", ":"),
        )
        payload = _b64(body.encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def loads(self, value: str | None) -> LoginState:
        """Raises: InvalidCallback (missing, forged, malformed or expired)."""
        if not value or len(value) > MAX_COOKIE:
            raise InvalidCallback("no login cookie")
        payload, _, mac = value.partition(".")
        try:
            payload.encode("ascii")
            good = hmac.compare_digest(self._mac(payload), mac)
        except (UnicodeEncodeError, TypeError):
            good = False
        if not good:
            raise InvalidCallback("the login cookie's signature does not match")
        try:
            data = json.loads(_unb64(payload))
            provider, nonce = data.get("provider"), data.get("nonce")
            if not (nonce is None or isinstance(nonce, str)):
                raise TypeError("nonce")
            state = LoginState(
                state=str(data["state"]),
                verifier=str(data["verifier"]),
                provider=provider if isinstance(provider, str) else "",
                nonce=nonce,
                return_to=check_return_to(str(data["return_to"])),
                exp=int(data["exp"]),
            )
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            binascii.Error,
            InvalidRequest,
        ):
            raise InvalidCallback("the login cookie is malformed") from None
        if not _PROVIDER.fullmatch(state.provider):
            # Made before several providers: its code's issuer is unknown.
            raise InvalidCallback("the login cookie names no identity provider")
        if self.clock.now() >= state.exp:
            raise InvalidCallback("the login cookie has expired")
        return state
