"""The reference pages under docs/ say what the code does: the configuration
table lists exactly the variables the settings read, the command-line table
every command and flag ``--help`` shows, the audit table every event and its
fields, the error table every code with its status and exit code; every
repository path the pages name exists, and the README's links lead to them.

``mkdocs build --strict`` (``make docs``) checks the links between the pages;
these tests check the pages against the code."""

from __future__ import annotations

import argparse
import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from wikibot_auth.domain.audit import EVENTS
from wikibot_auth.entrypoints.cli import build_parser
from wikibot_auth.entrypoints.idp_settings import oidc_variable
from wikibot_auth.entrypoints.settings import Settings
from wikibot_auth.entrypoints.wire import ERRORS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

# Every provider kind at once, each with every variable it reads set, so that
# every reading path of the settings runs.
OIDC_NAMES = ("google", "my-idp")
FULL = {
    "WIKIBOT_AUTH_ENV": "development",
    "WIKIBOT_AUTH_DATA_DIR": "/tmp/wikibot-auth-docs-test",  # noqa: S108 - never written
    "WIKIBOT_AUTH_ISSUER": "wikibot.io",
    "WIKIBOT_AUTH_AUDIENCE": "wikibot.io",
    "WIKIBOT_AUTH_TOKEN_TTL": "3600",
    "WIKIBOT_AUTH_MAX_TOKEN_TTL": "86400",
    "WIKIBOT_AUTH_LEEWAY": "30",
    "WIKIBOT_AUTH_PUBLIC_KEYS_FILE": "/keys/public.json",
    "WIKIBOT_AUTH_KMS_KEY_ID": "alias/wikibot",
    "WIKIBOT_AUTH_USER_STORE": "memory://",
    "WIKIBOT_AUTH_IDP": "workos,local,github,google,my-idp",
    "WIKIBOT_AUTH_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
    "WIKIBOT_AUTH_IDP_TIMEOUT": "5",
    "WIKIBOT_AUTH_USER_CACHE_TTL": "5",
    "WIKIBOT_AUTH_COOKIE_AUTH": "true",
    "WIKIBOT_AUTH_AUTHORIZER_COOKIE_AUTH": "false",
    "WIKIBOT_AUTH_AUTHORIZER_RESPONSE": "iam",
    "WIKIBOT_AUTH_LOG_FORMAT": "json",
    "WORKOS_API_KEY": "sk_test",
    "WORKOS_CLIENT_ID": "client_test",
    "WORKOS_BASE_URL": "https://api.workos.com",
    "WIKIBOT_AUTH_GITHUB_CLIENT_ID": "gh-client",
    "WIKIBOT_AUTH_GITHUB_CLIENT_SECRET": "gh-secret",
    "WIKIBOT_AUTH_GITHUB_URL": "https://github.example",
    "WIKIBOT_AUTH_GITHUB_API_URL": "https://github.example/api/v3",
    **{
        oidc_variable(name, suffix): value
        for name in OIDC_NAMES
        for suffix, value in (
            ("ISSUER", "https://idp.example"),
            ("CLIENT_ID", "client"),
            ("CLIENT_SECRET", "secret"),
            ("SCOPES", "openid email"),
            ("SUBJECT_CLAIM", "sub"),
            ("TOKEN_AUTH_METHOD", "client_secret_post"),
        )
    },
}
NAME_PLACEHOLDER = "WIKIBOT_AUTH_OIDC_<NAME>_"


class RecordingEnviron(Mapping[str, str]):
    """An environment that records every name looked up in it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:  # get() and `in` come through here
        self.read.add(name)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError(
            "the settings walk the whole environment: teach this test the names "
            "they look for"
        )

    def __len__(self) -> int:
        return len(self.values)


def serve(environ: Mapping[str, str]) -> Settings:
    return Settings.for_serve("127.0.0.1", 8000, environ)


def variables_the_settings_read() -> set[str]:
    read: set[str] = set()
    lambda_process = {"AWS_LAMBDA_FUNCTION_NAME": "authorizer"}
    for values, build in (
        (FULL, Settings.from_env),
        (FULL, serve),
        ({}, Settings.from_env),
        ({}, serve),
        (lambda_process, Settings.from_env),
    ):
        environ = RecordingEnviron(values)
        build(environ)
        read |= environ.read
    placeholders = {oidc_variable(name, ""): NAME_PLACEHOLDER for name in OIDC_NAMES}
    for prefix, placeholder in placeholders.items():
        read = {
            placeholder + n[len(prefix) :] if n.startswith(prefix) else n for n in read
        }
    return read


def section(page: Path, title: str) -> str:
    text = page.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def table_rows(text: str) -> list[list[str]]:
    """The rows of the first Markdown table in ``text``, as lists of cells."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([cell.strip() for cell in cells])
        elif rows:
            break
    return rows[2:]  # after the header and its rule


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def documented_variables() -> set[str]:
    rows = table_rows(section(DOCS / "configuration.md", "Environment variables"))
    return {
        span
        for row in rows
        for span in code_spans(row[0])
        if re.fullmatch(r"[A-Z][A-Z0-9_]*(<NAME>_[A-Z_]+)?", span)
    }


def test_the_configuration_table_lists_exactly_the_variables_the_settings_read():
    read, documented = variables_the_settings_read(), documented_variables()
    assert sorted(read - documented) == [], "read by the settings, not documented"
    assert sorted(documented - read) == [], "documented, never read by the settings"


def test_every_provider_kind_was_configured_while_recording():
    settings = Settings.from_env(FULL)
    assert {p.kind for p in settings.identity_providers} == {
        "workos",
        "local",
        "github",
        "oidc",
    }


def cli_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command that runs something (the leaves of the parser's tree)."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, subparser in group.choices.items():
            yield from cli_commands(subparser, (*path, name))


def documented_commands() -> dict[tuple[str, ...], str]:
    """Each command of the CLI page's table: its words, and the synopsis
    that follows them."""
    found = {}
    for row in table_rows(section(DOCS / "cli.md", "Commands")):
        (synopsis,) = code_spans(row[0])
        words = synopsis.split()
        assert words[0] == "wikibot-auth", synopsis
        command = tuple(w for w in words[1:3] if re.fullmatch(r"[a-z][a-z-]*", w))
        found[command] = synopsis
    return found


COMMANDS = sorted(path for path, _ in cli_commands(build_parser()))


def test_the_cli_table_lists_every_command_once_and_no_other():
    rows = table_rows(section(DOCS / "cli.md", "Commands"))
    assert len(rows) == len(documented_commands())  # none twice
    assert sorted(documented_commands()) == COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_the_cli_table_shows_every_flag_and_argument_of(path):
    parser = dict(cli_commands(build_parser()))[path]
    synopsis = documented_commands()[path]
    rest = synopsis.split(" ".join(("wikibot-auth", *path)), 1)[1]
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            names = action.option_strings
            if not any(
                re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", rest) for n in names
            ):
                missing.append("/".join(names))
        else:
            name = action.metavar or action.dest
            assert isinstance(name, str)
            if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", rest, re.I):
                missing.append(name)
    assert missing == [], f"wikibot-auth {' '.join(path)}: {synopsis}"


def test_the_cli_page_says_help_works_everywhere():
    assert "`--help` works on every command" in (DOCS / "cli.md").read_text()


def test_the_audit_table_lists_every_event_with_its_fields():
    rows = table_rows(section(DOCS / "operations.md", "Audit events"))
    documented = {code_spans(row[0])[0]: set(code_spans(row[2])) for row in rows}
    assert len(rows) == len(documented)
    assert documented == {name: set(fields) for name, fields in EVENTS.items()}


def test_the_error_table_gives_every_code_its_status_and_exit_code():
    rows = table_rows(section(DOCS / "http-routes.md", "Errors on the wire"))
    documented = {
        code: (int(row[1]), int(row[2])) for row in rows for code in code_spans(row[0])
    }
    assert sum(len(code_spans(row[0])) for row in rows) == len(documented)
    assert documented == {
        code: (entry.status, entry.exit_code) for code, entry in ERRORS.items()
    }


PAGES = sorted(DOCS.glob("*.md"))
# Paths in code spans: from the repository's root, or a module under src/.
REPOSITORY_PATH = re.compile(
    r"`((?:src|tests|examples|benchmarks|deploy|docs)/[\w./-]*\w"
    r"|(?:domain|adapters|entrypoints)/\w+\.py)`"
)


def exists(path: str) -> bool:
    if path.startswith(("domain/", "adapters/", "entrypoints/")):
        return (ROOT / "src" / path).is_file()
    return (ROOT / path).exists()


@pytest.mark.parametrize("page", [*PAGES, README], ids=lambda p: p.name)
def test_every_repository_path_a_page_names_exists(page):
    named = set(REPOSITORY_PATH.findall(page.read_text()))
    assert sorted(path for path in named if not exists(path)) == []


def slug(title: str) -> str:
    """The anchor Python-Markdown's toc extension gives a heading."""
    text = re.sub(r"`|\*\*", "", title)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#+ (.+)$", text, re.M)}


def readme_links() -> list[str]:
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


def test_the_readme_links_lead_to_pages_and_headings_under_docs():
    broken = []
    local = [link for link in readme_links() if not re.match(r"[a-z]+:", link)]
    assert local, "the README links into docs/"
    for link in local:
        target, _, anchor = link.partition("#")
        page = ROOT / target
        if not (target.startswith("docs/") and page.suffix == ".md" and page.is_file()):
            broken.append(link)
        elif anchor and anchor not in anchors(page):
            broken.append(link)
    assert broken == []


def test_the_readme_links_to_every_page_of_the_site():
    linked = {link.partition("#")[0] for link in readme_links()}
    assert (
        sorted(f"docs/{p.name}" for p in PAGES if f"docs/{p.name}" not in linked) == []
    )


@pytest.mark.parametrize("page", [*PAGES, README], ids=lambda p: p.name)
def test_no_page_points_at_documents_outside_the_repository(page):
    text = page.read_text()
    assert "DESIGN.md" not in text
    assert "STYLE.md" not in text
