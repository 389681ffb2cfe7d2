"""The optional extras, and the ImportError that names the one to install.

``pip install wikibot-auth`` is the library, the CLI and the Lambda authorizer.
What needs a web framework comes with an extra:

- ``server``: Starlette and uvicorn (``wikibot-auth serve``, ``create_app()``);
- ``lambda``: Starlette and Mangum (the Lambda login ``handler``);
- ``fastapi``: FastAPI (``wikibot_auth.entrypoints.fastapi``).
"""

from __future__ import annotations

SERVER = "server"
LAMBDA = "lambda"
FASTAPI = "fastapi"


def install_hint(extra: str) -> str:
    """The command that installs ``extra``, quoted for a POSIX shell."""
    return f"pip install 'wikibot-auth[{extra}]'"


def missing_package(exc: ModuleNotFoundError) -> str:
    """The distribution-level name of what is missing: ``starlette`` for a
    missing ``starlette.applications``."""
    return (exc.name or "a module").partition(".")[0]


def missing_extra(
    what: str, extra: str, exc: ModuleNotFoundError
) -> ModuleNotFoundError:
    """The error to raise (``from exc``) when ``what`` cannot import ``exc.name``:
    it names the missing module and the extra that brings it, and keeps
    ``name`` so that callers can still tell which module was missing."""
    return ModuleNotFoundError(
        f"{what} needs {missing_package(exc)}, which the {extra!r} extra installs: "
        f"{install_hint(extra)}",
        name=exc.name,
    )
