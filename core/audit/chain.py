"""Hash-chained audit records.

Each stored record carries the SHA-256 hash of its predecessor and its own hash over a
canonical envelope of everything it stores, so that changing, removing, inserting or
reordering a stored record breaks the chain where it happened.

The envelope is the canonical JSON object (see ``canonical.py``) with the keys
``body`` (the record's content), ``customer_pseudonym``, ``decision_id``, ``format``,
``kind``, ``model_id``, ``model_version``, ``prev_hash`` and ``recorded_at_ns``. The
record's sequence number is not part of it: the order of the chain is the order of its
``prev_hash`` links, and the sequence number is only where the store keeps a record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .canonical import canonical_json, canonical_string

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first record of a chain."""

ENVELOPE_FORMAT = 1
"""Version of the envelope layout, hashed into every record."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Something to append to the audit trail, before it is chained.

    ``body`` is plain data (see ``canonical_json``). The optional identifiers are
    stored in their own indexed columns as well as being hashed.
    """

    kind: str
    recorded_at_ns: int
    body: Mapping[str, Any]
    decision_id: str | None = None
    model_id: str | None = None
    model_version: str | None = None
    customer_pseudonym: str | None = None
    body_json: str = field(default="", compare=False)

    def encoded_body(self) -> str:
        """Return the canonical JSON of the body (precomputed when ``body_json`` is set)."""
        return self.body_json or canonical_json(self.body)


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    """A record as stored: position, content, and the two hashes that chain it."""

    seq: int
    kind: str
    recorded_at_ns: int
    decision_id: str | None
    model_id: str | None
    model_version: str | None
    customer_pseudonym: str | None
    body_json: str
    prev_hash: str
    record_hash: str

    def computed_hash(self) -> str:
        """Return the hash of the stored content; it equals ``record_hash`` when intact."""
        return record_hash(
            prev_hash=self.prev_hash,
            kind=self.kind,
            recorded_at_ns=self.recorded_at_ns,
            decision_id=self.decision_id,
            model_id=self.model_id,
            model_version=self.model_version,
            customer_pseudonym=self.customer_pseudonym,
            body_json=self.body_json,
        )


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of a chain: its sequence number and hash (0 and GENESIS_HASH when empty)."""

    seq: int = 0
    record_hash: str = GENESIS_HASH

    def __str__(self) -> str:
        return f"{self.seq}:{self.record_hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Parse ``SEQ:HASH`` as printed by ``str``; raises ValueError naming the text."""
        seq_text, _, hash_text = text.partition(":")
        if not seq_text.isdigit() or len(hash_text) != 64 or not _is_hex(hash_text):
            raise ValueError(
                f"chain head {text!r} is not SEQ:HASH with a decimal sequence number and a "
                "64-digit hexadecimal SHA-256 hash, as `twinbank audit head` prints it"
            )
        return cls(int(seq_text), hash_text.lower())


def record_hash(
    *,
    prev_hash: str,
    kind: str,
    recorded_at_ns: int,
    decision_id: str | None,
    model_id: str | None,
    model_version: str | None,
    customer_pseudonym: str | None,
    body_json: str,
) -> str:
    """Return the SHA-256 hex digest of a record's canonical envelope.

    The envelope is assembled as text around the already canonical ``body_json``, in
    sorted key order, which gives the same bytes as ``canonical_json`` of the whole
    envelope but encodes the body only once.
    """
    envelope = "".join(
        (
            '{"body":',
            body_json,
            ',"customer_pseudonym":',
            canonical_string(customer_pseudonym),
            ',"decision_id":',
            canonical_string(decision_id),
            ',"format":',
            str(ENVELOPE_FORMAT),
            ',"kind":',
            canonical_string(kind),
            ',"model_id":',
            canonical_string(model_id),
            ',"model_version":',
            canonical_string(model_version),
            ',"prev_hash":"',
            prev_hash,
            '","recorded_at_ns":',
            str(int(recorded_at_ns)),
            "}",
        )
    )
    return hashlib.sha256(envelope.encode("utf-8")).hexdigest()


def chain_entries(entries: Iterable[AuditEntry], head: ChainHead) -> list[ChainedRecord]:
    """Chain entries after ``head``: consecutive sequence numbers, each linked to the last."""
    records = []
    seq, previous = head.seq, head.record_hash
    for entry in entries:
        seq += 1
        body_json = entry.encoded_body()
        digest = record_hash(
            prev_hash=previous,
            kind=entry.kind,
            recorded_at_ns=entry.recorded_at_ns,
            decision_id=entry.decision_id,
            model_id=entry.model_id,
            model_version=entry.model_version,
            customer_pseudonym=entry.customer_pseudonym,
            body_json=body_json,
        )
        records.append(
            ChainedRecord(
                seq=seq,
                kind=entry.kind,
                recorded_at_ns=entry.recorded_at_ns,
                decision_id=entry.decision_id,
                model_id=entry.model_id,
                model_version=entry.model_version,
                customer_pseudonym=entry.customer_pseudonym,
                body_json=body_json,
                prev_hash=previous,
                record_hash=digest,
            )
        )
        previous = digest
    return records


def head_after(records: list[ChainedRecord], head: ChainHead) -> ChainHead:
    """Return the head once ``records`` (chained after ``head``) are stored."""
    if not records:
        return head
    return ChainHead(records[-1].seq, records[-1].record_hash)


def _is_hex(text: str) -> bool:
    return all(character in "0123456789abcdefABCDEF" for character in text)
