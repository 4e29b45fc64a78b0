"""A compact binary encoding of the streaming engine's per-key window state.

An ``EntityHistory`` contains event times, transaction ids, one column of exact integer
values per source (in units of 2**-1074, see ``twinbank.core.features.streaming``)
and, per window, two pointers, a count and exact running sums. Every column value is
a finite double times 2**1074 (a label's 0 or 1 is the double 0.0 or 5e-324), so it
is stored as that double, 8 bytes, and restored exactly. Running sums can exceed any
double's precision, so they are stored as signed integers of their own length.

Layout, little-endian: a header ``<BqIBB`` (format version, offset, events, sources,
windows); times and ids as int64 arrays; each source column as a float64 array; per
window ``<qqq`` (left, right, count) and per source a ``<H`` byte length followed by
the sum as a signed integer.
"""

from __future__ import annotations

import math
import struct
from array import array
from dataclasses import dataclass

from twinbank.core.features.plan import EntityPlan
from twinbank.core.features.streaming import NO_CHANGE, EntityHistory

FORMAT_VERSION = 1
_SHIFT = 1075
_HEADER = struct.Struct("<BqIBB")
_WINDOW = struct.Struct("<qqq")
_LENGTH = struct.Struct("<H")


class CorruptHistory(ValueError):
    """Stored window state that this codec cannot read."""


def encode_history(history: EntityHistory) -> bytes:
    """Return the bytes of a history (see the module docstring for the layout)."""
    return _assemble(history, _event_arrays(history, 0))


@dataclass(slots=True)
class EncodedEvents:
    """The event arrays of one history object as last encoded: times, ids, then one
    array per source column, for the events with absolute indices start to stop."""

    history: EntityHistory
    start: int
    stop: int
    arrays: list[bytes]


def encode_history_reusing(
    history: EntityHistory, previous: EncodedEvents | None
) -> tuple[bytes, EncodedEvents]:
    """Return the bytes of a history, the same as ``encode_history``, and the arrays
    to pass as ``previous`` at its next encoding.

    Events that ``previous`` encoded from the same history object, and that the
    engine has not inserted before or changed since (see
    ``EntityHistory.first_changed``), are copied from it instead of converted again.
    Resets the history's ``first_changed`` to NO_CHANGE.
    """
    offset = history.offset
    stop = offset + len(history.times)
    reused = 0
    if previous is not None and previous.history is history and previous.start <= offset:
        reused = max(0, min(previous.stop, history.first_changed, stop) - offset)
    if previous is not None and reused:
        skip = 8 * (offset - previous.start)
        arrays = [
            old[skip : skip + 8 * reused] + new
            for old, new in zip(previous.arrays, _event_arrays(history, reused), strict=True)
        ]
    else:
        arrays = _event_arrays(history, 0)
    history.first_changed = NO_CHANGE
    return _assemble(history, arrays), EncodedEvents(history, offset, stop, arrays)


def _event_arrays(history: EntityHistory, start: int) -> list[bytes]:
    """Return the times, ids and source columns of the events from position ``start``
    on, as the bytes of their stored arrays."""
    times = history.times[start:] if start else history.times
    ids = history.ids[start:] if start else history.ids
    arrays = [array("q", times).tobytes(), array("q", ids).tobytes()]
    for column in history.columns:
        arrays.append(_doubles(column[start:] if start else column).tobytes())
    return arrays


def _assemble(history: EntityHistory, arrays: list[bytes]) -> bytes:
    events = len(history.times)
    parts = [
        _HEADER.pack(
            FORMAT_VERSION, history.offset, events, len(history.columns), len(history.windows)
        ),
        *arrays,
    ]
    for state in history.windows:
        parts.append(_WINDOW.pack(state.left, state.right, state.count))
        for total in state.sums:
            size = (total.bit_length() + 8) // 8
            parts.append(_LENGTH.pack(size))
            parts.append(total.to_bytes(size, "little", signed=True))
    return b"".join(parts)


def decode_history(data: bytes, plan: EntityPlan) -> EntityHistory:
    """Return the history encoded in ``data``; raises CorruptHistory when it does not
    match the entity's plan (another feature set wrote it) or is truncated."""
    try:
        version, offset, events, sources, windows = _HEADER.unpack_from(data, 0)
    except struct.error:
        raise CorruptHistory(f"history of {len(data)} bytes is shorter than its header") from None
    if version != FORMAT_VERSION:
        raise CorruptHistory(f"history format version {version}; this codec reads {FORMAT_VERSION}")
    if sources != len(plan.sources) or windows != len(plan.windows):
        raise CorruptHistory(
            f"history has {sources} sources and {windows} windows; entity "
            f"{plan.entity.name!r} has {len(plan.sources)} and {len(plan.windows)} "
            "(state written by another feature set version)"
        )
    history = EntityHistory(plan)
    history.offset = offset
    position = _HEADER.size
    width = 8 * events
    try:
        history.times = _int64s(data, position, width)
        history.ids = _int64s(data, position + width, width)
        position += 2 * width
        for slot in range(sources):
            floats = array("d")
            floats.frombytes(data[position : position + width])
            history.columns[slot] = _exact_column(floats)
            position += width
        for state in history.windows:
            state.left, state.right, state.count = _WINDOW.unpack_from(data, position)
            position += _WINDOW.size
            for slot in range(sources):
                (size,) = _LENGTH.unpack_from(data, position)
                position += _LENGTH.size
                chunk = data[position : position + size]
                if len(chunk) != size:
                    raise CorruptHistory("history is truncated inside a window sum")
                state.sums[slot] = int.from_bytes(chunk, "little", signed=True)
                position += size
    except (struct.error, ValueError) as error:
        if isinstance(error, CorruptHistory):
            raise
        raise CorruptHistory(f"history of {len(data)} bytes is truncated: {error}") from None
    if position != len(data):
        raise CorruptHistory(f"history has {len(data) - position} bytes after its last window")
    return history


def _int64s(data: bytes, start: int, width: int) -> list[int]:
    values = array("q")
    values.frombytes(data[start : start + width])
    if len(values) * 8 != width:
        raise CorruptHistory("history is truncated inside its event arrays")
    return values.tolist()


# Amounts repeat across histories (cents over a small range), so conversions are
# memoized; each cache is cleared when it reaches its bound.
_CACHE_LIMIT = 262_144
_DOUBLES: dict[int, float] = {}
_UNITS: dict[float, int] = {}


def _doubles(column: list[int]) -> array[float]:
    """Return a column as doubles. When every value is cached, ``map`` converts the
    column without a Python function call per value."""
    try:
        return array("d", map(_DOUBLES.__getitem__, column))
    except KeyError:
        return array("d", [_double(value) for value in column])


def _double(units: int) -> float:
    cached = _DOUBLES.get(units)
    if cached is None:
        if len(_DOUBLES) >= _CACHE_LIMIT:
            _DOUBLES.clear()
        cached = _DOUBLES[units] = _compute_double(units)
    return cached


def _exact(value: float) -> int:
    cached = _UNITS.get(value)
    if cached is None:
        if len(_UNITS) >= _CACHE_LIMIT:
            _UNITS.clear()
        cached = _UNITS[value] = _compute_exact(value)
    return cached


def _exact_column(floats: array[float]) -> list[int]:
    """Return the exact values of a stored column, from the memo when all are in it."""
    try:
        return list(map(_UNITS.__getitem__, floats))
    except KeyError:
        return [_exact(value) for value in floats]


def _compute_double(units: int) -> float:
    """Return ``units * 2**-1074`` as a double; exact, because every stored value is one.

    Shifting to 53 significant bits before ``ldexp`` is twice as fast as dividing
    the big integer by 2**1074.
    """
    excess = units.bit_length() - 53 if units >= 0 else (-units).bit_length() - 53
    if excess <= 0:
        return math.ldexp(units, -1074)
    return math.ldexp(units >> excess, excess - 1074)


def _compute_exact(value: float) -> int:
    numerator, denominator = value.as_integer_ratio()
    return numerator << (_SHIFT - denominator.bit_length())
