"""Logins and lookups per second on the SQLite and dynalite user stores.

Run by hand from the repository root (after ``make venv`` and ``npm ci``):

    .venv/bin/python benchmarks/bench_stores.py [--logins 500] [--lookups 3000]

One thread, the real ``ExchangeAuthCode`` use case (token signing left out: the
store is measured). "first logins" create users; "repeat logins" find them and
write nothing; "lookups" are ``get(user_id)`` as every authenticated request
does with a cold cache. dynalite is a Node.js stand-in, not DynamoDB: its
numbers show our overhead, not AWS latency.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import workos_profile
from tests.integration.dynalite import run_dynalite
from tests.integration.store_helpers import AWS_TEST_ENV, login
from wikibot_auth.adapters.dynamodb import (
    DynamoDBUserRepository,
    make_dynamodb_client,
)
from wikibot_auth.adapters.dynamodb_table import DynamoDBTable
from wikibot_auth.adapters.sqlite import SQLiteUserRepository
from wikibot_auth.domain.model import Identity


def rate(count: int, run: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for i in range(count):
        run(i)
    return count / (time.perf_counter() - started)


def measure(repo: Any, logins: int, lookups: int) -> tuple[float, float, float]:
    profiles = [
        workos_profile(workos_id=f"user_{i}", identity=Identity("google", f"g-{i}"))
        for i in range(logins)
    ]
    ids: list[str] = []
    first = rate(logins, lambda i: ids.append(login(repo, profiles[i]).user.user_id))
    repeat = rate(logins, lambda i: login(repo, profiles[i]))
    picks = [random.choice(ids) for _ in range(lookups)]
    lookup = rate(lookups, lambda i: repo.get(picks[i]))
    return first, repeat, lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=500)
    parser.add_argument("--lookups", type=int, default=3000)
    args = parser.parse_args()
    rows: list[tuple[str, tuple[float, float, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = SQLiteUserRepository(Path(tmp) / "users.db")
        rows.append(("sqlite (file, WAL)", measure(repo, args.logins, args.lookups)))
        repo.close()
    with run_dynalite() as endpoint:
        os.environ.update(AWS_TEST_ENV)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        client = make_dynamodb_client()
        DynamoDBTable(client, "bench-users").create()
        dynamo = DynamoDBUserRepository(client, "bench-users")
        rows.append(("dynalite (boto3)", measure(dynamo, args.logins, args.lookups)))
    print(f"{args.logins} logins, {args.lookups} lookups, one thread")
    print(
        f"{'store':<20} {'first logins/s':>15} {'repeat logins/s':>16} {'lookups/s':>10}"
    )
    for name, (first, repeat, lookup) in rows:
        print(f"{name:<20} {first:>15.0f} {repeat:>16.0f} {lookup:>10.0f}")


if __name__ == "__main__":
    main()
