"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from wikibot_auth.domain.model import Identity, IdentityProfile

user_ids = st.text(min_size=1, max_size=64).filter(lambda s: "\x00" not in s)
providers = st.sampled_from(["google", "github", "microsoft", "apple", "local"])
subjects = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40
)
identities = st.builds(Identity, providers, subjects)
names = st.one_of(st.none(), st.text(max_size=30))
emails = st.emails()
profiles = st.builds(
    IdentityProfile,
    alias=st.builds(
        Identity.workos, st.from_regex(r"user_[0-9A-Z]{10}", fullmatch=True)
    ),
    email=emails,
    first_name=names,
    last_name=names,
    identity=st.one_of(st.none(), identities),
)
any_characters = st.characters(codec=None, categories=None)
header_values = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=any_characters, max_size=50),
    st.builds(lambda s: "Bearer " + s, st.text(alphabet=any_characters, max_size=50)),
    st.builds(lambda s: "Bearer " + s, st.text(max_size=200)),
    st.builds(
        lambda s: "bearer  " + s,
        st.from_regex(r"[A-Za-z0-9\-._~+/]{1,80}=*", fullmatch=True),
    ),
)
