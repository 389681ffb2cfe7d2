from __future__ import annotations

import subprocess
import sys

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
