from __future__ import annotations

import pytest
from hypothesis import given

from tests.strategies import header_values
from wikibot_auth.domain.bearer import MAX_HEADER_BYTES, parse_authorization_header
from wikibot_auth.domain.errors import AuthError, InvalidRequest, MissingToken


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("BeArEr    abc", "abc"),
        ("  Bearer abc  ", "abc"),
        ("Bearer a-b_c~d+e/f.g==", "a-b_c~d+e/f.g=="),
    ],
)
def test_bearer_token_is_parsed(header: str, token: str) -> None:
    assert parse_authorization_header(header) == token


@pytest.mark.parametrize(
    "header", [None, "", "   ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer=abc"]
)
def test_absent_or_other_scheme_is_missing_token(header: str | None) -> None:
    with pytest.raises(MissingToken):
        parse_authorization_header(header)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer a=b",
        "Bearer\tabc",
        "Bearer abc!",
        "Bearer abc, Bearer def",
        "Basic dXNlcg==, Bearer abc",
        "Bearer ä",
        "Bearer \ud800",
        "Bearer abc\udfff",
        "Bearer " + "a" * MAX_HEADER_BYTES,
    ],
)
def test_malformed_bearer_is_invalid_request(header: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_authorization_header(header)


def test_length_is_counted_in_bytes() -> None:
    with pytest.raises(InvalidRequest):
        parse_authorization_header("Bearer " + "é" * (MAX_HEADER_BYTES // 2))


@given(header_values)
def test_any_header_parses_or_raises_an_auth_error(header: str) -> None:
    try:
        token = parse_authorization_header(header)
    except AuthError:
        return
    assert token
    assert token in header
