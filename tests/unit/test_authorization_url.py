"""Where a login sends the browser: the default provider, or the one named."""

from __future__ import annotations

import pytest

from wikibot_auth.adapters.memory import ScriptedIdentityProvider
from wikibot_auth.domain.errors import InvalidRequest, NotConfigured
from wikibot_auth.domain.model import AuthorizationRequest
from wikibot_auth.domain.use_cases import AuthorizationUrl


def request(provider: str | None = None) -> AuthorizationRequest:
    return AuthorizationRequest("st", "ch", provider=provider)


def test_without_a_name_the_default_provider_is_asked():
    workos = ScriptedIdentityProvider("https://workos.invalid/authorize")
    google = ScriptedIdentityProvider("https://google.invalid/authorize")
    use_case = AuthorizationUrl(workos, {"workos": workos, "google": google})
    assert use_case(request()).startswith("https://workos.invalid/authorize?")


def test_the_named_provider_is_asked():
    workos = ScriptedIdentityProvider("https://workos.invalid/authorize")
    google = ScriptedIdentityProvider("https://google.invalid/authorize")
    use_case = AuthorizationUrl(workos, {"workos": workos, "google": google})
    assert use_case(request("google")).startswith("https://google.invalid/authorize?")


def test_an_unknown_name_is_invalid_request():
    workos = ScriptedIdentityProvider()
    with pytest.raises(InvalidRequest):
        AuthorizationUrl(workos, {"workos": workos})(request("okta"))


def test_no_provider_is_not_configured():
    with pytest.raises(NotConfigured):
        AuthorizationUrl(None)(request())
