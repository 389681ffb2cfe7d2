from __future__ import annotations

import logging

import pytest

from tests.conftest import GOOGLE, workos_profile
from tests.factories import raw_identity
from tests.threads import run_together
from wikibot_auth.adapters.memory import ScriptedIdentityProvider
from wikibot_auth.domain.errors import (
    IdPUnavailable,
    InvalidCallback,
    LoginFailed,
    NotConfigured,
    UserDisabled,
)
from wikibot_auth.domain.model import Identity, IdentityProfile, User
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier
from wikibot_auth.domain.use_cases import ExchangeAuthCode


def test_first_login_creates_a_user_with_the_raw_identity(login, repo):
    result = login(workos_profile())
    assert result.created
    record = result.user.record
    assert raw_identity(record) == ("google", "1234567890")
    assert record.workos_user_id == "user_01ABC"
    assert repo.find_by_identity(Identity("google", "1234567890")) == record
    assert repo.find_by_identity(Identity.workos("user_01ABC")) == record


def test_login_result_carries_a_token_and_its_lifetime(login, signer):
    result = login(workos_profile())
    assert result.expires_in == 86400
    assert signer.validate_token(result.token).sub == result.user.user_id


def test_existing_user_logs_in_as_the_same_user(login, repo):
    first = login(workos_profile())
    second = login(workos_profile())
    assert not second.created
    assert second.user.user_id == first.user.user_id
    assert repo.user_count() == 1


def test_changed_profile_updates_only_the_changed_attributes(login, repo):
    first = login(workos_profile())
    repo.put_raw_item({**repo.raw_item(first.user.user_id), "tier": "pro", "x": "kept"})
    second = login(workos_profile(first_name="Augusta"))
    item = repo.raw_item(first.user.user_id)
    assert second.user.display_name == "Augusta Lovelace"
    assert (item["display_name"], item["tier"], item["x"]) == (
        "Augusta Lovelace",
        "pro",
        "kept",
    )
    assert item["email"] == "ada@example.com"


def test_unchanged_profile_writes_nothing(login, repo):
    login(workos_profile())
    writes = list(repo.writes)
    login(workos_profile())
    assert list(repo.writes) == writes


def test_user_without_oauth_identity_gets_the_workos_alias(login):
    record = login(workos_profile(identity=None)).user.record
    assert raw_identity(record) == ("workos", "user_01ABC")


def test_failed_identity_lookup_resolves_the_same_user_with_a_warning(login, caplog):
    first = login(workos_profile())
    with caplog.at_level(logging.WARNING, logger="wikibot_auth"):
        again = login(workos_profile(identity_lookup_failed=True))
    assert again.user.user_id == first.user.user_id
    assert not again.created
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_a_raw_identity_is_ignored_when_the_lookup_is_reported_failed(login, repo):
    profile = IdentityProfile(
        alias=Identity.workos("user_01ABC"),
        email="ada@example.com",
        identity=Identity("google", "1234567890"),
        identity_lookup_failed=True,
    )
    record = login(profile).user.record
    assert raw_identity(record) == ("workos", "user_01ABC")
    assert repo.find_by_identity(Identity("google", "1234567890")) is None


def test_failed_identity_lookup_on_first_login_records_the_workos_alias(login):
    record = login(workos_profile(identity_lookup_failed=True)).user.record
    assert raw_identity(record) == ("workos", "user_01ABC")


def test_alias_only_user_gains_its_raw_identity_later(login, repo):
    first = login(workos_profile(identity_lookup_failed=True))
    second = login(workos_profile())
    assert second.user.user_id == first.user.user_id
    assert raw_identity(second.user.record) == ("google", "1234567890")
    assert (
        repo.find_by_identity(Identity("google", "1234567890")).user_id
        == first.user.user_id
    )


def test_idp_failure_creates_nothing(login, repo):
    with pytest.raises(IdPUnavailable):
        login(IdPUnavailable(retry_after=3))
    assert repo.user_count() == 0


def test_rejected_code_is_login_failed(exchange):
    with pytest.raises(LoginFailed):
        exchange("never-issued", new_code_verifier())


def test_wrong_verifier_is_login_failed(idp, exchange, repo):
    idp.script(
        "c1", workos_profile(), code_challenge=code_challenge_s256(new_code_verifier())
    )
    with pytest.raises(LoginFailed):
        exchange("c1", new_code_verifier())
    assert repo.user_count() == 0


@pytest.mark.parametrize("verifier", ["", "short", "a" * 129, "a" * 42 + " ", None])
def test_malformed_verifier_is_invalid_callback(exchange, idp, verifier):
    with pytest.raises(InvalidCallback):
        exchange("code", verifier)
    assert idp.exchanges == 0


@pytest.mark.parametrize("code", ["", None, "x" * 5000])
def test_malformed_code_is_invalid_callback(exchange, code):
    with pytest.raises(InvalidCallback):
        exchange(code, new_code_verifier())


def test_no_identity_provider_is_not_configured(repo, signer, clock):
    with pytest.raises(NotConfigured):
        ExchangeAuthCode(None, repo, signer, clock)("code", new_code_verifier())


def test_user_found_by_raw_identity_gains_the_alias(login, repo, caplog):
    migrated = User(
        "usr_old", "ada@example.com", "Ada Lovelace", "google", "1234567890"
    )
    repo.create(migrated, [GOOGLE])
    first = login(workos_profile())
    assert first.user.user_id == "usr_old"
    assert first.user.record.workos_user_id == "user_01ABC"
    assert first.user.record.oauth_provider == "google"
    again = login(workos_profile(identity_lookup_failed=True))
    assert (again.user.user_id, again.created) == ("usr_old", False)
    assert repo.user_count() == 1


def test_a_link_whose_user_update_was_lost_is_finished_by_the_next_login(login, repo):
    first = login(workos_profile(identity_lookup_failed=True))
    # The identity item was written but the user update was lost (a crash):
    repo.link_identity(first.user.user_id, Identity("github", "7"))
    item = repo.raw_item(first.user.user_id)
    repo.put_raw_item(
        {**item, "oauth_provider": "workos", "oauth_provider_sub": "user_01ABC"}
    )
    profile = workos_profile(identity=Identity("github", "7"))
    again = login(profile)
    assert again.user.user_id == first.user.user_id
    record = again.user.record
    assert raw_identity(record) == ("github", "7")


def test_alias_held_by_another_user_is_logged_and_the_raw_identity_wins(
    login, repo, caplog
):
    repo.create(User("usr_raw", "a@b.c", "A", "google", "1234567890"), [GOOGLE])
    repo.create(
        User("usr_alias", "a@b.c", "A", "workos", "user_01ABC"),
        [Identity.workos("user_01ABC")],
    )
    with caplog.at_level(logging.ERROR, logger="wikibot_auth"):
        result = login(workos_profile())
    assert result.user.user_id == "usr_raw"
    (conflict,) = [r for r in caplog.records if r.getMessage() == "identity.conflict"]
    assert conflict.levelno == logging.ERROR
    assert (conflict.user_id, conflict.other_user_id, conflict.provider) == (
        "usr_raw",
        "usr_alias",
        "workos",
    )


def test_disabled_user_is_refused_before_any_write(login, repo):
    first = login(workos_profile(identity_lookup_failed=True))
    repo.set_disabled(first.user.user_id, True)
    writes = list(repo.writes)
    with pytest.raises(UserDisabled):
        login(workos_profile(first_name="Changed"))
    assert list(repo.writes) == writes
    assert repo.find_by_identity(GOOGLE) is None


def test_disabled_user_cannot_log_in(login, repo):
    first = login(workos_profile())
    repo.set_disabled(first.user.user_id, True)
    with pytest.raises(UserDisabled):
        login(workos_profile())


def test_login_never_touches_disabled_tier_or_tokens_valid_after(login, repo, sign_out):
    first = login(workos_profile())
    sign_out(first.user.user_id)
    repo.put_raw_item({**repo.raw_item(first.user.user_id), "tier": "team"})
    before = repo.raw_item(first.user.user_id)
    login(workos_profile(email="ada@new.example"))
    after = repo.raw_item(first.user.user_id)
    changed = {"email", "updated_at"}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }


def test_local_identity_is_the_lowercased_email(login):
    profile = IdentityProfile(
        alias=Identity.local(" Ada@Example.com"), email="ada@example.com"
    )
    record = login(profile).user.record
    assert raw_identity(record) == ("local", "ada@example.com")
    assert record.workos_user_id is None


def test_login_logs_no_secret(idp, exchange, caplog):
    verifier = new_code_verifier()
    idp.script(
        "code-secret-1", workos_profile(), code_challenge=code_challenge_s256(verifier)
    )
    with caplog.at_level(logging.DEBUG, logger="wikibot_auth"):
        result = exchange("code-secret-1", verifier)
        with pytest.raises(LoginFailed):
            exchange("code-secret-1", verifier)
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "login.succeeded" in text
    assert "login.failed" in text
    for secret in (*result.token.split("."), "code-secret-1", verifier):
        assert secret not in text


def test_concurrent_first_logins_of_one_identity_make_one_user(repo, signer, clock):
    idp = ScriptedIdentityProvider()
    exchange = ExchangeAuthCode(idp, repo, signer, clock)
    verifier = new_code_verifier()
    for i in range(32):
        idp.script(
            f"c{i}", workos_profile(), code_challenge=code_challenge_s256(verifier)
        )
    results: list[str] = []

    def run(i: int) -> None:
        results.append(exchange(f"c{i}", verifier).user.user_id)

    run_together(32, run)
    assert len(results) == 32
    assert len(set(results)) == 1
    assert repo.user_count() == 1


# -- several providers: the code goes to the one the callback names -----------


def by_name(repo, signer, clock, **idps) -> ExchangeAuthCode:
    default = next(iter(idps.values()))
    return ExchangeAuthCode(default, repo, signer, clock, identity_providers=idps)


def scripted_callback(idp: ScriptedIdentityProvider, profile, provider):
    from wikibot_auth.domain.model import LoginCallback

    verifier = new_code_verifier()
    idp.script("the-code", profile, code_challenge=code_challenge_s256(verifier))
    return LoginCallback("the-code", verifier, provider=provider)


def test_the_code_goes_to_the_provider_the_callback_names(repo, signer, clock):
    workos, google = ScriptedIdentityProvider(), ScriptedIdentityProvider()
    exchange = by_name(repo, signer, clock, workos=workos, google=google)
    direct = IdentityProfile(alias=GOOGLE, email="ada@example.com")
    result = exchange.finish(scripted_callback(google, direct, "google"))
    assert raw_identity(result.user.record) == ("google", "1234567890")
    assert (workos.exchanges, google.exchanges) == (0, 1)


def test_a_callback_naming_no_provider_goes_to_the_default(repo, signer, clock):
    workos, google = ScriptedIdentityProvider(), ScriptedIdentityProvider()
    exchange = by_name(repo, signer, clock, workos=workos, google=google)
    exchange.finish(scripted_callback(workos, workos_profile(), None))
    assert (workos.exchanges, google.exchanges) == (1, 0)


def test_a_provider_that_is_not_configured_is_invalid_callback(repo, signer, clock):
    workos = ScriptedIdentityProvider()
    exchange = by_name(repo, signer, clock, workos=workos)
    with pytest.raises(InvalidCallback):
        exchange.finish(scripted_callback(workos, workos_profile(), "github"))
    assert (workos.exchanges, repo.user_count()) == (0, 0)


def test_a_named_callback_without_providers_is_invalid_callback(repo, signer, clock):
    idp = ScriptedIdentityProvider()
    exchange = ExchangeAuthCode(idp, repo, signer, clock)
    with pytest.raises(InvalidCallback):
        exchange.finish(scripted_callback(idp, workos_profile(), "google"))
    assert idp.exchanges == 0


def test_the_login_log_names_the_provider_it_went_to(repo, signer, clock, caplog):
    google = ScriptedIdentityProvider()
    exchange = by_name(repo, signer, clock, google=google)
    direct = IdentityProfile(alias=GOOGLE, email="ada@example.com")
    with caplog.at_level(logging.INFO, logger="wikibot_auth"):
        exchange.finish(scripted_callback(google, direct, "google"))
        with pytest.raises(InvalidCallback):
            exchange.finish(scripted_callback(google, direct, "okta"))
    events = [(r.getMessage(), r.provider) for r in caplog.records]
    assert events == [("login.succeeded", "google"), ("login.failed", "okta")]
    assert caplog.records[1].code == "invalid_callback"
