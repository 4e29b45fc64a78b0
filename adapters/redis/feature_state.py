"""The streaming engine's window state in Redis, written by one stream worker at a time.

Keys, all under one prefix:

* ``<prefix>:history:<entity>:<key>``: one entity key's window state
  (``history_codec``); a str key is written as ``s:<key>``;
* ``<prefix>:label-index`` (hash) and ``<prefix>:label-index:times`` (sorted set):
  transactions whose labels feed some window, with their time and entity keys;
* ``<prefix>:processed:<day>`` (sets): ids of the events applied, by event day;
* ``<prefix>:applied-up-to``: the latest event time applied;
* ``<prefix>:lease``: the token of the worker allowed to write;
* ``<prefix>:feature-set``: name and version of the feature set whose window state
  the prefix holds, claimed by the first worker (``claim_feature_set``).

``RedisFeatureStateStore`` is the FeatureStateStore port for the worker. The engine
changes histories in a local cache; ``commit`` writes every change of a batch,
the ids of its events and the new ``applied-up-to`` in one MULTI/EXEC, guarded by
WATCH on the lease, so a batch is applied entirely or not at all and a worker that
lost its lease cannot write. ``rollback`` drops the cache after a failed batch.

``RedisFeatureStateReader`` reads histories for the decision service, which never
writes state.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import redis

from twinbank.core.features.definitions import FeatureSet
from twinbank.core.features.plan import EntityPlan, compile_plan
from twinbank.core.features.streaming import EntityHistory
from twinbank.core.ports import EntityKey

from .history_codec import EncodedEvents, decode_history, encode_history_reusing
from .packed import Argument, Command, PackedSession, execute_packed

log = logging.getLogger(__name__)

EntityRef = tuple[str, EntityKey]


class LeaseLost(RuntimeError):
    """Another worker holds the write lease; this one must stop writing."""


class FeatureSetConflict(RuntimeError):
    """Window state under the prefix was written for another feature set.

    A history contains one window per plan window, so state written for one set
    cannot be read for another.
    """


def _check_feature_set(
    client: redis.Redis, keys: StateKeys, feature_set: FeatureSet, claim: bool
) -> None:
    marker = f"{feature_set.name} {feature_set.version}"
    if claim and client.set(keys.feature_set, marker, nx=True):
        return
    stored = client.get(keys.feature_set)
    if stored is None or stored.decode() == marker:
        return
    raise FeatureSetConflict(
        f"Redis prefix {keys.prefix!r} contains window state of feature set "
        f"{stored.decode()!r}; this process computes {marker!r}. Set TWINBANK_FEATURE_SET "
        "to the stored set, or TWINBANK_FEATURE_PREFIX to an unused prefix"
    )


@dataclass(frozen=True, slots=True)
class StateKeys:
    """Redis key names of one feature-state namespace."""

    prefix: str

    def history(self, entity: str, key: EntityKey) -> str:
        # An int key is written in digits, a str key after "s:", so the int 5 and the
        # str "5" have histories of their own.
        written = key if isinstance(key, int) else f"s:{key}"
        return f"{self.prefix}:history:{entity}:{written}"

    @property
    def label_index(self) -> str:
        return f"{self.prefix}:label-index"

    @property
    def label_times(self) -> str:
        return f"{self.prefix}:label-index:times"

    def processed(self, day: int) -> str:
        return f"{self.prefix}:processed:{day}"

    @property
    def processed_days(self) -> str:
        return f"{self.prefix}:processed-days"

    @property
    def applied_up_to(self) -> str:
        return f"{self.prefix}:applied-up-to"

    @property
    def lease(self) -> str:
        return f"{self.prefix}:lease"

    @property
    def feature_set(self) -> str:
        return f"{self.prefix}:feature-set"


@dataclass
class _Changes:
    """The changes of a batch, written at commit."""

    histories: set[EntityRef] = field(default_factory=set)
    remembered: dict[int, tuple[int, tuple[EntityKey, ...]]] = field(default_factory=dict)
    recalled: set[int] = field(default_factory=set)
    forget_before: int | None = None
    encoded: dict[str, bytes] | None = None


def _encode_remembered(timestamp_ns: int, keys: tuple[EntityKey, ...]) -> str:
    """Return ``[time,[keys]]`` as compact JSON. Int keys, the usual case, are written
    without the JSON encoder."""
    if all(type(key) is int for key in keys):
        return f"[{timestamp_ns},[{','.join(map(str, keys))}]]"
    return json.dumps([timestamp_ns, list(keys)], separators=(",", ":"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode_remembered(raw: bytes) -> tuple[int, tuple[EntityKey, ...]]:
    timestamp_ns, keys = json.loads(raw)
    return int(timestamp_ns), tuple(keys)


class RedisFeatureStateStore:
    """Window state for one writer, with a local cache and atomic batch commits.

    ``max_cached_keys`` bounds the cache; keys not changed since the last commit are
    evicted least recently used first.
    """

    def __init__(
        self,
        client: redis.Redis,
        feature_set: FeatureSet,
        prefix: str,
        lease_ms: int = 30_000,
        max_cached_keys: int = 200_000,
    ) -> None:
        self._client = client
        self._feature_set = feature_set
        self._plans: dict[str, EntityPlan] = {
            plan.entity.name: plan for plan in compile_plan(feature_set).entities
        }
        self._keys = StateKeys(prefix)
        self._lease_ms = lease_ms
        self._max_cached = max_cached_keys
        self._token = uuid.uuid4().hex
        self._cache: OrderedDict[EntityRef, EntityHistory | None] = OrderedDict()
        # The event arrays of each cached history as last encoded, which the next
        # encoding of the same history object reuses.
        self._event_arrays: dict[EntityRef, EncodedEvents] = {}
        self._remembered: dict[int, tuple[int, tuple[EntityKey, ...]] | None] = {}
        # (time, id) of each remembered transaction as it was remembered, nearly in
        # time order, so that forgetting reads only the oldest entries.
        self._remembered_order: deque[tuple[int, int]] = deque()
        self._changes = _Changes()

    @property
    def keys(self) -> StateKeys:
        return self._keys

    # --- the FeatureStateStore port --------------------------------------------------

    def load_history(self, entity: str, key: EntityKey) -> EntityHistory | None:
        ref = (entity, key)
        if ref in self._cache:
            self._cache.move_to_end(ref)
            return self._cache[ref]
        self.prefetch([ref], ())
        return self._cache[ref]

    def save_history(self, entity: str, key: EntityKey, history: EntityHistory) -> None:
        ref = (entity, key)
        self._cache[ref] = history
        self._cache.move_to_end(ref)
        self._changes.histories.add(ref)
        self._changes.encoded = None

    def remember_transaction(
        self, transaction_id: int, timestamp_ns: int, keys: tuple[EntityKey, ...]
    ) -> None:
        self._remembered[transaction_id] = (timestamp_ns, keys)
        self._remembered_order.append((timestamp_ns, transaction_id))
        self._changes.remembered[transaction_id] = (timestamp_ns, keys)
        self._changes.recalled.discard(transaction_id)

    def recall_transaction(self, transaction_id: int) -> tuple[int, tuple[EntityKey, ...]] | None:
        if transaction_id not in self._remembered:
            self.prefetch((), [transaction_id])
        remembered = self._remembered.get(transaction_id)
        if remembered is not None:
            # A tombstone, so that a second recall does not find the stored entry
            # before the commit deletes it.
            self._remembered[transaction_id] = None
            self._changes.remembered.pop(transaction_id, None)
            self._changes.recalled.add(transaction_id)
        return remembered

    def forget_transactions_before(self, timestamp_ns: int) -> int:
        """Forget remembered transactions older than ``timestamp_ns`` at the next commit.

        Locally, the transactions remembered by this store are forgotten oldest first,
        up to the first one at or after ``timestamp_ns``. One remembered out of time
        order (a late transaction) may stay cached longer. That changes no feature
        value, because a label of a transaction that left every window has no effect.
        NOTE: the engine then counts such a label as matched, not unmatched.
        The count is an upper bound, because a transaction both cached and stored
        counts twice.
        """
        order = self._remembered_order
        remembered = self._remembered
        local = 0
        while order and order[0][0] < timestamp_ns:
            moment, transaction_id = order.popleft()
            entry = remembered.get(transaction_id)
            if entry is not None and entry[0] == moment:
                del remembered[transaction_id]
                self._changes.remembered.pop(transaction_id, None)
                local += 1
        stored = int(self._client.zcount(self._keys.label_times, "-inf", f"({timestamp_ns}"))
        self._changes.forget_before = max(self._changes.forget_before or 0, timestamp_ns)
        return local + stored

    # --- batch operations of the worker ----------------------------------------------

    def prefetch(self, refs: Iterable[EntityRef], transaction_ids: Iterable[int]) -> None:
        """Load the histories and remembered transactions a batch will need, in one
        round trip, into the cache."""
        missing = [ref for ref in dict.fromkeys(refs) if ref not in self._cache]
        wanted = [tid for tid in dict.fromkeys(transaction_ids) if tid not in self._remembered]
        if not missing and not wanted:
            return
        commands: list[Command] = []
        if missing:
            commands.append(("MGET", *[self._keys.history(entity, key) for entity, key in missing]))
        if wanted:
            commands.append(("HMGET", self._keys.label_index, *wanted))
        replies = execute_packed(self._client, commands)
        if missing:
            for (entity, key), raw in zip(missing, replies[0], strict=True):
                self._cache[(entity, key)] = (
                    None if raw is None else decode_history(raw, self._plans[entity])
                )
        if wanted:
            for transaction_id, raw in zip(wanted, replies[-1], strict=True):
                self._remembered[transaction_id] = None if raw is None else _decode_remembered(raw)

    def processed(self, event_ids_by_day: dict[int, Sequence[str]]) -> set[str]:
        """Return which of the given event ids were applied in an earlier batch."""
        if not event_ids_by_day:
            return set()
        days = list(event_ids_by_day)
        replies = execute_packed(
            self._client,
            [("SMISMEMBER", self._keys.processed(day), *event_ids_by_day[day]) for day in days],
        )
        done: set[str] = set()
        for day, flags in zip(days, replies, strict=True):
            done.update(
                event_id
                for event_id, flag in zip(event_ids_by_day[day], flags, strict=True)
                if flag
            )
        return done

    def applied_up_to(self) -> int | None:
        """Return the latest event time a committed batch applied, or None."""
        raw = self._client.get(self._keys.applied_up_to)
        return None if raw is None else int(raw)

    def claim_feature_set(self) -> None:
        """Mark the prefix as state of this store's feature set, unless it is marked.

        Raises FeatureSetConflict when another feature set has marked it.
        """
        _check_feature_set(self._client, self._keys, self._feature_set, claim=True)

    def acquire_lease(self) -> bool:
        """Take the write lease when it is free or already ours; return whether it is ours."""
        lease = self._keys.lease
        if self._client.set(lease, self._token, nx=True, px=self._lease_ms):
            return True
        holder = self._client.get(lease)
        if holder is not None and holder.decode() == self._token:
            self._client.pexpire(lease, self._lease_ms)
            return True
        return False

    def release_lease(self) -> None:
        """Give the lease up when it is still ours, so a successor need not wait."""
        with self._client.pipeline() as pipeline:
            try:
                pipeline.watch(self._keys.lease)
                holder = pipeline.get(self._keys.lease)
                if holder is not None and holder.decode() == self._token:
                    pipeline.multi()
                    pipeline.delete(self._keys.lease)
                    pipeline.execute()
            except redis.WatchError:
                pass

    def commit(self, event_ids_by_day: dict[int, Sequence[str]], applied_up_to: int | None) -> None:
        """Write the batch's changes and record its event ids as processed, atomically.

        Raises LeaseLost, writing nothing, when another worker holds the lease.
        """
        keys = self._keys
        changes = self._changes
        with PackedSession(self._client) as session:
            _, holder = session.execute([("WATCH", keys.lease), ("GET", keys.lease)])
            if holder is None or _text(holder) != self._token:
                raise LeaseLost(
                    f"the write lease {keys.lease} is held by "
                    f"{None if holder is None else _text(holder)!r}, not by this worker"
                )
            forgotten: list[bytes] = []
            if changes.forget_before is not None:
                # Read before MULTI; only the lease holder writes these keys.
                (forgotten,) = session.execute(
                    [("ZRANGEBYSCORE", keys.label_times, "-inf", f"({changes.forget_before}")]
                )
            commands = self._change_commands(changes, event_ids_by_day, applied_up_to, forgotten)
            commands.append(("PEXPIRE", keys.lease, self._lease_ms))
            try:
                session.transaction(commands)
            except redis.WatchError:
                raise LeaseLost(f"the write lease {keys.lease} changed during a commit") from None
        self._changes = _Changes()
        self._evict()

    def encode_changes(self) -> None:
        """Encode the batch's changed histories now, so that ``commit`` only sends them.

        The worker calls this while another store write of the batch is in flight.
        A history saved afterwards makes ``commit`` encode them again.
        """
        self._changes.encoded = self._encoded_histories(self._changes)

    def _encoded_histories(self, changes: _Changes) -> dict[str, bytes]:
        encoded = {}
        arrays = self._event_arrays
        for ref in changes.histories:
            history = self._cache.get(ref)
            if history is not None:
                entity, key = ref
                encoded[self._keys.history(entity, key)], arrays[ref] = encode_history_reusing(
                    history, arrays.get(ref)
                )
        return encoded

    def rollback(self) -> None:
        """Forget everything cached, so the next batch reads the committed state."""
        self._cache.clear()
        self._event_arrays.clear()
        self._remembered.clear()
        self._remembered_order.clear()
        self._changes = _Changes()

    def trim_processed(self, before_day: int) -> int:
        """Delete processed-id sets of days before ``before_day``; return how many."""
        index = self._keys.processed_days
        days = [int(day) for day in self._client.zrangebyscore(index, "-inf", f"({before_day}")]
        if not days:
            return 0
        pipeline = self._client.pipeline(transaction=True)
        pipeline.delete(*[self._keys.processed(day) for day in days])
        pipeline.zrem(index, *[str(day) for day in days])
        pipeline.execute()
        return len(days)

    def _change_commands(
        self,
        changes: _Changes,
        event_ids_by_day: dict[int, Sequence[str]],
        applied_up_to: int | None,
        forgotten: list[bytes],
    ) -> list[Command]:
        keys = self._keys
        encoded = changes.encoded
        if encoded is None:
            encoded = self._encoded_histories(changes)
        commands: list[Command] = []
        if encoded:
            commands.append(("MSET", *[part for pair in encoded.items() for part in pair]))
        if changes.recalled:
            commands.append(("HDEL", keys.label_index, *changes.recalled))
            commands.append(("ZREM", keys.label_times, *changes.recalled))
        for start in range(0, len(forgotten), 10_000):
            chunk = forgotten[start : start + 10_000]
            commands.append(("HDEL", keys.label_index, *chunk))
            commands.append(("ZREM", keys.label_times, *chunk))
        if changes.remembered:
            remembered = changes.remembered
            entries: list[Argument] = ["HSET", keys.label_index]
            times: list[Argument] = ["ZADD", keys.label_times]
            for tid, (timestamp_ns, entity_keys) in remembered.items():
                entries += (tid, _encode_remembered(timestamp_ns, entity_keys))
                times += (timestamp_ns, tid)
            commands.append(entries)
            commands.append(times)
        for day, event_ids in event_ids_by_day.items():
            if event_ids:
                commands.append(("SADD", keys.processed(day), *event_ids))
                commands.append(("ZADD", keys.processed_days, day, day))
        if applied_up_to is not None:
            commands.append(("SET", keys.applied_up_to, applied_up_to))
        return commands

    def _evict(self) -> None:
        excess = len(self._cache) - self._max_cached
        while excess > 0:
            ref, _ = self._cache.popitem(last=False)
            self._event_arrays.pop(ref, None)
            excess -= 1
        if len(self._remembered) > self._max_cached:
            # Remembered transactions are re-read on demand; keep the newest half.
            items = list(self._remembered.items())
            self._remembered = dict(items[len(items) // 2 :])


class RedisFeatureStateReader:
    """Reads window state for serving; never writes."""

    def __init__(self, client: redis.Redis, feature_set: FeatureSet, prefix: str) -> None:
        self._client = client
        self._feature_set = feature_set
        self._plans: dict[str, EntityPlan] = {
            plan.entity.name: plan for plan in compile_plan(feature_set).entities
        }
        self._keys = StateKeys(prefix)

    def histories(self, refs: Sequence[EntityRef]) -> dict[EntityRef, EntityHistory]:
        """Return the stored histories of the given keys in one MGET; absent keys have none."""
        raws = self._client.mget([self._keys.history(entity, key) for entity, key in refs])
        return {
            (entity, key): decode_history(raw, self._plans[entity])
            for (entity, key), raw in zip(refs, raws, strict=True)
            if raw is not None
        }

    def check_feature_set(self) -> None:
        """Raise FeatureSetConflict when a worker of another feature set marked the prefix."""
        _check_feature_set(self._client, self._keys, self._feature_set, claim=False)

    def ping(self) -> bool:
        return bool(self._client.ping())
