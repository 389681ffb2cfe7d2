"""A real browser (headless Chromium from Debian, driven by Playwright) logs in
through the local sign-in page of ``wikibot-auth serve`` and sees ``/me``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.server import clean_environ, running_server
from tests.missing import required

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (make test installs the Debian package)"
        required(message)
    return CHROMIUM


@contextlib.contextmanager
def browser_page(chromium: Path) -> Iterator[Page]:
    """A page of headless Chromium, driven by Playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), headless=True, args=FLAGS
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_a_browser_logs_in_and_sees_me(chromium, tmp_path):
    environ = clean_environ(
        WIKIBOT_AUTH_DATA_DIR=str(tmp_path / "data"),
        WIKIBOT_AUTH_USER_STORE="memory://",
    )
    with running_server(tmp_path, environ) as (base, output):
        with browser_page(chromium) as page:
            page.goto(f"{base}/auth/login?return_to=/me")
            assert "Sign in" in page.title()
            page.fill("input[name=email]", "browser@example.com")
            page.fill("input[name=display_name]", "Brow Ser")
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/me")
            me = json.loads(page.inner_text("body"))
            cookies = {c["name"]: c for c in page.context.cookies()}
        log = output.read_text(errors="replace")
    assert me["email"] == "browser@example.com"
    assert me["display_name"] == "Brow Ser"
    token_cookie = cookies["wikibot_auth_token"]
    assert token_cookie["httpOnly"] is True
    assert token_cookie["sameSite"] == "Lax"
    assert "wikibot_auth_login" not in cookies
    assert token_cookie["value"] not in log


def test_a_browser_picks_a_provider_and_logs_in_through_its_pages(
    chromium, tmp_path, oidc_peer
):
    """Two OpenID providers at once (both names at oidc-provider): the
    chooser, then the provider's own login and consent pages, then ``/me``."""
    from tests.integration.oidc_peer import ALICE

    environ = clean_environ(
        WIKIBOT_AUTH_DATA_DIR=str(tmp_path / "data"),
        WIKIBOT_AUTH_USER_STORE="memory://",
        WIKIBOT_AUTH_IDP="google,acme",
        **oidc_peer.environ("google"),
        **oidc_peer.environ("acme"),
    )
    with running_server(tmp_path, environ) as (base, output):
        with browser_page(chromium) as page:
            page.goto(f"{base}/me")  # signed out: sent to sign in
            assert page.title() == "Sign in"
            page.click("text=google")
            page.wait_for_url(f"{oidc_peer.issuer}/**")
            page.fill("input[name=login]", ALICE)
            page.fill("input[name=password]", "anything")
            page.click("button[type=submit]")
            page.click("button:has-text('Continue')")  # the consent page
            page.wait_for_url(f"{base}/me")
            me = json.loads(page.inner_text("body"))
            cookies = {c["name"]: c for c in page.context.cookies(base)}
        log = output.read_text(errors="replace")
    assert (me["email"], me["display_name"]) == ("alice@example.com", "Alice Liddell")
    assert "wikibot_auth_login" not in cookies
    assert cookies["wikibot_auth_token"]["value"] not in log
    assert "INFO login.succeeded" in log
    assert "provider='google'" in log
