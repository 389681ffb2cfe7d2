from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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


# The grammar as one regular expression: what the parser did before it was
# made faster; it must answer exactly the same.
_SPACE = re.compile(r"[ \t]")
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


def _by_regex(value: str | None) -> str:
    if value is None:
        raise MissingToken()
    if len(value) > MAX_HEADER_BYTES or not value.isascii() or "," in value:
        raise InvalidRequest()
    stripped = value.strip(" ")
    if not stripped:
        raise MissingToken()
    if _SPACE.split(stripped, maxsplit=1)[0].lower() != "bearer":
        raise MissingToken()
    match = _BEARER.fullmatch(stripped)
    if match is None:
        raise InvalidRequest()
    return match.group(1)


def _outcome(parse, value: str | None) -> str:
    try:
        return "token " + parse(value)
    except AuthError as exc:
        return exc.code


near_bearer = st.builds(
    "".join,
    st.lists(
        st.sampled_from(
            [
                *(" ", "\t", "=", ",", "bearer", "Bearer", "BEARER", "bearerx"),
                *("a", "Z", "9", "-", ".", "_", "~", "+", "/", "!", "é", "\x00"),
                "abc.def",
            ]
        ),
        max_size=8,
    ),
)


@given(st.one_of(header_values, near_bearer))
@example("Bearer\t abc")
@example("Bearer  =")
@example("bearer")
@example(" Bearer abc== ")
@example("Bearer abc=\t")
def test_the_parser_answers_as_the_rfc_grammar_does(header: str) -> None:
    assert _outcome(parse_authorization_header, header) == _outcome(_by_regex, header)
