"""Decision records as journal payloads (MessagePack of the record's fields).

The encoding follows the ``DecisionRecord`` dataclass through pydantic, so fields
added to the record (or to the dataclasses inside it) are journaled without a change
here. NaN feature values survive, because MessagePack stores doubles as they are.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import msgpack
from pydantic import TypeAdapter

from twinbank.core.decisions import DecisionRecord
from twinbank.core.transactions import Transaction

_RECORD = TypeAdapter(DecisionRecord)
_TRANSACTION = TypeAdapter(Transaction)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot journal a value of type {type(value).__name__}: {value!r}")


def encode_record(record: DecisionRecord) -> bytes:
    return msgpack.packb(_RECORD.dump_python(record), default=_plain, use_bin_type=True)


def decode_record(payload: bytes) -> DecisionRecord:
    """Return the record; raises pydantic.ValidationError when the payload does not fit
    the record's current fields."""
    return _RECORD.validate_python(msgpack.unpackb(payload, raw=False))


def decode_transaction(payload: bytes) -> Transaction:
    """Return the transaction of a record without validating the record's other fields.

    Raises pydantic.ValidationError when the payload has no valid transaction."""
    fields = msgpack.unpackb(payload, raw=False)
    return _TRANSACTION.validate_python(
        fields.get("transaction") if isinstance(fields, dict) else None
    )
