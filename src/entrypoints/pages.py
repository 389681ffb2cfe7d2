"""The server's few HTML pages: front page, provider chooser, local sign-in form.

Each is a fixed template with escaped values, served without caching, with a
Content-Security-Policy that allows no script and no framing.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from urllib.parse import urlencode

PAGE_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'",
}

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;
padding:0 1rem}}code{{background:#f3f3f3;padding:0 .2em}}</style></head>
<body>
{body}
</body></html>
"""

_SIGN_IN = """<h1>Sign in</h1>
<p>Local development identity provider: no password, no account anywhere.</p>
<form method="post" action="sign-in">
<input type="hidden" name="state" value="{state}">
<input type="hidden" name="code_challenge" value="{code_challenge}">
<p><label>Email <input type="email" name="email" required></label></p>
<p><label>Display name <input type="text" name="display_name"></label></p>
<p><button type="submit">Sign in</button></p>
</form>"""

_CHOOSER = """<h1>Sign in</h1>
<p>Choose how to sign in:</p>
<ul>
{items}
</ul>"""

_KIND_LABELS = {
    "oidc": "OpenID Connect",
    "github": "GitHub",
    "workos": "WorkOS",
    "local": "local development, no account anywhere",
}

_HOME = """<h1>wikibot-auth</h1>
<p>The authentication server of wikibot.io: it signs people in through an
identity provider ({idp}) and issues platform tokens (RS256 JWTs) that every
service checks on its own.</p>
<ul>
<li><a href="/auth/login?return_to=/me">Sign in</a>, then see who you are</li>
<li><a href="/me"><code>/me</code></a>: the signed-in user as JSON (send
<code>Authorization: Bearer &lt;token&gt;</code>, or sign in with a browser)</li>
<li><a href="/.well-known/jwks.json"><code>/.well-known/jwks.json</code></a>: the
public keys that verify tokens</li>
<li><a href="/healthz"><code>/healthz</code></a>: liveness</li>
</ul>
<p><code>POST /auth/logout</code> signs out (<code>?everywhere=true</code> revokes
every token issued so far). The documentation (docs/ in the repository) lists
every route and setting.</p>"""


def _page(title: str, body: str) -> str:
    return _LAYOUT.format(title=html.escape(title), body=body)


def sign_in_page(*, state: str, code_challenge: str) -> str:
    return _page(
        "Sign in (local development)",
        _SIGN_IN.format(
            state=html.escape(state, quote=True),
            code_challenge=html.escape(code_challenge, quote=True),
        ),
    )


def chooser_page(providers: Sequence[dict[str, str]], return_to: str) -> str:
    """One link per provider, each starting the login there (``return_to``
    kept): ``login?provider=NAME``, relative to ``/auth/login``."""
    items = []
    for provider in providers:
        query = {"provider": provider["name"]}
        if return_to != "/":
            query["return_to"] = return_to
        href = html.escape("login?" + urlencode(query), quote=True)
        kind = _KIND_LABELS.get(provider["kind"])
        label = html.escape(provider["name"])
        note = f" <small>({html.escape(kind)})</small>" if kind else ""
        items.append(f'<li><a href="{href}">{label}</a>{note}</li>')
    return _page("Sign in", _CHOOSER.format(items="\n".join(items)))


def home_page(*, idp: str) -> str:
    return _page("wikibot-auth", _HOME.format(idp=html.escape(idp)))
