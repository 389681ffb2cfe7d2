from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import wikibot_auth
from wikibot_auth import domain


def test_all_is_sorted_and_complete() -> None:
    assert wikibot_auth.__all__ == sorted(wikibot_auth.__all__)
    for name in wikibot_auth.__all__:
        assert getattr(wikibot_auth, name) is not None


def test_root_exports_every_public_domain_name() -> None:
    assert set(domain.__all__) <= set(wikibot_auth.__all__)


def test_container_is_imported_lazily() -> None:
    from wikibot_auth.entrypoints.containers import Container

    assert wikibot_auth.Container is Container


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_import_wikibot_auth_stays_light() -> None:
    loaded = _modules_after("import wikibot_auth")
    assert "wikibot_auth" in loaded
    assert not {"boto3", "botocore", "httpx", "jwt", "sqlite3"} & loaded


def test_domain_imports_no_io_library() -> None:
    loaded = _modules_after(
        "import wikibot_auth.domain.use_cases, wikibot_auth.domain.ports"
    )
    banned = {"boto3", "httpx", "jwt", "sqlite3", "dependency_injector"}
    assert not banned & loaded
    assert not any(m.startswith("wikibot_auth.adapters") for m in loaded)


# What the Lambda authorizer never uses: importing its module (and so the
# container) leaves them unimported (entrypoints/on_demand.py), as every
# module costs its cold start.
NOT_ON_THE_AUTHORIZER_PATH = (
    "adapters.bounded_http",
    "adapters.local_idp",
    "adapters.memory",
    "adapters.sqlite",
    "domain.migration",
    "domain.repairs",
    "domain.use_cases",
    "entrypoints.login_state",
)


def test_the_lambda_module_imports_nothing_the_authorizer_never_uses() -> None:
    loaded = _modules_after("import wikibot_auth.entrypoints.aws_lambda")
    assert "wikibot_auth.entrypoints.containers" in loaded
    unused = {f"wikibot_auth.{name}" for name in NOT_ON_THE_AUTHORIZER_PATH}
    assert not unused & loaded


SRC = Path(wikibot_auth.__file__).resolve().parent
# Shared technical helpers: adapters may import these, and nothing else of
# src/adapters/ (DESIGN "The hexagon": an adapter knows no other adapter).
ADAPTER_HELPERS = {
    "aws_clients",
    "bounded_http",
    "dynamodb_items",
    "dynamodb_table",
    "http_attempt",
    "jws_segments",
    "key_files",
    "key_ring",
    "lru",
    "oauth_client",
    "oidc_config",
    "oidc_discovery",
    "oidc_id_token",
    "registered_claims",
    "sqlite_rows",
    "sqlite_connections",
    "sqlite_schema",
    "workos_api",
}


def _modules(folder: str) -> list[Path]:
    return sorted((SRC / folder).glob("*.py"))


def _imported_siblings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "wikibot_auth.adapters."
        ):
            found.add(node.module.split(".")[2])
    return found


@pytest.mark.parametrize("path", _modules("adapters"), ids=lambda p: p.stem)
def test_no_adapter_imports_another_adapter(path: Path) -> None:
    others = _imported_siblings(path) - ADAPTER_HELPERS - {path.stem}
    assert not others, f"{path.name} imports {sorted(others)}"


def test_the_helpers_import_no_adapter() -> None:
    for name in ADAPTER_HELPERS:
        assert _imported_siblings(SRC / "adapters" / f"{name}.py") <= ADAPTER_HELPERS


def test_only_the_composition_root_overrides_providers() -> None:
    overriding = [
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if ".override(" in path.read_text(encoding="utf-8")
    ]
    assert overriding in ([], ["entrypoints/containers.py"])


@pytest.mark.parametrize(
    "path", sorted(SRC.rglob("*.py")), ids=lambda p: p.relative_to(SRC).as_posix()
)
def test_every_module_is_small_and_says_its_one_job_first(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring, "no module docstring"
    first = docstring.splitlines()[0]
    assert first.endswith("."), first
