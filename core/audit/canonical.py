"""The canonical JSON encoding that audit hashes are computed over.

Two encodings of equal plain data are byte-for-byte equal: object keys sorted by
Unicode code point, no whitespace, UTF-8 text (non-ASCII characters unescaped),
integers in decimal, floats in Python's shortest round-trip form (``repr``). NaN and
infinities have no JSON form and are rejected, as is any value that is not plain
data (dict with string keys, list, tuple, str, int, float, bool, None).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class NotCanonicallyEncodable(ValueError):
    """A value that the canonical encoding cannot represent, such as NaN."""


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of plain data.

    Raises NotCanonicallyEncodable for NaN, infinities, non-string object keys and
    types other than plain data, naming the path of the bad value.
    """
    _check_plain(value, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_string(value: str | None) -> str:
    """Return the canonical JSON form of one string or null."""
    if value is None:
        return "null"
    # Printable ASCII without quote or backslash needs no escape (a fast path for ids).
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def _check_plain(value: Any, path: str) -> None:
    # bool and int (and their subclasses such as IntEnum) encode as themselves.
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotCanonicallyEncodable(
                f"{path} is {value!r}; JSON has no NaN or infinity, so encode a missing "
                "value as None before it reaches the audit trail"
            )
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonicallyEncodable(
                    f"{path} has the key {key!r} of type {type(key).__name__}; "
                    "object keys must be strings"
                )
            _check_plain(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_plain(item, f"{path}[{index}]")
        return
    raise NotCanonicallyEncodable(
        f"{path} is a {type(value).__name__} ({value!r}); convert it to plain data "
        "(dict, list, str, int, float, bool or None)"
    )
