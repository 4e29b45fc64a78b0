"""API keys: each maps to a user, a role and scopes.

Keys are compared by their SHA-256 digests with ``hmac.compare_digest`` against every
configured digest, so the time taken does not depend on which key matched or how many
characters agree. Keys are never logged or echoed; logs name the key by its
configured ``name``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from .settings import ApiKeySettings, Scope, resolve_key

API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller behind a valid key."""

    key_name: str
    user: str
    role: str
    scopes: frozenset[Scope]


class ApiKeyRegistry:
    """The configured keys, by digest."""

    def __init__(self, keys: Sequence[ApiKeySettings]) -> None:
        self._entries = [
            (
                bytes.fromhex(resolve_key(key)),
                Principal(key.name, key.user, key.role, frozenset(key.scopes)),
            )
            for key in keys
        ]

    def authenticate(self, presented: str | None) -> Principal | None:
        """Return the principal of a presented key, or None when it matches no key."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = None
        for expected, principal in self._entries:
            if hmac.compare_digest(digest, expected):
                found = principal
        return found
