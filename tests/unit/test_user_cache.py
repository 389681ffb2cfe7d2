"""The user cache (WIKIBOT_AUTH_USER_CACHE_TTL > 0) and revocation through both caches."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import workos_profile
from tests.threads import run_together
from wikibot_auth.adapters.memory import FixedClock, InMemoryUserRepository
from wikibot_auth.adapters.user_cache import (
    CachingUserRepository,
    answer_memory_of,
    cached_users_of,
    with_user_cache,
)
from wikibot_auth.domain.errors import TokenRevoked, UserDisabled
from wikibot_auth.domain.model import Identity, User
from wikibot_auth.domain.pkce import code_challenge_s256, new_code_verifier
from wikibot_auth.domain.use_cases import (
    Authenticate,
    ExchangeAuthCode,
    SetUserDisabled,
    SignOutEverywhere,
)

TTL = 5.0


def new_user(user_id: str = "usr_1") -> User:
    return User(user_id, "ada@example.com", "Ada", "workos", "user_01")


@pytest.fixture
def cached_repo(repo, clock):
    return CachingUserRepository(repo, clock, TTL)


@pytest.fixture(params=[0.0, TTL], ids=["user-cache-off", "user-cache-5s"])
def stack(request, idp, repo, signer, clock):
    """Authenticate and the operator's use cases over every cache, as wired."""
    users = with_user_cache(repo, clock, request.param)
    tokens = signer
    cached = cached_users_of(users)
    return (
        Authenticate(tokens, users, cached, answer_memory_of(cached), clock),
        ExchangeAuthCode(idp, users, tokens, clock),
        SignOutEverywhere(users, clock),
        SetUserDisabled(users, clock),
    )


def login_through(stack, idp, code="c1"):
    verifier = new_code_verifier()
    idp.script(code, workos_profile(), code_challenge=code_challenge_s256(verifier))
    return stack[1](code, verifier)


def test_sign_out_everywhere_rejects_a_cached_token_on_the_next_request(stack, idp):
    authenticate, _, sign_out, _ = stack
    result = login_through(stack, idp)
    header = f"Bearer {result.token}"
    assert authenticate(header).user_id == result.user.user_id
    assert authenticate(header).user_id == result.user.user_id  # both caches warm
    sign_out(result.user.user_id)
    with pytest.raises(TokenRevoked):
        authenticate(header)


def test_disabling_rejects_a_cached_token_on_the_next_request(stack, idp):
    authenticate, _, _, set_disabled = stack
    result = login_through(stack, idp)
    header = f"Bearer {result.token}"
    authenticate(header)
    authenticate(header)
    set_disabled(result.user.user_id, True)
    with pytest.raises(UserDisabled):
        authenticate(header)
    with pytest.raises(UserDisabled):
        asyncio.run(authenticate.acall(header))


def test_a_revocation_by_another_process_is_seen_within_the_ttl(
    repo, signer, clock, login
):
    result = login(workos_profile())
    users = CachingUserRepository(repo, clock, TTL)
    authenticate = Authenticate(signer, users, users, answer_memory_of(users), clock)
    header = f"Bearer {result.token}"
    authenticate(header)
    SignOutEverywhere(repo, clock)(result.user.user_id)  # straight to the store
    clock.advance(TTL - 1)
    assert authenticate(header).user_id == result.user.user_id  # the TTL's trade
    clock.advance(1)
    with pytest.raises(TokenRevoked):
        authenticate(header)


def test_a_cached_record_is_answered_without_the_store(cached_repo, repo, clock):
    repo.create(new_user(), [Identity.workos("user_01")])
    assert cached_repo.peek("usr_1") is None  # a miss, not an absence
    cached_repo.get("usr_1")
    repo.put_raw_item({**repo.raw_item("usr_1"), "email": "new@example.com"})
    assert cached_repo.get("usr_1").email == "ada@example.com"
    assert cached_repo.peek("usr_1").email == "ada@example.com"
    clock.advance(TTL)
    assert cached_repo.peek("usr_1") is None
    assert cached_repo.get("usr_1").email == "new@example.com"


def test_a_clock_that_went_back_does_not_extend_an_entry(cached_repo, repo, clock):
    repo.create(new_user(), [Identity.workos("user_01")])
    cached_repo.get("usr_1")
    repo.put_raw_item({**repo.raw_item("usr_1"), "tier": "pro"})
    clock.advance(-1)
    assert cached_repo.get("usr_1").tier == "pro"


def test_absent_users_are_not_remembered(cached_repo, repo):
    assert cached_repo.get("usr_1") is None
    repo.create(new_user(), [Identity.workos("user_01")])
    assert cached_repo.get("usr_1") == new_user()


@pytest.mark.parametrize(
    "write",
    [
        lambda r: r.update_profile("usr_1", {"email": "b@example.com"}),
        lambda r: r.link_identity("usr_1", Identity("google", "42")),
        lambda r: r.revoke_tokens("usr_1", 10),
        lambda r: r.set_disabled("usr_1", True),
    ],
    ids=["update_profile", "link_identity", "revoke_tokens", "set_disabled"],
)
def test_every_write_through_the_cache_is_seen_at_once(cached_repo, write):
    cached_repo.create(new_user(), [Identity.workos("user_01")])
    before = cached_repo.get("usr_1")
    after = write(cached_repo)
    assert after != before
    assert cached_repo.get("usr_1") == after
    assert cached_repo.peek("usr_1") == after


@pytest.mark.parametrize(
    ("write", "touched"),
    [
        (lambda r: r.unlink_identity("usr_1", Identity("google", "g")), ["usr_1"]),
        (
            lambda r: r.move_identity(Identity.workos("user_01"), "usr_1", "usr_2"),
            ["usr_1", "usr_2"],
        ),
        (lambda r: r.mark_merged("usr_1", "usr_2"), ["usr_1"]),
    ],
    ids=["unlink_identity", "move_identity", "mark_merged"],
)
def test_the_operators_writes_through_the_cache_forget_the_records(
    cached_repo, repo, write, touched
):
    cached_repo.create(
        new_user(), [Identity.workos("user_01"), Identity("google", "g")]
    )
    cached_repo.create(new_user("usr_2"), [Identity.workos("user_02")])
    for user_id in ("usr_1", "usr_2"):
        cached_repo.get(user_id)
    write(cached_repo)
    for user_id in touched:
        assert cached_repo.peek(user_id) is None
        assert cached_repo.get(user_id) == repo.get(user_id)


def test_ttl_zero_is_the_store_itself(repo, clock):
    assert with_user_cache(repo, clock, 0) is repo
    assert cached_users_of(repo) is None
    cached = with_user_cache(repo, clock, 0.5)
    assert isinstance(cached, CachingUserRepository)
    assert cached_users_of(cached) is cached


class PausingRepository(InMemoryUserRepository):
    """Reads pause after reading, so a write can land in between."""

    def __init__(self) -> None:
        super().__init__()
        self.read_done = threading.Event()
        self.resume = threading.Event()

    def get(self, user_id: str) -> User | None:
        user = super().get(user_id)
        if not self.resume.is_set():
            self.read_done.set()
            self.resume.wait(5)
        return user


def test_a_read_that_overlapped_a_write_is_not_kept(clock):
    store = PausingRepository()
    store.resume.set()
    store.create(new_user(), [Identity.workos("user_01")])
    store.resume.clear()
    cached = CachingUserRepository(store, clock, TTL)
    reader = threading.Thread(target=cached.get, args=("usr_1",))
    reader.start()
    assert store.read_done.wait(5)
    store.resume.set()  # let the disable below read without pausing
    cached.set_disabled("usr_1", True)
    reader.join()
    assert cached.get("usr_1").disabled is True


@given(st.lists(st.integers(0, 40), max_size=120), st.integers(1, 10))
def test_the_user_cache_never_exceeds_its_bound(stream, bound):
    store = InMemoryUserRepository()
    for i in range(41):
        store.create(new_user(f"usr_{i}"), [Identity.workos(f"user_{i}")])
    cached = CachingUserRepository(store, FixedClock(), TTL, max_entries=bound)
    for i in stream:
        assert cached.get(f"usr_{i}").user_id == f"usr_{i}"
        assert len(cached) <= bound


def test_sixteen_threads_keep_the_user_cache_consistent(clock):
    store = InMemoryUserRepository()
    for i in range(4):
        store.create(new_user(f"usr_{i}"), [Identity.workos(f"user_{i}")])
    cached = CachingUserRepository(store, clock, TTL, max_entries=3)
    errors: list[str] = []

    def work(n: int) -> None:
        for step in range(200):
            user_id = f"usr_{(n + step) % 4}"
            if n % 4 == 0:
                cached.revoke_tokens(user_id, n * 1000 + step)
            elif cached.get(user_id).user_id != user_id:
                errors.append("wrong user")

    run_together(16, work)
    assert errors == []
    assert len(cached) <= 3
    for i in range(4):
        assert cached.get(f"usr_{i}") == store.get(f"usr_{i}")
