"""The ``wikibot-auth`` command line.

Exit codes come from ``wire.py``: 0 ok, 1 rejected (a bad token), 2 usage or
configuration error, 3 a dependency is down, 4 internal error. Never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ..domain.errors import AuthError, UnknownUser
from ..domain.model import MAX_GENERATION, User
from .asgi import create_app
from .cli_keys import add_key_commands, with_kids_attached
from .cli_usage import Parser, UsageError
from .cli_users import add_migration_verbs
from .cli_workos import add_workos_command
from .containers import Container, container_for, create_container
from .extras import SERVER, install_hint, missing_package
from .log_format import configure_logging
from .settings import Settings
from .wire import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, exit_code

logger = logging.getLogger("wikibot_auth")

MAX_STDIN_TOKEN = 1 << 20
# Codes whose message (never a secret: the errors' contract) follows on a second
# line: what is down or misconfigured, and where. A rejected token says no more.
EXPLAINED = frozenset(
    {
        "not_configured",
        "store_unavailable",
        "idp_unavailable",
        "idp_error",
        "signer_unavailable",
    }
)


def _token_options() -> Parser:
    common = Parser(add_help=False)
    common.add_argument("--issuer", help="token iss (default: $WIKIBOT_AUTH_ISSUER)")
    common.add_argument(
        "--audience", help="token aud (default: $WIKIBOT_AUTH_AUDIENCE)"
    )
    common.add_argument("--leeway", type=int, help="clock skew, 1-300 s")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="wikibot-auth", description="wikibot.io authentication core")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    common = _token_options()

    add_key_commands(commands)

    token = commands.add_parser("token", help="mint or verify platform tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    mint = token_commands.add_parser("mint", parents=[common], help="mint a token")
    mint.add_argument("--key", required=True, help="private key PEM")
    mint.add_argument("--sub", required=True, help="the user id the token names")
    mint.add_argument("--ttl", type=int, help="lifetime in seconds")
    mint.add_argument(
        "--gen",
        type=int,
        default=0,
        help="the user's token_generation (default 0): a token whose gen is "
        "below the stored one is revoked",
    )
    mint.set_defaults(run=_mint)
    verify = token_commands.add_parser(
        "verify", parents=[common], help="verify a token; print its claims as JSON"
    )
    verify.add_argument(
        "--key", required=True, help="private or public key PEM (or JWKS)"
    )
    verify.add_argument("token", help="the token, or - to read it from standard input")
    verify.set_defaults(run=_verify)

    jwks = commands.add_parser("jwks", parents=[common], help="print the JWK Set")
    jwks.add_argument(
        "--key", required=True, help="private or public key PEM (or JWKS)"
    )
    jwks.set_defaults(run=_jwks)

    serve = commands.add_parser(
        "serve",
        help="run the HTTP server (login routes, /me, JWKS) under uvicorn "
        "(the 'server' extra)",
        description="Embedded defaults: the configured user store, a generated "
        "key in the data directory, and (development, loopback host, no "
        "WORKOS_API_KEY) the local sign-in page.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default: 8000")
    serve.set_defaults(run=_serve)

    users = commands.add_parser(
        "users", help="inspect and manage users in the configured store"
    )
    user_commands = users.add_subparsers(
        dest="users_command", required=True, parser_class=Parser
    )
    for name, run, text in (
        ("show", _users_show, "print the stored record as JSON"),
        ("disable", _users_disable, "disable the user and sign them out everywhere"),
        ("enable", _users_enable, "enable the user again"),
        ("sign-out", _users_sign_out, "revoke every token issued to the user so far"),
    ):
        verb = user_commands.add_parser(name, help=text, description=text)
        verb.add_argument("user_id", metavar="USER_ID")
        verb.set_defaults(run=run)
    add_migration_verbs(user_commands)

    dynamodb = commands.add_parser("dynamodb", help="DynamoDB user store tools")
    dynamodb_commands = dynamodb.add_subparsers(dest="dynamodb_command", required=True)
    create_table = dynamodb_commands.add_parser(
        "create-table",
        help="create the users table (hash key pk, on-demand) and wait until ACTIVE",
    )
    create_table.add_argument(
        "--table", help="table name (default: the one in WIKIBOT_AUTH_USER_STORE)"
    )
    create_table.set_defaults(run=_dynamodb_create_table)
    add_workos_command(commands)
    return parser


def _container(args: argparse.Namespace, **overrides: Any) -> Container:
    return create_container(
        runtime="cli",
        issuer=getattr(args, "issuer", None),
        audience=getattr(args, "audience", None),
        leeway=getattr(args, "leeway", None),
        key_file=getattr(args, "key", None),
        **overrides,
    )


def _mint(args: argparse.Namespace, out: TextIO) -> int:
    if not args.sub.strip():
        raise UsageError("--sub must name a user id; it is empty or blank")
    if not 0 <= args.gen < MAX_GENERATION:
        raise UsageError("--gen must be a whole number from 0 to 2**53 - 1")
    container = _container(args)
    if args.ttl is not None:
        # Checked here: the settings would blame WIKIBOT_AUTH_TOKEN_TTL.
        maximum = container.config.max_token_ttl()
        if not 1 <= args.ttl <= maximum:
            raise UsageError(
                f"--ttl must be between 1 and {maximum} seconds (the maximum is "
                "WIKIBOT_AUTH_MAX_TOKEN_TTL)"
            )
        container = _container(args, token_ttl=args.ttl)
    if container.key_ring().signer is None:
        raise UsageError(
            f"{args.key} holds only public keys: it can verify tokens but not "
            "sign them; pass the private key PEM"
        )
    token = container.token_signer().create_token(args.sub, generation=args.gen)
    print(token, file=out)
    return EXIT_OK


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    token = args.token
    if token == "-":  # noqa: S105 - the stdin marker, not a secret
        raw = sys.stdin.buffer.read(MAX_STDIN_TOKEN + 1)
        token = raw.decode("ascii", "replace").strip()
    claims = _container(args).token_signer().validate_token(token)
    json.dump(
        {
            "sub": claims.sub,
            "iss": claims.iss,
            "aud": claims.aud,
            "iat": claims.iat,
            "exp": claims.exp,
            "jti": claims.jti,
            "kid": claims.kid,
            **({} if claims.nbf is None else {"nbf": claims.nbf}),
            **({} if claims.gen is None else {"gen": claims.gen}),
        },
        out,
        indent=2,
    )
    print(file=out)
    return EXIT_OK


def _jwks(args: argparse.Namespace, out: TextIO) -> int:
    json.dump(_container(args).token_signer().jwks(), out, indent=2)
    print(file=out)
    return EXIT_OK


def _store_container(args: argparse.Namespace) -> Container:
    given: Container | None = getattr(args, "container", None)
    return given if given is not None else create_container(runtime="cli")


def _print_user(user: User, out: TextIO) -> int:
    json.dump(user.to_item(), out, indent=2, sort_keys=True)
    print(file=out)
    return EXIT_OK


def _users_show(args: argparse.Namespace, out: TextIO) -> int:
    user = _store_container(args).user_repository().get(args.user_id)
    if user is None:
        raise UnknownUser()
    return _print_user(user, out)


def _users_disable(args: argparse.Namespace, out: TextIO) -> int:
    return _print_user(
        _store_container(args).set_user_disabled()(args.user_id, True), out
    )


def _users_enable(args: argparse.Namespace, out: TextIO) -> int:
    return _print_user(
        _store_container(args).set_user_disabled()(args.user_id, False), out
    )


def _users_sign_out(args: argparse.Namespace, out: TextIO) -> int:
    return _print_user(_store_container(args).sign_out_everywhere()(args.user_id), out)


def _check_port(host: str, port: int) -> None:
    """Bind ``host:port`` as uvicorn's asyncio server will (every address the
    host resolves to, SO_REUSEADDR, v6 only), then let go: a taken port is a
    usage error now, not a bind error after "Application startup complete"."""
    hint = 'pick another port with --port N (make serve SERVE_ARGS="--port N")'
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise UsageError(f"cannot resolve --host {host}: {exc.strerror}") from None
    with contextlib.ExitStack() as probes:
        bound = 0
        for family, kind, proto, _, address in dict.fromkeys(infos):
            try:
                probe = probes.enter_context(socket.socket(family, kind, proto))
            except OSError:
                continue  # a family this machine lacks: asyncio skips it too
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue  # likewise
                if exc.errno == errno.EADDRINUSE:
                    raise UsageError(
                        f"{host}:{port} is already in use; {hint}"
                    ) from None
                raise UsageError(
                    f"cannot listen on {host}:{port} ({exc.strerror}); {hint}"
                ) from None
            bound += 1
    if not bound:
        raise UsageError(f"cannot listen on {host}:{port}: no such local address")


def _check_server_extra() -> None:
    """uvicorn and Starlette (the routes) import; else a usage error naming
    the ``server`` extra, before anything else is done."""
    try:
        import uvicorn  # noqa: F401

        from . import routes  # noqa: F401 - Starlette
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"serve needs {missing_package(exc)}, which the 'server' extra installs: "
            f"{install_hint(SERVER)}"
        ) from None


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    _check_server_extra()
    if not 1 <= args.port <= 65535:  # the redirect URI names the port
        raise UsageError("--port must be between 1 and 65535")
    settings = Settings.for_serve(args.host, args.port)
    _check_port(args.host, args.port)  # before a key or a store is touched
    container = container_for(settings)
    # Fail now (exit 2) on a bad key or store, not at the first request.
    container.token_signer()
    container.login_state()
    container.user_repository()
    idp = container.config.idp()
    app = create_app(container)
    configure_logging(settings.log_format)
    redirect = container.config.redirect_uri() or "derived from each request"
    print(
        f"wikibot-auth: store {container.config.store_kind()}, IdP {idp}, "
        f"callback {redirect}",
        file=out,
        flush=True,
    )
    import uvicorn  # only here: nothing else needs a server

    # The access log would print every callback URL, auth code and state included.
    config = uvicorn.Config(
        app, host=args.host, port=args.port, access_log=False, server_header=False
    )
    uvicorn.Server(config).run()
    return EXIT_OK


def _dynamodb_create_table(args: argparse.Namespace, out: TextIO) -> int:
    table = args.table
    if table is not None and not table.strip():
        raise UsageError("--table must not be empty")
    if table is None:
        configured = create_container(runtime="cli")
        if configured.config.store_kind() != "dynamodb":
            raise UsageError(
                "pass --table NAME or set WIKIBOT_AUTH_USER_STORE=dynamodb://NAME"
            )
        table = configured.config.store_location()
    container = create_container(runtime="cli", user_store=f"dynamodb://{table}")
    created = container.dynamodb_table().create(wait=True)
    print(f"{'created' if created else 'exists'}: {table} (ACTIVE)", file=out)
    return EXIT_OK


def main(
    argv: Sequence[str] | None = None, *, container: Container | None = None
) -> int:
    """Run the command line; returns the exit code. ``container`` (tests,
    embedding) replaces the one built from the environment for ``users``."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        args = build_parser().parse_args(
            with_kids_attached(sys.argv[1:] if argv is None else argv)
        )
        args.container = container
        run: Callable[[argparse.Namespace, TextIO], int] = args.run
        return run(args, sys.stdout)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AuthError as exc:
        print(f"error: {exc.code}", file=sys.stderr)
        if exc.code in EXPLAINED:
            print(exc.message, file=sys.stderr)
        return exit_code(exc)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except Exception as exc:
        # The traceback goes to the debug log only: it may quote arguments.
        logger.debug("unexpected error", exc_info=True)
        print(f"error: internal_error ({type(exc).__name__})", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
