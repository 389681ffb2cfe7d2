"""``authenticate(header)`` end to end on the real stores, beside the floor.

    .venv/bin/python -m benchmarks authenticate

Cold: a token seen for the first time (the token cache misses, the RSA verify
runs). Warm: the token was seen recently. Each on the in-memory store, SQLite
(a file, WAL) and dynalite (a Node.js DynamoDB stand-in on 127.0.0.1, started
and stopped here: its figures show our overhead plus a loopback HTTP round
trip, not AWS latency), with the user cache at 0 s (a store read per request)
and at 5 s. The floor is the token section's (RSA verify + parse), so the
ratios compare with that table.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from benchmarks.bench_tokens import floor_verify, profile, wired
from benchmarks.harness import Bench, verdict
from wikibot_auth.adapters.key_files import generate_private_key
from wikibot_auth.adapters.key_ring import KeyRing
from wikibot_auth.adapters.memory import InMemoryUserRepository
from wikibot_auth.adapters.rs256 import RS256TokenSigner
from wikibot_auth.adapters.system_clock import SystemClock
from wikibot_auth.adapters.user_cache import with_user_cache
from wikibot_auth.domain.model import Identity, User
from wikibot_auth.domain.ports import UserRepository
from wikibot_auth.domain.use_cases import Authenticate

USER_CACHE_TTLS = (0.0, 5.0)
AWS_BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def dynalite_store() -> Iterator[UserRepository | None]:
    """A DynamoDB store on a fresh dynalite; None (and a note) without Node.js."""
    from tests.integration.dynalite import run_dynalite
    from tests.integration.peer_process import PeerMissing
    from wikibot_auth.adapters.dynamodb import (
        DynamoDBUserRepository,
        make_dynamodb_client,
    )
    from wikibot_auth.adapters.dynamodb_table import DynamoDBTable

    try:
        server = run_dynalite()
        endpoint = server.__enter__()
    except PeerMissing as exc:
        print(f"dynalite not available ({exc}): its rows are skipped")
        yield None
        return
    saved = {
        k: os.environ.get(k) for k in [*AWS_BENCH_ENV, "AWS_ENDPOINT_URL_DYNAMODB"]
    }
    try:
        os.environ.update(AWS_BENCH_ENV, AWS_ENDPOINT_URL_DYNAMODB=endpoint)
        client = make_dynamodb_client()
        DynamoDBTable(client, "bench-users").create()
        store = DynamoDBUserRepository(client, "bench-users")
        yield store
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.__exit__(None, None, None)


def run() -> None:
    clock = SystemClock()
    key = generate_private_key()
    signer = RS256TokenSigner(KeyRing.of_private_key(key), clock)
    user = User.new("usr_bench", profile(), int(clock.now()))
    token = signer.create_token(user.user_id)
    other = signer.create_token(user.user_id)  # same shape, for cold misses
    public = key.public_key()

    bench = Bench(
        "authenticate(header) end to end, by store",
        floor="floor: RSA verify + parse",
    )
    bench.add(bench.floor, lambda: floor_verify(token, public))
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        from wikibot_auth.adapters.sqlite import SQLiteUserRepository

        sqlite = SQLiteUserRepository(str(tmp / "users.db"))
        stack.callback(sqlite.close)
        stores: dict[str, UserRepository | None] = {
            "memory": InMemoryUserRepository(),
            "sqlite": sqlite,
            "dynalite": stack.enter_context(dynalite_store()),
        }
        for store_name, store in stores.items():
            if store is None:
                continue
            store.create(user, [profile().alias, Identity("google", "1234567890")])
            for ttl in USER_CACHE_TTLS:
                users = with_user_cache(store, clock, ttl)
                cold = wired(
                    RS256TokenSigner(signer.key_ring, clock, cache_size=1),
                    users,
                    clock,
                    answers=1,  # the two alternating tokens always miss
                )
                headers = [f"Bearer {token}", f"Bearer {other}"]

                def cold_auth(
                    cold: Authenticate = cold, headers: list[str] = headers
                ) -> object:
                    headers.reverse()  # the one-entry cache always misses
                    return cold(headers[0])

                warm = wired(RS256TokenSigner(signer.key_ring, clock), users, clock)
                bench.add(f"{store_name}: cold, user cache {ttl:g} s", cold_auth)
                bench.add(
                    f"{store_name}: warm, user cache {ttl:g} s",
                    functools.partial(warm, f"Bearer {token}"),
                )
        bench.run()
    print(bench.table())
    for store_name in ("memory", "sqlite"):
        warm = bench.median(f"{store_name}: warm, user cache 5 s")
        print(verdict(f"{store_name} warm, user cache on", warm, 2.5, " us"))
    sqlite_off = bench.median("sqlite: warm, user cache 0 s")
    print(verdict("sqlite warm, user cache off (a store read)", sqlite_off, 12, " us"))
    print("  per second per core (1e6 / median):")
    for name in bench.results:
        if name != bench.floor:
            print(f"    {name:<32} {1e6 / bench.median(name):>10,.0f}")
