"""Keyed-hash pseudonyms for customer and card identifiers.

A pseudonym is HMAC-SHA-256 under a secret key of ``KIND:IDENTIFIER``, truncated to 128
bits (32 hexadecimal digits). The same identifier always maps to the same pseudonym
under one key, so an auditor who holds the key can find a customer's decisions, while
anyone without it cannot recover the identifier even by trying every possible one.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_KEY_BYTES = 16
PSEUDONYM_HEX_DIGITS = 32
_CACHE_LIMIT = 200_000


class WeakPseudonymisationKey(ValueError):
    """A pseudonymisation key too short to resist a search over all identifiers."""


class Pseudonymiser:
    """Maps identifiers to pseudonyms under one key; ``key_id`` names the key in records.

    The key never appears in ``repr`` or in any record. Recent pseudonyms are cached,
    because a card makes many transactions.
    """

    def __init__(self, key: bytes, key_id: str) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise WeakPseudonymisationKey(
                f"pseudonymisation key {key_id!r} has {len(key)} bytes; use at least "
                f"{MIN_KEY_BYTES} random bytes (32 recommended)"
            )
        self._key = key
        self._key_id = key_id
        self._cache: dict[tuple[str, object], str] = {}

    @property
    def key_id(self) -> str:
        return self._key_id

    def pseudonym(self, kind: str, identifier: int | str) -> str:
        """Return the pseudonym of ``identifier``; ``kind`` (such as ``customer``) separates
        identifier spaces, so equal numbers of different kinds get different pseudonyms."""
        cache_key = (kind, identifier)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        message = f"{kind}:{identifier}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_DIGITS]
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[cache_key] = digest
        return digest

    def __repr__(self) -> str:
        return f"Pseudonymiser(key_id={self._key_id!r})"
