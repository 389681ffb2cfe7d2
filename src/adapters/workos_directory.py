"""The ``IdentityDirectory`` port over WorkOS User Management's identities API.

The migration's backfill asks it, outside any login, which raw identity a
WorkOS user holds. It needs only the API key: the call and its error mapping
are ``WorkOSApi``'s, shared with the login adapter (``WorkOSIdentityProvider``).
Nothing secret reaches a log line or an exception.
"""

from __future__ import annotations

from ..domain.errors import InvalidRequest
from ..domain.model import Identity
from .workos_api import WorkOSApi, is_user_id


class WorkOSIdentityDirectory:
    """WorkOS's users and their identities as an ``IdentityDirectory``, over
    ``api`` (``WorkOSApi(http, api_key=..., base_url=...)``, whose ``budget``
    bounds one lookup with its retries and waits)."""

    def __init__(self, api: WorkOSApi) -> None:
        self._api = api

    def __repr__(self) -> str:
        return f"WorkOSIdentityDirectory(base_url={self._api.base_url!r})"

    def get_provider_sub(self, user_id: str) -> Identity | None:
        """The normalized raw ``(provider, idp_id)`` identity, or None when
        WorkOS lists none (see ``workos_api.choose_identity``).

        Raises:
            InvalidRequest: ``user_id`` is not a WorkOS user id (nothing is
                sent).
            IdPError: the answer had the wrong shape or an error status.
            IdPUnavailable: WorkOS could not be reached in time, or is rate
                limiting us (``retry_after``).
        """
        if not is_user_id(user_id):
            raise InvalidRequest("not a WorkOS user id")
        return self._api.identity(user_id, self._api.deadline())
