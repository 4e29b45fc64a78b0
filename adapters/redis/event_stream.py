"""The event stream on Redis Streams: XADD to publish, a consumer group to read.

Each entry holds one event as flat fields (``kind`` and the event's own fields as
decimal strings), so that ``redis-cli XRANGE`` shows it readably. Amounts are written
with ``repr``, which round-trips every float exactly. Entries that cannot be applied
go to a dead-letter stream ``<stream>:dead-letters`` with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from twinbank.core.event_stream import Delivery, StreamEvent
from twinbank.core.transactions import FraudLabel, Transaction

from .packed import Argument, execute_packed

log = logging.getLogger(__name__)

_TRANSACTION = b"transaction"
_LABEL = b"label"


def encode_event(event: StreamEvent) -> dict[str, str]:
    """Return the entry fields of an event."""
    if isinstance(event, Transaction):
        return {
            "kind": "transaction",
            "transaction_id": str(event.transaction_id),
            "timestamp_ns": str(event.timestamp_ns),
            "customer_id": str(event.customer_id),
            "terminal_id": str(event.terminal_id),
            "amount": repr(float(event.amount)),
        }
    return {
        "kind": "label",
        "transaction_id": str(event.transaction_id),
        "revealed_at_ns": str(event.revealed_at_ns),
        "is_fraud": "1" if event.is_fraud else "0",
    }


class MalformedEntry(ValueError):
    """A stream entry whose fields do not describe an event."""


def decode_event(fields: Mapping[bytes, bytes]) -> StreamEvent:
    """Return the event of an entry; raises MalformedEntry naming the bad field."""
    kind = fields.get(b"kind")
    try:
        if kind == _TRANSACTION:
            return Transaction(
                transaction_id=int(fields[b"transaction_id"]),
                timestamp_ns=int(fields[b"timestamp_ns"]),
                customer_id=int(fields[b"customer_id"]),
                terminal_id=int(fields[b"terminal_id"]),
                amount=float(fields[b"amount"]),
            )
        if kind == _LABEL:
            flag = fields[b"is_fraud"]
            if flag not in (b"0", b"1"):
                raise MalformedEntry(f"field is_fraud is {flag!r}; expected 0 or 1")
            return FraudLabel(
                transaction_id=int(fields[b"transaction_id"]),
                revealed_at_ns=int(fields[b"revealed_at_ns"]),
                is_fraud=flag == b"1",
            )
    except KeyError as error:
        raise MalformedEntry(f"{kind!r} entry has no field {error.args[0]!r}") from None
    except ValueError as error:
        raise MalformedEntry(f"{kind!r} entry has a field that is not a number: {error}") from None
    raise MalformedEntry(f"field kind is {kind!r}; expected 'transaction' or 'label'")


def _delivery(entry_id: bytes, fields: Mapping[bytes, bytes] | None, attempts: int) -> Delivery:
    delivery_id = entry_id.decode()
    if not fields:
        return Delivery(delivery_id, None, attempts, "entry was deleted from the stream")
    try:
        return Delivery(delivery_id, decode_event(fields), attempts)
    except MalformedEntry as error:
        return Delivery(delivery_id, None, attempts, str(error))


# The field names of a transaction entry, in the order ``encode_event`` writes them.
_TRANSACTION_LAYOUT = [b"kind", b"transaction_id", b"timestamp_ns", b"customer_id", b"terminal_id", b"amount"]  # fmt: skip


def _read_delivery(entry_id: bytes, flat: list[bytes] | None) -> Delivery:
    """Return the delivery of an entry given as a flat field list.

    A transaction entry in the layout that ``encode_event`` writes is decoded by
    position, without building a dict. Any other entry, or one whose values do not
    parse, takes the general path, which names the invalid field."""
    if flat is not None and len(flat) == 12 and flat[::2] == _TRANSACTION_LAYOUT:
        try:
            if flat[1] != _TRANSACTION:
                raise ValueError(flat[1])
            transaction = Transaction(
                int(flat[3]), int(flat[5]), int(flat[7]), int(flat[9]), float(flat[11])
            )
        except ValueError:
            pass
        else:
            return Delivery(entry_id.decode(), transaction)
    fields = None if flat is None else dict(zip(flat[::2], flat[1::2], strict=True))
    return _delivery(entry_id, fields, 1)


class RedisEventStream:
    """The EventPublisher port on one Redis stream key."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        self._client = client
        self._stream = stream

    @property
    def stream(self) -> str:
        return self._stream

    def publish(self, events: Sequence[StreamEvent]) -> None:
        if not events:
            return
        pipeline = self._client.pipeline(transaction=False)
        for event in events:
            pipeline.xadd(self._stream, encode_event(event))  # type: ignore[arg-type]
        pipeline.execute()

    def subscription(self, group: str, consumer: str) -> RedisSubscription:
        return RedisSubscription(self._client, self._stream, group, consumer)

    def length(self) -> int:
        return int(self._client.xlen(self._stream))


class RedisSubscription:
    """One consumer of a Redis consumer group (the EventSubscription port).

    The group is created on first use, reading from the start of the stream, so a
    worker started after events were published still sees all of them.
    """

    def __init__(self, client: redis.Redis, stream: str, group: str, consumer: str) -> None:
        self._client = client
        self._stream = stream
        self._group = group
        self._consumer = consumer
        self._dead_letters = f"{stream}:dead-letters"
        self._group_ready = False

    @property
    def consumer(self) -> str:
        return self._consumer

    @property
    def dead_letter_stream(self) -> str:
        return self._dead_letters

    def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(self._stream, self._group, id="0", mkstream=True)
            log.info("created consumer group %s on stream %s", self._group, self._stream)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def pending(self, count: int) -> list[Delivery]:
        self.ensure_group()
        response = self._client.xreadgroup(
            self._group, self._consumer, {self._stream: "0"}, count=count
        )
        entries = _entries_of(response)
        if not entries:
            return []
        attempts = self._attempts([entry_id for entry_id, _ in entries])
        return [
            _delivery(entry_id, fields, attempts.get(entry_id, 1)) for entry_id, fields in entries
        ]

    def claim_stale(self, min_idle_ms: int, count: int) -> list[Delivery]:
        self.ensure_group()
        response = self._client.xautoclaim(
            self._stream, self._group, self._consumer, min_idle_ms, start_id="0-0", count=count
        )
        entries = response[1]
        if not entries:
            return []
        attempts = self._attempts([entry_id for entry_id, _ in entries])
        return [
            _delivery(entry_id, fields, attempts.get(entry_id, 1)) for entry_id, fields in entries
        ]

    def receive(self, count: int, block_ms: int) -> list[Delivery]:
        """Read new entries. The raw reply is parsed here because redis-py's
        conversion of each entry to a dict took about 7 % of the worker's time in a
        profiled drain of the serving benchmark."""
        self.ensure_group()
        block: tuple[Argument, ...] = ("BLOCK", block_ms) if block_ms > 0 else ()
        (reply,) = execute_packed(
            self._client,
            [("XREADGROUP", "GROUP", self._group, self._consumer, "COUNT", count, *block,
              "STREAMS", self._stream, ">")],
        )  # fmt: skip
        return [_read_delivery(entry_id, flat) for entry_id, flat in _raw_entries(reply)]

    def acknowledge(self, delivery_ids: Sequence[str]) -> None:
        if delivery_ids:
            execute_packed(self._client, [("XACK", self._stream, self._group, *delivery_ids)])

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        fields: dict[str, str] = {
            "reason": reason,
            "delivery_id": delivery.delivery_id,
            "group": self._group,
            "consumer": self._consumer,
            "attempts": str(delivery.attempts),
        }
        if delivery.event is not None:
            fields.update(encode_event(delivery.event))
        pipeline = self._client.pipeline(transaction=True)
        pipeline.xadd(self._dead_letters, fields)  # type: ignore[arg-type]
        pipeline.xack(self._stream, self._group, delivery.delivery_id)
        pipeline.execute()

    def lag(self) -> int:
        self.ensure_group()
        for group in self._client.xinfo_groups(self._stream):
            if _text(group["name"]) != self._group:
                continue
            lag = group.get("lag")
            if lag is None:
                # Redis reports no lag after entries were deleted; count them instead.
                last = _text(group["last-delivered-id"])
                lag = len(self._client.xrange(self._stream, min=f"({last}", max="+"))
            return int(group["pending"]) + int(lag)
        return 0

    def _attempts(self, entry_ids: list[bytes]) -> dict[bytes, int]:
        rows = self._client.xpending_range(
            self._stream,
            self._group,
            min=entry_ids[0],
            max=entry_ids[-1],
            count=len(entry_ids),
            consumername=self._consumer,
        )
        return {row["message_id"]: int(row["times_delivered"]) for row in rows}


def _raw_entries(reply: Any) -> list[tuple[bytes, list[bytes] | None]]:
    """Return the ``[entry id, flat field list]`` pairs of a raw XREADGROUP reply of
    one stream: a map from stream to entries in RESP3, a list of
    ``[stream, entries]`` in RESP2, nil when the read timed out."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values())))
    return list(reply[0][1])


def _entries_of(response: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    # XREADGROUP replies (RESP2) list [stream, entries] per stream read.
    if not response:
        return []
    return list(response[0][1])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
