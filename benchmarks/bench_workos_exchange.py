"""Code exchange latency of the WorkOS adapter against the local stand-in.

    .venv/bin/python -m benchmarks.bench_workos_exchange [N]

Measures our side (request building, two HTTP round trips over one reused
connection, parsing, identity choice) with the network taken out: a floor,
not WorkOS's latency. Run by hand; not part of the test suite. The
``login`` section (``bench_login.py``) compares a whole login through each
kind of provider.
"""

from __future__ import annotations

import statistics
import sys
import time

from tests.integration.workos_standin import API_KEY, CLIENT_ID, WorkOSStandIn, s256
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.workos import WorkOSIdentityProvider
from wikibot_auth.domain.model import LoginCallback
from wikibot_auth.domain.pkce import new_code_verifier


def main(n: int) -> None:
    with WorkOSStandIn.running() as standin, BoundedHttpClient(timeout=5) as client:
        idp = WorkOSIdentityProvider(
            client, api_key=API_KEY, client_id=CLIENT_ID, base_url=standin.url
        )
        samples = []
        for i in range(n + 20):
            verifier = new_code_verifier()
            code = standin.issue_code(s256(verifier), "linked")
            start = time.perf_counter()
            idp.exchange_code(LoginCallback(code, verifier))
            if i >= 20:  # warm-up
                samples.append((time.perf_counter() - start) * 1000)
            if i % 200 == 0:
                standin.reset()
    samples.sort()
    print(
        f"exchange_code (authenticate + identities), n={n}: "
        f"median {statistics.median(samples):.2f} ms, "
        f"p95 {samples[int(0.95 * (len(samples) - 1))]:.2f} ms, "
        f"max {samples[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
