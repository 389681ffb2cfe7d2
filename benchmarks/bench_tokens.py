"""Tokens: the floor, the peers and ours on the same RSA-2048 token.

Sections for the stores (SQLite, dynalite), ASGI throughput and the Lambda
cold start go in further ``bench_*.py`` files, each with a ``run()``.
"""

from __future__ import annotations

import base64
import json
import tracemalloc
import warnings
from typing import Any

import attrs
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from benchmarks.harness import Bench, record, verdict
from wikibot_auth.adapters.key_files import generate_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import (
    InMemoryUserRepository,
    ScriptedIdentityProvider,
)
from wikibot_auth.adapters.rs256 import MAX_TOKEN_BYTES, RS256TokenSigner
from wikibot_auth.adapters.system_clock import SystemClock
from wikibot_auth.adapters.user_cache import (
    DEFAULT_MAX_ENTRIES,
    CachingUserRepository,
    answer_memory_of,
    cached_users_of,
)
from wikibot_auth.domain.model import (
    AuthenticatedUser,
    Identity,
    IdentityProfile,
    User,
)
from wikibot_auth.domain.pkce import new_code_verifier
from wikibot_auth.domain.ports import Clock, TokenSigner, UserRepository
from wikibot_auth.domain.use_cases import Authenticate, ExchangeAuthCode

ISSUER = AUDIENCE = "wikibot.io"
USER_CACHE_TTL = 5.0
# More logins than a run of the issuing table makes, even on a fast machine
# (15 rounds of about 10 ms).
SCRIPTED_CODES = 100_000


def _b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def floor_verify(token: str, public: rsa.RSAPublicKey) -> dict[str, Any]:
    """The physical floor: one RSA verify plus decoding header and payload."""
    signing_input, _, signature = token.rpartition(".")
    header_b64, _, payload_b64 = signing_input.partition(".")
    json.loads(_b64d(header_b64))
    payload: dict[str, Any] = json.loads(_b64d(payload_b64))
    public.verify(
        _b64d(signature),
        signing_input.encode("ascii"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    return payload


def add_peers(bench: Bench, token: str, public: rsa.RSAPublicKey, pem: str) -> None:
    import jwt as pyjwt

    bench.add(
        "PyJWT jwt.decode (key object)",
        lambda: pyjwt.decode(
            token, public, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        ),
    )
    bench.add(
        "PyJWT jwt.decode (PEM string)",
        lambda: pyjwt.decode(
            token, pem, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        ),
    )
    try:
        from joserfc import jwt as jrfc_jwt
        from joserfc.jwk import RSAKey

        jrfc_key = RSAKey.import_key(pem)
        jrfc_claims = jrfc_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True},
        )

        def joserfc_decode() -> object:
            decoded = jrfc_jwt.decode(token, jrfc_key, algorithms=["RS256"])
            jrfc_claims.validate(decoded.claims)
            return decoded.claims

        bench.add("joserfc jwt.decode + validate", joserfc_decode)
    except ImportError:
        print("joserfc not installed: skipped (make bench installs it)")
    try:
        # authlib.jose is deprecated in favour of joserfc (measured above) but is
        # still what many projects use; its import installs an "always" filter.
        import authlib.deprecate  # noqa: F401

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from authlib.jose import JsonWebKey, JsonWebToken

        authlib_jwt = JsonWebToken(["RS256"])
        authlib_key = JsonWebKey.import_key(pem, {"kty": "RSA"})
        options = {
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": AUDIENCE},
            "exp": {"essential": True},
        }

        def authlib_decode() -> object:
            claims = authlib_jwt.decode(token, authlib_key, claims_options=options)
            claims.validate()
            return claims

        bench.add("authlib jose decode + validate", authlib_decode)
    except ImportError:
        print("authlib not installed: skipped (make bench installs it)")
    try:
        from jose import jwk as jose_jwk
        from jose import jwt as jose_jwt

        jose_key = jose_jwk.construct(pem, "RS256")
        bench.add(
            "python-jose jwt.decode (Key object)",
            lambda: jose_jwt.decode(
                token, jose_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
            ),
        )
    except ImportError:
        print("python-jose not installed: skipped (make bench installs it)")
    try:
        from jwcrypto import jwk as jwc_jwk
        from jwcrypto import jwt as jwc_jwt

        jwc_key = jwc_jwk.JWK.from_pem(pem.encode("ascii"))
        checks = {"iss": ISSUER, "aud": AUDIENCE, "exp": None}
        bench.add(
            "jwcrypto JWT(check_claims)",
            lambda: (
                jwc_jwt.JWT(
                    jwt=token, key=jwc_key, algs=["RS256"], check_claims=checks
                ).claims
            ),
        )
    except ImportError:
        print("jwcrypto not installed: skipped (make bench installs it)")


def wired(
    signer: TokenSigner,
    users: UserRepository,
    clock: Clock,
    answers: int = DEFAULT_MAX_ENTRIES,
) -> Authenticate:
    """``Authenticate`` as the container wires it: with the user cache on, its
    answers remembered by token too (``answers=1`` for a cold row, whose two
    alternating tokens then always miss)."""
    cached = cached_users_of(users)
    return Authenticate(signer, users, cached, answer_memory_of(cached, answers), clock)


def profile() -> IdentityProfile:
    return IdentityProfile(
        alias=Identity.workos("user_01BENCH"),
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        identity=Identity("google", "1234567890"),
    )


def run() -> None:
    clock = SystemClock()
    key = generate_private_key()
    public = key.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")
    ring = KeyRing.of_private_key(key)
    signer = RS256TokenSigner(ring, clock, cache_size=0)  # verifies every time

    store = InMemoryUserRepository()
    user = User.new("usr_bench", profile(), int(clock.now()))
    store.create(user, [profile().alias, Identity("google", "1234567890")])
    token = signer.create_token(user.user_id)
    other_token = signer.create_token(user.user_id)  # same shape, for cold misses
    header = f"Bearer {token}"

    bench = Bench("validating one RSA-2048 token", floor="floor: RSA verify + parse")
    bench.add(bench.floor, lambda: floor_verify(token, public))
    add_peers(bench, token, public, pem)

    bench.add(
        "ours: validate_token cold (RS256 signer)", lambda: signer.validate_token(token)
    )
    missing = RS256TokenSigner(ring, clock, cache_size=1)
    flip = [token, other_token]

    def cold_through_cache() -> object:
        flip.reverse()
        return missing.validate_token(flip[0])

    bench.add("ours: validate_token cold (cache miss)", cold_through_cache)
    cached = RS256TokenSigner(ring, clock)
    bench.add(
        "ours: validate_token warm (cache hit)", lambda: cached.validate_token(token)
    )

    caching_store = CachingUserRepository(store, clock, USER_CACHE_TTL)
    for ttl, users in ((0, store), (USER_CACHE_TTL, caching_store)):
        cold = wired(RS256TokenSigner(ring, clock, cache_size=1), users, clock, 1)
        cold_headers = [header, f"Bearer {other_token}"]

        def cold_auth(
            cold: Authenticate = cold, hs: list[str] = cold_headers
        ) -> object:
            hs.reverse()
            return cold(hs[0])

        bench.add(f"ours: authenticate cold, user cache {ttl:g} s", cold_auth)
        warm = wired(RS256TokenSigner(ring, clock), users, clock)
        bench.add(
            f"ours: authenticate warm, user cache {ttl:g} s",
            lambda warm=warm: warm(header),
        )
    bench.run()
    print(bench.table())
    cold = "ours: validate_token cold (RS256 signer)"
    peers = [name for name in bench.results if not name.startswith(("ours", "floor"))]
    print(verdict("cold validate_token / floor", bench.ratio(cold), 1.25))
    slower = [peer for peer in peers if bench.ratio(cold, peer) >= 1]
    for peer in sorted(peers, key=lambda peer: bench.ratio(cold, peer), reverse=True):
        print(f"  ours cold / {peer}: {bench.ratio(cold, peer):.3f}")
    mark = "met" if not slower else f"MISSED (not faster than {', '.join(slower)})"
    print(f"target cold validate_token faster than every peer: {mark}")
    warm_name = f"ours: authenticate warm, user cache {USER_CACHE_TTL:g} s"
    warm = bench.median(warm_name)
    record("tokens: authenticate warm, user cache 5 s (us)", warm, "us")
    print(verdict("warm authenticate, user cache on", warm, 2.5, " us"))
    print(f"  (stretch 1.5 us: {'met' if warm <= 1.5 else 'not met'})")
    for name in (cold, warm_name, "ours: authenticate cold, user cache 5 s"):
        print(f"  {name}: {1e6 / bench.median(name):,.0f} per second per core")

    run_issuing(key, signer, store)
    run_memory(signer, token)


def run_issuing(
    key: rsa.RSAPrivateKey, signer: RS256TokenSigner, store: InMemoryUserRepository
) -> None:
    bench = Bench("issuing tokens", floor="floor: raw RSA sign (loaded key)", rounds=15)
    signing_input = signer.create_token("usr_bench").rpartition(".")[0].encode("ascii")
    bench.add(
        bench.floor,
        lambda: key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256()),
    )
    bench.add("ours: create_token", lambda: signer.create_token("usr_bench"))

    idp = ScriptedIdentityProvider()
    login = ExchangeAuthCode(idp, store, signer, SystemClock())
    verifier = new_code_verifier()
    # Codes are single-use: enough scripted beforehand (untimed) for every
    # call a run makes, so that the row times exchange_auth_code alone; the
    # next row scripts each one (a new profile too) inside the timing, as
    # this table did before.
    ahead = [f"code-{i}" for i in range(SCRIPTED_CODES)]
    returned = profile()  # the same person each time (the profile is immutable)
    for code in ahead:
        idp.script(code, returned)
    scripted = iter(ahead)
    codes = iter(range(10**9))

    def exchange() -> object:
        return login(next(scripted), verifier)

    def script_and_exchange() -> object:
        code = f"per-call-{next(codes)}"
        idp.script(code, profile())
        return login(code, verifier)

    bench.add("ours: login (ExchangeAuthCode, in-memory)", exchange)
    bench.add("ours: login, scripting its code and profile", script_and_exchange)
    bench.run()
    print(bench.table())
    print(
        verdict("create_token / raw RSA sign", bench.ratio("ours: create_token"), 1.1)
    )
    login = "ours: login (ExchangeAuthCode, in-memory)"
    print(verdict("login CPU / raw RSA sign", bench.ratio(login), 1.1))
    scripting = "ours: login, scripting its code and profile"
    print(
        f"  with the scripting in the timing (as before): {bench.ratio(scripting):.3f}"
    )
    print("  (loading the private key from PEM is once per process, not measured here)")


def _traced(fill: Any) -> tuple[int, Any]:
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = fill()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, kept


def run_memory(signer: RS256TokenSigner, token: str) -> None:
    """Worst-case footprint of full caches (10,000 entries each)."""
    claims, times = signer._verify(token)
    print("\n## cache memory, full (tracemalloc, retained bytes)")
    for label, size in (
        ("our tokens", len(token)),
        ("8192-byte tokens", MAX_TOKEN_BYTES),
    ):
        cache = RS256TokenSigner(signer.key_ring, SystemClock())
        count = cache.cache_size

        def fill(
            cache: RS256TokenSigner = cache, size: int = size, count: int = count
        ) -> None:
            for i in range(count):
                unique = f"{i:010d}"
                key = unique + "x" * (size - len(unique))
                entry = (attrs.evolve(claims, sub="usr_" + unique, jti=unique), times)
                assert cache._entries is not None
                assert cache._entries is not None
                cache._entries.put(key, entry)  # what a verified miss stores

        used, _ = _traced(fill)
        print(
            f"token cache, {cache.cached_tokens():,} x {label} ({size} chars): "
            f"{used / 2**20:.1f} MiB ({used / cache.cached_tokens():,.0f} B per entry)"
        )
    items = {
        f"usr_{i:032x}": User(
            user_id=f"usr_{i:032x}",
            email=f"{i:010d}" + "e" * 234 + "@example.com",
            display_name="n" * 256,
            oauth_provider="microsoft",
            oauth_provider_sub=f"{i:064d}",
            workos_user_id=f"user_{i:026d}",
        ).to_item()
        for i in range(10_000)
    }
    users = CachingUserRepository(FreshReads(items), SystemClock(), USER_CACHE_TTL)

    def fill_users() -> None:
        for i in range(10_000):
            users.get(f"usr_{i:032x}")  # a key of its own, as a token's sub

    used, _ = _traced(fill_users)
    print(
        f"user cache, {len(users):,} users (254-char email, 256-char name): "
        f"{used / 2**20:.1f} MiB ({used / len(users):,.0f} B per entry)"
    )
    answers = answer_memory_of(users)
    assert answers is not None
    tokens = {user_id: f"{user_id}.{'t' * 560}" for user_id in items}  # ours: ~600

    def fill_answers() -> None:
        for user_id, token in tokens.items():
            lease = users.lease(user_id)
            assert lease is not None
            record, start, end, entry = lease
            answer = AuthenticatedUser.from_user(record)
            answers.put(token, (answer, signer, users, user_id, entry, start, end))

    used, _ = _traced(fill_answers)
    print(
        f"remembered answers, {len(tokens):,} tokens: {used / 2**20:.1f} MiB "
        f"({used / len(tokens):,.0f} B per entry; the token strings and the records "
        "are the token cache's and the user cache's)"
    )


class FreshReads:
    """A store that reads a new record each time, as SQLite and DynamoDB do
    (the in-memory store hands back the one it keeps)."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = items

    def get(self, user_id: str) -> User | None:
        return User.from_item(self.items[user_id])
