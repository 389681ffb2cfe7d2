"""The one credentials rule shared by the ASGI middleware and the authorizer."""

from __future__ import annotations

from typing import Any

import pytest

from wikibot_auth.domain.errors import CsrfRejected, InvalidRequest
from wikibot_auth.entrypoints.credentials import (
    Credentials,
    collect_headers,
    read_credentials,
)

SITE = "https://app.example"


def read(*pairs: tuple[str, str], **options: Any) -> Credentials | None:
    settings: dict[str, Any] = {
        "method": "GET",
        "cookie_auth": True,
        "allowed_origins": {SITE},
        "token_cookie": "wikibot_auth_token",
        **options,
    }
    return read_credentials(collect_headers(pairs), **settings)


def test_the_authorization_header_wins_over_the_cookie():
    found = read(("Authorization", "Bearer h"), ("Cookie", "wikibot_auth_token=c"))
    assert found == Credentials(header="Bearer h")


def test_several_authorization_headers_are_invalid_in_any_casing():
    with pytest.raises(InvalidRequest):
        read(("authorization", "Bearer a"), ("AUTHORIZATION", "Bearer b"))


def test_the_cookie_counts_only_with_cookie_auth():
    assert read(("cookie", "a=1; wikibot_auth_token=c")) == Credentials(
        cookie_token="c"
    )
    assert read(("cookie", "wikibot_auth_token=c"), cookie_auth=False) is None
    assert read(("cookie", "other=1")) is None
    assert read() is None


def test_a_separate_cookie_header_replaces_the_cookie_headers():
    found = read(
        ("cookie", "wikibot_auth_token=h"), cookie_header="wikibot_auth_token=v"
    )
    assert found == Credentials(cookie_token="v")


@pytest.mark.parametrize("method", ["POST", "post", "DELETE", None])
@pytest.mark.parametrize(
    "origins",
    [[], ["https://evil.example"], [SITE, SITE], ["http://app.example"]],
)
def test_an_unsafe_cookie_request_needs_exactly_one_allowed_origin(method, origins):
    pairs = [("cookie", "wikibot_auth_token=c"), *(("origin", o) for o in origins)]
    with pytest.raises(CsrfRejected):
        read(*pairs, method=method)


@pytest.mark.parametrize("method", ["POST", None])
def test_an_unsafe_cookie_request_from_the_allowed_origin_passes(method):
    found = read(("cookie", "wikibot_auth_token=c"), ("Origin", SITE), method=method)
    assert found == Credentials(cookie_token="c")


def test_no_allowed_origin_refuses_every_unsafe_cookie_request():
    with pytest.raises(CsrfRejected):
        read(
            ("cookie", "wikibot_auth_token=c"),
            ("origin", SITE),
            method="POST",
            allowed_origins=set(),
        )


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "get"])
def test_safe_methods_need_no_origin(method):
    assert read(("cookie", "wikibot_auth_token=c"), method=method) == Credentials(
        cookie_token="c"
    )


def test_credentials_never_show_in_repr():
    text = repr(Credentials(header="Bearer secret-h", cookie_token="secret-c"))
    assert "secret" not in text
