"""The configuration contract: environment variables, their defaults and checks.

Every variable is in docs/configuration.md (a test holds the page to what this
module reads). A bad value is a ``NotConfigured`` error that names the variable
(never its value: some are secrets).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs

from ..domain.errors import NotConfigured
from .idp_settings import (
    IDP_VARIABLE,
    ProviderSettings,
    parse_idp_names,
    plain_providers,
    providers_from_env,
)

PREFIX = "WIKIBOT_AUTH_"
ENVIRONMENTS = ("development", "production")
AUTHORIZER_RESPONSES = ("simple", "iam")
LOG_FORMATS = ("text", "json")
# Where the container runs: the variants of its wiring (DESIGN "The hexagon").
RUNTIMES = ("server", "lambda", "cli")
STORE_KINDS = ("sqlite", "dynamodb", "memory")
SQLITE_PREFIX = "sqlite:///"


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# The loopback names the local IdP answers on (and what browsers send for them).
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


def loopback_name(host: str) -> str | None:
    """``host`` as one of ``LOOPBACK_NAMES`` (``0:0:0:0:0:0:0:1`` is ``::1``),
    or None for any other host, 127.0.0.2 included."""
    if host == "localhost":
        return host
    try:
        name = ipaddress.ip_address(host.strip("[]")).compressed
    except ValueError:
        return None
    return name if name in LOOPBACK_NAMES else None


def in_lambda(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("AWS_LAMBDA_FUNCTION_NAME"))


_Number = TypeVar("_Number", int, float)


def _number(
    environ: Mapping[str, str],
    name: str,
    kind: type[_Number],
    default: _Number,
    low: _Number,
    high: _Number,
) -> _Number:
    raw = environ.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise NotConfigured(f"{PREFIX}{name} must be {what}") from None
    if not low <= value <= high:
        raise NotConfigured(f"{PREFIX}{name} must be between {low} and {high}")
    return value


def _choice(
    environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]
) -> str:
    value = (environ.get(PREFIX + name) or default).strip().lower()
    if value not in choices:
        raise NotConfigured(f"{PREFIX}{name} must be one of {', '.join(choices)}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise NotConfigured(f"{PREFIX}{name} must be true or false")


def _text(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value and value.strip() else None


def _stripped(environ: Mapping[str, str], name: str) -> str | None:
    value = _text(environ, name)
    return None if value is None else value.strip()


@attrs.frozen
class Settings:
    """Validated settings, read once from the environment."""

    env: str = "development"
    data_dir: Path = Path(".wikibot-auth")
    issuer: str = "wikibot.io"
    audience: str = "wikibot.io"
    token_ttl: int = 86400
    max_token_ttl: int = 86400
    leeway: int = 30
    private_key: str | None = attrs.field(default=None, repr=False)
    private_key_file: str | None = None
    # Sign with this AWS KMS key (id, ARN or alias/...) instead of a PEM.
    kms_key_id: str | None = None
    public_keys_file: str | None = None
    user_store: str = "sqlite:///.wikibot-auth/users.db"
    # The provider names of WIKIBOT_AUTH_IDP, comma-separated, the first the
    # default ("none": no provider); ``identity_providers`` holds their settings.
    idp: str = "none"
    identity_providers: tuple[ProviderSettings, ...] = attrs.field(
        default=attrs.Factory(lambda self: plain_providers(self.idp), takes_self=True)
    )
    redirect_uri: str | None = None
    idp_timeout: float = 5.0
    user_cache_ttl: float = 0.0
    cookie_auth: bool = True
    authorizer_cookie_auth: bool = False
    authorizer_response: str = "simple"
    log_format: str = "text"
    workos_api_key: str | None = attrs.field(default=None, repr=False)
    workos_client_id: str | None = None
    workos_base_url: str = "https://api.workos.com"
    runtime: str = attrs.field(
        default="server", validator=attrs.validators.in_(RUNTIMES)
    )
    # The CLI's --key: one PEM (private: signs and verifies) or public keys.
    key_file: str | None = None
    # The Lambda authorizer: public keys only, never a signing key (the public
    # keys file when given, else the configured key's public half).
    verify_only: bool = False

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> Settings:
        """Read the environment; ``overrides`` (e.g. from CLI flags) win over it."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get(PREFIX + "DATA_DIR") or ".wikibot-auth")
        api_key = _text(env, "WORKOS_API_KEY")
        idp_default = "workos" if api_key else "none"
        values: dict[str, Any] = {
            "env": _choice(env, "ENV", "development", ENVIRONMENTS),
            "data_dir": data_dir,
            "issuer": env.get(PREFIX + "ISSUER") or "wikibot.io",
            "audience": env.get(PREFIX + "AUDIENCE") or "wikibot.io",
            "token_ttl": _number(env, "TOKEN_TTL", int, 86400, 1, 31_536_000),
            "max_token_ttl": _number(env, "MAX_TOKEN_TTL", int, 86400, 1, 31_536_000),
            "leeway": _number(env, "LEEWAY", int, 30, 1, 300),
            "private_key": _text(env, PREFIX + "PRIVATE_KEY"),
            "private_key_file": _text(env, PREFIX + "PRIVATE_KEY_FILE"),
            "kms_key_id": _stripped(env, PREFIX + "KMS_KEY_ID"),
            "public_keys_file": _text(env, PREFIX + "PUBLIC_KEYS_FILE"),
            "user_store": env.get(PREFIX + "USER_STORE")
            or f"sqlite:///{(data_dir / 'users.db').as_posix()}",
            "idp": _stripped(env, IDP_VARIABLE) or idp_default,
            "redirect_uri": _text(env, PREFIX + "REDIRECT_URI"),
            "idp_timeout": _number(env, "IDP_TIMEOUT", float, 5.0, 0.1, 60.0),
            "user_cache_ttl": _number(env, "USER_CACHE_TTL", float, 0.0, 0.0, 3600.0),
            "cookie_auth": _bool(env, "COOKIE_AUTH", True),
            "authorizer_cookie_auth": _bool(env, "AUTHORIZER_COOKIE_AUTH", False),
            "authorizer_response": _choice(
                env, "AUTHORIZER_RESPONSE", "simple", AUTHORIZER_RESPONSES
            ),
            "log_format": _choice(env, "LOG_FORMAT", "text", LOG_FORMATS),
            "workos_api_key": api_key,
            "workos_client_id": _text(env, "WORKOS_CLIENT_ID"),
            "workos_base_url": (
                env.get("WORKOS_BASE_URL") or "https://api.workos.com"
            ).rstrip("/"),
            "runtime": "lambda" if in_lambda(env) else "server",
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        names = parse_idp_names(values["idp"])
        values["idp"] = ",".join(names) or "none"
        if "identity_providers" not in overrides:
            values["identity_providers"] = providers_from_env(env, names)
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def for_serve(
        cls, host: str, port: int, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """The settings of ``wikibot-auth serve --host H --port P``: in
        development on a loopback host, the local IdP when no IdP is
        configured (nor ``WORKOS_API_KEY``) and a redirect URI on that host.

        Raises:
            NotConfigured: the local IdP on a non-loopback host, or a bad setting.
        """
        env = os.environ if environ is None else environ
        development = _choice(env, "ENV", "development", ENVIRONMENTS) != "production"
        name = loopback_name(host)  # what a browser will send as the Host
        loopback = name is not None
        overrides: dict[str, Any] = {}
        if development and name and not _text(env, PREFIX + "REDIRECT_URI"):
            netloc = f"[{name}]" if ":" in name else name
            overrides["redirect_uri"] = f"http://{netloc}:{port}/auth/callback"
        if (
            development
            and loopback
            and not _text(env, PREFIX + "IDP")
            and not _text(env, "WORKOS_API_KEY")
        ):
            overrides["idp"] = "local"
        settings = cls.from_env(env, **overrides)
        if "local" in settings.idp_names and not loopback:
            raise NotConfigured(
                "the local IdP signs anyone in as anyone: it is refused on a "
                f"non-loopback host; serve it on {', '.join(LOOPBACK_NAMES)} "
                f"({PREFIX}IDP=local with --host {host})"
            )
        return settings

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def idp_names(self) -> tuple[str, ...]:
        """The configured provider names, the default first."""
        return tuple(p.name for p in self.identity_providers)

    @property
    def lambda_process(self) -> bool:
        return self.runtime == "lambda"

    @property
    def may_generate_key(self) -> bool:
        """Keys are generated only in development, never in a Lambda process,
        for the CLI's ``--key``, with a KMS key or for a verifier."""
        return not (
            self.production
            or self.lambda_process
            or self.key_file
            or self.kms_key_id
            or self.verify_only
        )

    @property
    def redirect_uri_required(self) -> bool:
        """In production and with a remote IdP, the redirect URI is never
        derived from a request (whose Host an attacker chooses)."""
        return self.production or any(n != "local" for n in self.idp_names)

    @property
    def store_kind(self) -> str:
        return urlsplit(self.user_store).scheme

    @property
    def store_location(self) -> str:
        """The table name (dynamodb://TABLE) or file path (sqlite:///PATH)."""
        parts = urlsplit(self.user_store)
        if parts.scheme == "dynamodb":
            return parts.netloc or parts.path.lstrip("/")
        if parts.scheme == "sqlite":
            # sqlite:///relative/users.db, sqlite:////absolute/users.db: the
            # literal rest of the URL ("#" and "?" are path characters here).
            if self.user_store[: len(SQLITE_PREFIX)].lower() != SQLITE_PREFIX:
                return ""
            return self.user_store[len(SQLITE_PREFIX) :]
        return parts.path

    def check(self) -> None:
        if self.idp_names != parse_idp_names(self.idp):
            raise NotConfigured(
                f"{IDP_VARIABLE} names a provider whose settings are missing"
            )
        if not 1 <= self.leeway <= 300:
            raise NotConfigured(f"{PREFIX}LEEWAY must be between 1 and 300")
        if self.token_ttl <= 0:
            raise NotConfigured(f"{PREFIX}TOKEN_TTL must be positive")
        if self.token_ttl > self.max_token_ttl:
            raise NotConfigured(
                f"{PREFIX}TOKEN_TTL must not exceed {PREFIX}MAX_TOKEN_TTL"
            )
        if self.private_key and self.private_key_file:
            raise NotConfigured(
                f"set {PREFIX}PRIVATE_KEY or {PREFIX}PRIVATE_KEY_FILE, not both"
            )
        if self.kms_key_id and (self.private_key or self.private_key_file):
            raise NotConfigured(
                f"{PREFIX}KMS_KEY_ID signs instead of a private key: unset "
                f"{PREFIX}PRIVATE_KEY and {PREFIX}PRIVATE_KEY_FILE, not both"
            )
        if self.store_kind not in STORE_KINDS:
            raise NotConfigured(
                f"{PREFIX}USER_STORE must be sqlite:///PATH, dynamodb://TABLE or memory://"
            )
        if self.store_kind == "sqlite" and not self.store_location:
            raise NotConfigured(
                f"{PREFIX}USER_STORE must be sqlite:///relative/path or "
                "sqlite:////absolute/path (no host)"
            )
        if self.store_kind == "dynamodb" and not self.store_location:
            raise NotConfigured(f"{PREFIX}USER_STORE needs a table: dynamodb://TABLE")
        if not self.issuer or not self.audience:
            raise NotConfigured(
                f"{PREFIX}ISSUER and {PREFIX}AUDIENCE must not be empty"
            )
        if self.redirect_uri is not None:
            parts = urlsplit(self.redirect_uri)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise NotConfigured(
                    f"{PREFIX}REDIRECT_URI must be an absolute http(s) URL"
                )
            if parts.scheme == "http" and (
                self.production or not is_loopback_host(parts.hostname)
            ):
                raise NotConfigured(
                    f"{PREFIX}REDIRECT_URI must be https (plain http only on a "
                    "loopback host in development)"
                )
        if self.production:
            verify_only = (
                self.lambda_process or self.verify_only
            ) and self.public_keys_file
            if not (
                self.private_key
                or self.private_key_file
                or self.kms_key_id
                or verify_only
            ):
                raise NotConfigured(
                    f"production needs {PREFIX}KMS_KEY_ID, {PREFIX}PRIVATE_KEY or "
                    f"{PREFIX}PRIVATE_KEY_FILE"
                )
            if "local" in self.idp_names:
                raise NotConfigured("the local IdP is refused in production")
        if "local" in self.idp_names and self.lambda_process:
            # Behind API Gateway the Host a request names is the client's to
            # choose: nothing can tell a loopback request there.
            raise NotConfigured("the local IdP is refused in a Lambda process")

    def to_config(self) -> dict[str, Any]:
        values = attrs.asdict(self, recurse=False)
        values["data_dir"] = str(self.data_dir)
        values["store_kind"] = self.store_kind
        values["store_location"] = self.store_location
        values["may_generate_key"] = self.may_generate_key
        values["redirect_uri_required"] = self.redirect_uri_required
        return values
