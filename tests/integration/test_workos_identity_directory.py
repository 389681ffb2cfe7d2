"""The WorkOS directory adapter (what the backfill asks WorkOS, outside any
login) over real HTTP to the stand-in and over MockTransport; and the choice
of the raw identity among WorkOS's identities, which it shares with the login
adapter (``workos_api.choose_identity``)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.workos_standin import API_KEY, WorkOSStandIn, fixture
from wikibot_auth.adapters.bounded_http import BoundedHttpClient
from wikibot_auth.adapters.workos_api import WorkOSApi, choose_identity
from wikibot_auth.adapters.workos_directory import WorkOSIdentityDirectory
from wikibot_auth.domain.errors import (
    IdPError,
    IdPUnavailable,
    InvalidRequest,
    NotConfigured,
)
from wikibot_auth.domain.model import Identity

OCTOCAT_AT_WORKOS = "user_01H7ZGXFP5C6BBQY6Z7277ZCT0"


@pytest.fixture
def directory(
    standin: WorkOSStandIn, http: BoundedHttpClient
) -> WorkOSIdentityDirectory:
    return WorkOSIdentityDirectory(
        WorkOSApi(http, api_key=API_KEY, base_url=standin.url)
    )


def test_the_raw_identity_of_a_workos_user_is_found(directory, standin):
    standin.identities[OCTOCAT_AT_WORKOS] = "identities_github"
    assert directory.get_provider_sub(OCTOCAT_AT_WORKOS) == Identity("github", "583231")
    (call,) = standin.calls("identities")
    assert call.headers["Authorization"] == f"Bearer {API_KEY}"
    assert call.raw_path == f"/user_management/users/{OCTOCAT_AT_WORKOS}/identities"


def test_a_user_without_identities_has_none(directory, standin):
    standin.identities[OCTOCAT_AT_WORKOS] = "identities_empty"
    assert directory.get_provider_sub(OCTOCAT_AT_WORKOS) is None


def test_an_unknown_user_is_an_idp_error(directory):
    with pytest.raises(IdPError):
        directory.get_provider_sub("user_unknown")


def test_the_api_needs_a_key_that_travels_over_https_only(http):
    with pytest.raises(NotConfigured, match="WORKOS_API_KEY"):
        WorkOSApi(http, api_key="")
    with pytest.raises(NotConfigured, match="WORKOS_BASE_URL"):
        WorkOSApi(http, api_key=API_KEY, base_url="http://workos.com")
    directory = WorkOSIdentityDirectory(WorkOSApi(http, api_key=API_KEY))
    assert repr(directory) == (
        "WorkOSIdentityDirectory(base_url='https://api.workos.com')"
    )


# -- reads are retried within the budget ---------------------------------------


def test_retry_after_within_the_cap_is_honoured(mock_directory):
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "1"}, json={"code": "x"}),
            httpx.Response(200, json=[]),
        ]
    )
    sleeps: list[float] = []
    directory = mock_directory(lambda request: next(answers), sleep=sleeps.append)
    assert directory.get_provider_sub("user_01") is None
    assert sleeps == [1.0]


def test_reads_give_up_after_the_retries(mock_directory):
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(IdPUnavailable):
        mock_directory(answer, max_retries=2).get_provider_sub("user_01")
    assert len(calls) == 3


def test_a_rate_limit_keeps_its_retry_after(mock_directory):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "7"}, json={})

    with pytest.raises(IdPUnavailable) as caught:
        mock_directory(answer).get_provider_sub("user_01")
    assert caught.value.retry_after == 7


@pytest.mark.parametrize(
    "user_id", ["../../sso/jwks", "a/b", "..", "x?y#z", "user_\ud800", "u" * 65, ""]
)
def test_user_ids_that_are_not_workos_ids_are_refused_unsent(mock_directory, user_id):
    paths: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json=[])

    with pytest.raises(InvalidRequest):
        mock_directory(answer).get_provider_sub(user_id)
    assert paths == []


# -- the choice of the raw identity --------------------------------------------

SEVERAL = fixture("identities_several")["body"]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_the_choice_among_several_identities_ignores_their_order(order):
    assert choose_identity([SEVERAL[i] for i in order]) == Identity("github", "583231")


def test_oauth_type_wins_over_other_types_then_smallest_pair():
    data = [
        {"idp_id": "a", "type": "Other", "provider": "AppleOAuth"},
        {"idp_id": "2", "type": "OAuth", "provider": "GoogleOAuth"},
        {"idp_id": "1", "type": "OAuth", "provider": "GoogleOAuth"},
    ]
    assert choose_identity(data) == Identity("google", "1")


@pytest.mark.parametrize("provider", ["WorkOSOAuth", "workos", "LocalOAuth", "local"])
def test_identities_in_our_own_namespaces_are_ignored(provider):
    victim = {"idp_id": "user_VICTIM", "type": "OAuth", "provider": provider}
    assert choose_identity([victim]) is None
    google = {"idp_id": "1", "type": "OAuth", "provider": "GoogleOAuth"}
    assert choose_identity([victim, google]) == Identity("google", "1")


@pytest.mark.parametrize(
    "data",
    [
        {"data": []},
        [{"type": "OAuth", "provider": "GoogleOAuth"}],
        [{"idp_id": "1", "type": "OAuth"}],
        [{"idp_id": 1, "type": "OAuth", "provider": "GoogleOAuth"}],
        ["GoogleOAuth"],
        None,
        [{"idp_id": "\ud800", "type": "OAuth", "provider": "GoogleOAuth"}],
        [{"idp_id": " 1 ", "type": "OAuth", "provider": "GoogleOAuth"}],
        [{"idp_id": "1", "type": "OAuth", "provider": "Google#OAuth"}],
        [{"idp_id": "1", "type": "OAuth", "provider": ["GoogleOAuth"]}],
        [{"idp_id": "1" * 256, "type": "OAuth", "provider": "GoogleOAuth"}],
    ],
)
def test_wrong_shaped_identities_are_an_idp_error(data):
    with pytest.raises(IdPError):
        choose_identity(data)
