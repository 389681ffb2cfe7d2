"""Our registered-claim checks never accept what PyJWT's own ``decode`` rejects.

The signer lets PyJWT's JWS layer verify the signature and checks the claims
itself (faster). Over generated claim sets (types, ``aud`` as a string or a
list, missing and extra claims, every time boundary, huge numbers, bools,
floats, ``nbf``/``iat``/``exp`` combinations, ``gen``), each signed with our
key, the oracle is ``jwt.decode`` with our options (algorithm, issuer,
audience, ``strict_aud``, the required claims) AND PyJWT's own time checks at
our leeway and our clock's time: whatever it refuses, ``validate_token``
refuses. Ours may refuse more (``gen``, the maximum lifetime, bools, numeric
strings, empty ``sub``, fractional ``iat``/``nbf`` a part of a second ahead).

The last tests loosen one check at a time and show this property catches it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any
from unittest import mock

import jwt
import jwt.api_jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from wikibot_auth.adapters.key_files import generate_private_key, thumbprint
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import FixedClock
from wikibot_auth.adapters.registered_claims import REQUIRED_CLAIMS
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.domain.errors import InvalidToken

KEY = generate_private_key()
KID = thumbprint(KEY.public_key())
ISSUER = AUDIENCE = "wikibot.io"
NOW = 1_700_000_000
LEEWAY = 30
MAX_TTL = 86400

Validator = Callable[[str, float], Any]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    # By hand: PyJWT refuses to encode some of these payloads (a non-string iss).
    head = {"alg": "RS256", "kid": KID, "typ": "JWT", **(header or {})}
    signing_input = (
        f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
    )
    signature = KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


class _PyJWTClock(dt.datetime):
    """PyJWT reads the wall clock (``datetime.now``); the oracle needs ours."""

    frozen: float = NOW

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _PyJWTClock:  # type: ignore[override]
        return cls.fromtimestamp(cls.frozen, tz)


def pyjwt_accepts(token: str, now: float) -> bool:
    _PyJWTClock.frozen = now
    assert _PyJWTClock.now(dt.UTC).timestamp() == now  # the clock is exact
    # PyJWT's module-level ``datetime`` is its clock: the oracle's, not ours.
    with mock.patch.object(jwt.api_jwt, "datetime", _PyJWTClock):
        try:
            jwt.decode(
                token,
                KEY.public_key(),
                algorithms=["RS256"],
                issuer=ISSUER,
                audience=AUDIENCE,
                leeway=LEEWAY,
                options={"strict_aud": True, "require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError:
            return False
    return True


def ours(token: str, now: float) -> Any:
    signer = RS256TokenSigner(
        KeyRing.build(None, [KEY.public_key()]),
        FixedClock(now),
        leeway=LEEWAY,
        max_token_ttl=MAX_TTL,
        cache_size=0,
    )
    return signer.validate_token(token)


VALID = {
    "iss": ISSUER,
    "aud": AUDIENCE,
    "sub": "usr_1",
    "iat": NOW,
    "exp": NOW + 3600,
    "jti": "j1",
}


# -- generated claim sets ------------------------------------------------------
# A valid claim set near every time boundary, then zero to three claims
# replaced by hostile values: most examples sit next to the line between
# accepted and refused, where a loosened check shows.

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
)
strings = st.sampled_from(
    [ISSUER, "", "wikibot.i", "WIKIBOT.IO", "wikibot.io ", "other.example"]
)


def _pick(*choices: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A uniform choice of branch (``one_of`` leans towards its first ones).
    return st.sampled_from(choices).flatmap(lambda chosen: chosen)


HOSTILE: dict[str, st.SearchStrategy[Any]] = {
    "iss": _pick(strings, st.lists(strings, min_size=1, max_size=2), junk),
    "aud": _pick(
        st.sampled_from([[AUDIENCE], [AUDIENCE, "other.example"], [AUDIENCE] * 2]),
        st.lists(strings, max_size=3),
        strings,
        junk,
    ),
    "sub": _pick(st.sampled_from(["", " ", "usr_\u00e9", "0"]), junk),
    "jti": _pick(st.sampled_from(["", "j2"]), junk),
    "gen": _pick(
        st.sampled_from([0, 1, 2**53 - 1, 2**53, -1, 1.0, 0.0, True, False, "0"]),
        junk,
    ),
}
ODD_NUMBERS = [0, -1, 10**20, -(10**20), 10**400, -(10**400), 1e308, -1e308]
ODD_NUMBERS += [2**53, 2**63, math.inf, -math.inf, math.nan, True, False]


def instants(now: float, boundary: float) -> st.SearchStrategy[Any]:
    """A time next to ``boundary`` (the claim's own: ``now - leeway`` for
    ``exp``, ``now + leeway`` for ``iat`` and ``nbf``) or to ``now``, as an int,
    a float or a numeric string; or an odd number, or junk."""
    base = math.floor(boundary)
    near = [base + d for d in (0.5, 0.25, 0.999999, 0.75, 0, 1, -0.5, -1, 2)]
    near += [float(base), math.floor(now), now]

    @st.composite
    def instant(draw: st.DrawFn) -> Any:
        kind = draw(st.sampled_from(["near"] * 8 + ["str", "odd", "any", "junk"]))
        if kind == "near":
            return draw(st.sampled_from(near))
        if kind == "str":
            return str(draw(st.sampled_from(near)))
        if kind == "odd":
            return draw(st.sampled_from(ODD_NUMBERS))
        if kind == "any":
            return draw(st.one_of(st.integers(), st.floats()))
        return draw(junk)

    return instant()


TIMES = ["iat", "exp", "nbf", "lifetime"]


@st.composite
def claim_sets(draw: st.DrawFn) -> tuple[dict[str, Any], float]:
    """The valid claim set with one claim changed (the identity claims, or
    the time claims, each next to its boundary), or up to three changed,
    deleted or set to null, or none."""
    now = NOW + draw(st.sampled_from([0, 0.25, 0.5, 0.75]))
    claims: dict[str, Any] = dict(VALID)
    if draw(st.booleans()):
        claims["gen"] = draw(st.sampled_from([0, 1]))
    focus = draw(st.sampled_from(["identity", "time", "any"]))
    if focus == "identity":
        changes = [(draw(st.sampled_from(list(HOSTILE))), "replace")]
    elif focus == "time":
        changes = [(draw(st.sampled_from(TIMES)), "replace")]
    else:
        names = draw(st.lists(st.sampled_from([*HOSTILE, *TIMES]), max_size=3))
        hows = ["replace", "replace", "delete", "null"]
        changes = [(name, draw(st.sampled_from(hows))) for name in names]
    for name, how in changes:
        if name == "lifetime":
            iat = claims.get("iat")
            if type(iat) not in (int, float) or not abs(iat) < 2**60:
                iat = NOW
            lifetime = draw(st.sampled_from([1, MAX_TTL, MAX_TTL + LEEWAY]))
            claims["exp"] = iat + lifetime + draw(st.sampled_from([0, 0.5, 1, -0.5]))
        elif how == "delete":
            claims.pop(name, None)
        elif how == "null":
            claims[name] = None
        elif name in HOSTILE:
            claims[name] = draw(HOSTILE[name])
        else:
            boundary = now - LEEWAY if name == "exp" else now + LEEWAY
            claims[name] = draw(instants(now, boundary))
    extra = draw(st.dictionaries(st.sampled_from(["x", "nonce", "scope"]), junk))
    return {**extra, **claims}, now


def differential(validate: Validator, claims: dict[str, Any], now: float) -> Any:
    """The accepted claims, or None: ours refused."""
    token = sign(claims)
    try:
        accepted = validate(token, now)
    except InvalidToken:
        return None
    assert pyjwt_accepts(token, now), f"ours accepted what PyJWT refuses: {claims}"
    return accepted


BOUNDARIES = [
    {**VALID, "exp": NOW - LEEWAY + 0.5},  # PyJWT truncates: expired
    {**VALID, "exp": NOW - LEEWAY},
    {**VALID, "exp": NOW - LEEWAY + 1},
    {**VALID, "iat": NOW + LEEWAY + 0.5},
    {**VALID, "nbf": NOW + LEEWAY + 0.5},
    {**VALID, "nbf": None},
    {**VALID, "nbf": "0"},
    {**VALID, "aud": [AUDIENCE]},
    {**VALID, "aud": ""},
    {**VALID, "jti": 1},
    {**VALID, "iss": [ISSUER]},
    {**VALID, "exp": 10**400},
    {**VALID, "exp": 1e308},
    {**VALID, "iat": -(10**400)},
    {**VALID, "gen": True},
    {**VALID, "sub": None},
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claim_sets())
@example((VALID, NOW))
def test_ours_never_accepts_what_pyjwt_decode_refuses(case):
    claims, _ = case
    accepted = differential(ours, *case)
    if accepted is not None:  # and it says what the token says
        assert (accepted.sub, accepted.iss, accepted.aud, accepted.jti) == (
            claims["sub"],
            claims["iss"],
            claims["aud"],
            claims["jti"],
        )
        assert (accepted.exp, accepted.iat) == (
            math.floor(claims["exp"]),
            math.floor(claims["iat"]),
        )
        assert accepted.gen == claims.get("gen")
        nbf = claims.get("nbf")
        assert accepted.nbf == (None if nbf is None else math.floor(nbf))
        assert accepted.kid == KID


@pytest.mark.parametrize("claims", BOUNDARIES, ids=range(len(BOUNDARIES)))
@pytest.mark.parametrize("fraction", [0, 0.25])
def test_boundaries_agree_with_pyjwt_or_are_stricter(claims, fraction):
    differential(ours, claims, NOW + fraction)


def test_the_valid_claim_set_is_accepted_by_both():
    assert ours(sign(VALID), NOW).sub == "usr_1"
    assert pyjwt_accepts(sign(VALID), NOW)


# -- the property can fail ----------------------------------------------------


def loosened(change: Callable[[dict[str, Any]], dict[str, Any]]) -> Validator:
    """``ours`` behind a deliberately loosened check: the payload is rewritten
    into one ours accepts, re-signed, and verified; the claims answer as if
    the original had passed."""

    def validate(token: str, now: float) -> Any:
        payload = jwt.decode(token, options={"verify_signature": False})
        return ours(sign(change(payload)), now)

    return validate


def _any_audience_list(p: dict[str, Any]) -> dict[str, Any]:
    if isinstance(p.get("aud"), list) and AUDIENCE in p["aud"]:
        return {**p, "aud": AUDIENCE}
    return p


def _fractional_exp_rounded_up(p: dict[str, Any]) -> dict[str, Any]:
    exp = p.get("exp")
    if isinstance(exp, float) and math.isfinite(exp) and exp != math.floor(exp):
        return {**p, "exp": math.ceil(exp)}
    return p


def _no_issuer_check(p: dict[str, Any]) -> dict[str, Any]:
    return {**p, "iss": ISSUER}


def _jti_optional(p: dict[str, Any]) -> dict[str, Any]:
    return p if isinstance(p.get("jti"), str) else {**p, "jti": "filled-in"}


def _nbf_ignored(p: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in p.items() if k != "nbf"}


MUTANTS = {
    "aud as a list": _any_audience_list,
    "exp compared unrounded": _fractional_exp_rounded_up,
    "no issuer check": _no_issuer_check,
    "jti not required": _jti_optional,
    "nbf ignored": _nbf_ignored,
}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_the_property_catches_a_loosened_check(name):
    validate = loosened(MUTANTS[name])

    @settings(
        max_examples=1500,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(claim_sets())
    def property_(case):
        differential(validate, *case)

    with pytest.raises(AssertionError, match="ours accepted what PyJWT refuses"):
        property_()
