"""A signer or a verifier process for the rotation runbook test, configured by
its environment like a deployed one, driven one line at a time:

    python -m tests.integration.key_peer signer|verifier
    > ready
    < mint USER_ID          > TOKEN
    < verify TOKEN          > ok KID | error CODE
"""

from __future__ import annotations

import sys


def main(role: str) -> int:
    # As in the Lambda package: dependency-injector imports FastAPI whenever
    # it is installed (0.4 s of this process's start).
    sys.modules.setdefault("fastapi", None)  # type: ignore[arg-type]
    from wikibot_auth.domain.errors import AuthError
    from wikibot_auth.entrypoints.containers import create_container

    container = create_container(verify_only=role == "verifier")
    tokens = container.token_signer()
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        try:
            if command == "mint":
                print(tokens.create_token(argument), flush=True)
            elif command == "verify":
                print(f"ok {tokens.validate_token(argument).kid}", flush=True)
            else:
                print(f"error unknown command {command}", flush=True)
        except AuthError as exc:
            print(f"error {exc.code}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
