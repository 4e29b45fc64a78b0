"""Decision records as audit entries: plain data, pseudonymised identifiers.

The conversion walks the record's fields generically (dataclasses and pydantic models,
enums, tuples, mappings, numbers), so fields added to ``DecisionRecord`` later, such as
explanations or lineage, reach the audit trail without a change here. Fields named in
``PSEUDONYMISED_FIELDS`` are replaced, at any depth, by their keyed-hash pseudonym
under ``<kind>_pseudonym``. Feature values are stored in the order of their feature set,
whose names are recorded once per feature-set version in a ``feature_set`` entry.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any

from pydantic import BaseModel

from ..decisions import DecisionRecord, StageLatency
from ..features.vector import FeatureVector
from ..transactions import Transaction
from .canonical import canonical_string
from .chain import AuditEntry
from .pseudonyms import Pseudonymiser

DECISION_KIND = "decision"
FEATURE_SET_KIND = "feature_set"

PSEUDONYMISED_FIELDS: Mapping[str, str] = {
    "customer_id": "customer",
    "card_id": "card",
    "card_number": "card",
    "account_id": "account",
}
"""Identifier fields replaced by pseudonyms, mapped to the kind of identifier."""

# The same settings as ``canonical_json``; decision bodies are built from plain data
# only, so the separate plain-data check is skipped on this hot path.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


class NotAuditable(ValueError):
    """A decision record contains a value that has no plain-data form; ``path`` names it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def within(self, name: str) -> NotAuditable:
        return NotAuditable(f"{name}.{self.path}" if self.path else name, self.problem)


@dataclasses.dataclass(frozen=True, slots=True)
class FeatureSetNames:
    """The names of a feature-set version, as its decisions' feature values refer to them."""

    version: str
    names: tuple[str, ...]


_Converter = Callable[[Any, list[FeatureSetNames]], Any]


class DecisionEntries:
    """Converts decision records to audit entries under one pseudonymisation key."""

    def __init__(self, pseudonymiser: Pseudonymiser) -> None:
        self._pseudonymiser = pseudonymiser
        self._converters: dict[type, _Converter] = {
            type(None): _same,
            bool: _same,
            int: _same,
            str: _same,
            float: _plain_float,
            FeatureVector: _plain_features,
        }

    @property
    def key_id(self) -> str:
        return self._pseudonymiser.key_id

    def entry(self, record: object) -> tuple[AuditEntry, list[FeatureSetNames]]:
        """Return the audit entry of a decision record and the feature sets it refers to.

        The record must have ``decision_id`` and ``decided_at_ns`` fields. NaN values
        become null. Raises NotAuditable, naming the field, for an infinite number or a
        value with no plain-data form.
        """
        feature_sets: list[FeatureSetNames] = []
        body = self._decision_body(record, feature_sets)
        known_layout = body is not None
        if body is None:
            feature_sets = []
            try:
                body = self._plain(record, feature_sets)
            except NotAuditable as error:
                raise error.within("record") from None
        if not isinstance(body, dict) or "decision_id" not in body or "decided_at_ns" not in body:
            raise NotAuditable(
                type(record).__name__,
                "not a decision record: it needs decision_id and decided_at_ns fields",
            )
        body["pseudonym_key_id"] = self._pseudonymiser.key_id
        transaction = body.get("transaction")
        customer = transaction.get("customer_pseudonym") if isinstance(transaction, dict) else None
        entry = AuditEntry(
            kind=DECISION_KIND,
            recorded_at_ns=int(body["decided_at_ns"]),
            body=body,
            decision_id=str(body["decision_id"]),
            model_id=_optional_str(body.get("model_id")),
            model_version=_optional_str(body.get("model_version")),
            customer_pseudonym=_optional_str(customer),
            body_json=_decision_json(body) if known_layout else _ENCODER.encode(body),
        )
        return entry, feature_sets

    def _decision_body(
        self, record: object, feature_sets: list[FeatureSetNames]
    ) -> dict[str, Any] | None:
        """Return the plain body of a ``DecisionRecord`` of the known layout, field by
        field, equal to what the generic walk returns; None for any other record, or
        for a value the generic walk must name in its error.

        Every replayed decision takes this path, which skips the generic walk's
        per-field dispatch.
        """
        if not _KNOWN_DECISION_LAYOUT or type(record) is not DecisionRecord:
            return None
        transaction, latency = record.transaction, record.latency
        if type(transaction) is not Transaction or type(latency) is not StageLatency:
            return None
        if type(record.features) is not FeatureVector or transaction.customer_id is None:
            return None
        plain = self._plain
        try:
            customer = plain(transaction.customer_id, feature_sets)
            return {
                "decision_id": plain(record.decision_id, feature_sets),
                "transaction": {
                    "transaction_id": plain(transaction.transaction_id, feature_sets),
                    "timestamp_ns": plain(transaction.timestamp_ns, feature_sets),
                    "customer_pseudonym": self._pseudonymiser.pseudonym("customer", customer),
                    "terminal_id": plain(transaction.terminal_id, feature_sets),
                    "amount": plain(transaction.amount, feature_sets),
                },
                "decided_at_ns": plain(record.decided_at_ns, feature_sets),
                "score": plain(record.score, feature_sets),
                "outcome": plain(record.outcome, feature_sets),
                "reasons": self._plain_sequence(record.reasons, feature_sets),
                "policy_version": plain(record.policy_version, feature_sets),
                "model_version": plain(record.model_version, feature_sets),
                "features": _plain_features(record.features, feature_sets),
                "latency": {
                    "features_ns": plain(latency.features_ns, feature_sets),
                    "scoring_ns": plain(latency.scoring_ns, feature_sets),
                    "policy_ns": plain(latency.policy_ns, feature_sets),
                },
                "degraded": self._plain_sequence(record.degraded, feature_sets),
                "explanation": plain(record.explanation, feature_sets),
            }
        except NotAuditable:
            return None

    def _plain(self, value: Any, feature_sets: list[FeatureSetNames]) -> Any:
        converter = self._converters.get(type(value))
        if converter is None:
            converter = self._converter_for(value)
            self._converters[type(value)] = converter
        return converter(value, feature_sets)

    def _converter_for(self, value: Any) -> _Converter:
        kind = type(value)
        if isinstance(value, Enum):
            return lambda item, feature_sets: self._plain(item.value, feature_sets)
        if isinstance(value, int):
            return lambda item, _feature_sets: int(item)
        if isinstance(value, str):
            return lambda item, _feature_sets: str(item)
        if isinstance(value, float):
            return _plain_float
        if isinstance(value, Mapping):
            return lambda item, feature_sets: self._plain_fields(
                [str(key) for key in item], item.__getitem__, feature_sets
            )
        if isinstance(value, list | tuple):
            return self._plain_sequence
        names = _field_names(value)
        if names is not None:
            return lambda item, feature_sets: self._plain_fields(
                names, item.__getattribute__, feature_sets
            )
        item_method = getattr(value, "item", None)
        if callable(item_method):  # numpy scalars
            return lambda item, feature_sets: self._plain(item.item(), feature_sets)
        raise NotAuditable(
            "",
            f"a {kind.__name__} ({value!r}) has no plain-data form; decision records may "
            "hold dataclasses, pydantic models, enums, numbers, strings, tuples and mappings",
        )

    def _plain_sequence(self, value: Any, feature_sets: list[FeatureSetNames]) -> list[Any]:
        plain = []
        for index, item in enumerate(value):
            try:
                plain.append(self._plain(item, feature_sets))
            except NotAuditable as error:
                raise error.within(f"[{index}]") from None
        return plain

    def _plain_fields(
        self,
        names: Iterable[str],
        value_of: Callable[[str], Any],
        feature_sets: list[FeatureSetNames],
    ) -> dict[str, Any]:
        plain: dict[str, Any] = {}
        for name in names:
            item = value_of(name)
            kind = type(item)
            # Plain values are copied inline: this loop runs for every field of every
            # decision of a replay.
            if kind is str or kind is int or kind is bool or item is None:
                if name in PSEUDONYMISED_FIELDS and item is not None:
                    pseudonym_kind = PSEUDONYMISED_FIELDS[name]
                    plain[f"{pseudonym_kind}_pseudonym"] = self._pseudonymiser.pseudonym(
                        pseudonym_kind, item
                    )
                else:
                    plain[name] = item
                continue
            try:
                if name in PSEUDONYMISED_FIELDS:
                    pseudonym_kind = PSEUDONYMISED_FIELDS[name]
                    plain[f"{pseudonym_kind}_pseudonym"] = self._pseudonymiser.pseudonym(
                        pseudonym_kind, self._plain(item, feature_sets)
                    )
                else:
                    plain[name] = self._plain(item, feature_sets)
            except NotAuditable as error:
                raise error.within(name) from None
        return plain


def feature_set_entry(feature_set: FeatureSetNames, recorded_at_ns: int) -> AuditEntry:
    """Return the entry that records the names of a feature-set version."""
    return AuditEntry(
        kind=FEATURE_SET_KIND,
        recorded_at_ns=recorded_at_ns,
        body={"feature_set_version": feature_set.version, "names": list(feature_set.names)},
    )


def _same(value: Any, _feature_sets: list[FeatureSetNames]) -> Any:
    return value


def _plain_float(value: float, _feature_sets: list[FeatureSetNames] | None = None) -> float | None:
    if math.isnan(value):  # the null of feature values
        return None
    if math.isinf(value):
        raise NotAuditable("", f"{value} is not finite; an audited number must be finite")
    return float(value)


def _plain_features(value: FeatureVector, feature_sets: list[FeatureSetNames]) -> dict[str, Any]:
    feature_sets.append(FeatureSetNames(value.feature_set_version, value.names))
    finite = [float(item) for item in value.values]
    if all(map(math.isfinite, finite)):
        return {"feature_set_version": value.feature_set_version, "values": finite}
    values = []
    for name, item in zip(value.names, value.values, strict=True):
        try:
            values.append(_plain_float(float(item)))
        except NotAuditable as error:
            raise error.within(f"features.{name}") from None
    return {"feature_set_version": value.feature_set_version, "values": values}


def _field_names(value: Any) -> tuple[str, ...] | None:
    kind = type(value)
    if dataclasses.is_dataclass(kind):
        return tuple(field.name for field in dataclasses.fields(kind))
    if isinstance(value, BaseModel):
        return tuple(type(value).model_fields)
    return None


def _decision_json(body: dict[str, Any]) -> str:
    """Return ``_ENCODER.encode(body)`` for a body built by ``_decision_body``.

    The text is assembled in sorted key order from the known layout, and each value is
    encoded as the encoder would encode it (see ``_json_value``). This skips the
    encoder's key sorting of every object on the hot path.
    """
    transaction, features, latency = body["transaction"], body["features"], body["latency"]
    return "".join(
        (
            '{"decided_at_ns":',
            _json_value(body["decided_at_ns"]),
            ',"decision_id":',
            _json_value(body["decision_id"]),
            ',"degraded":',
            _json_list(body["degraded"]),
            ',"explanation":',
            _json_value(body["explanation"]),
            ',"features":{"feature_set_version":',
            _json_value(features["feature_set_version"]),
            ',"values":',
            _json_list(features["values"]),
            '},"latency":{"features_ns":',
            _json_value(latency["features_ns"]),
            ',"policy_ns":',
            _json_value(latency["policy_ns"]),
            ',"scoring_ns":',
            _json_value(latency["scoring_ns"]),
            '},"model_version":',
            _json_value(body["model_version"]),
            ',"outcome":',
            _json_value(body["outcome"]),
            ',"policy_version":',
            _json_value(body["policy_version"]),
            ',"pseudonym_key_id":',
            _json_value(body["pseudonym_key_id"]),
            ',"reasons":',
            _json_list(body["reasons"]),
            ',"score":',
            _json_value(body["score"]),
            ',"transaction":{"amount":',
            _json_value(transaction["amount"]),
            ',"customer_pseudonym":',
            _json_value(transaction["customer_pseudonym"]),
            ',"terminal_id":',
            _json_value(transaction["terminal_id"]),
            ',"timestamp_ns":',
            _json_value(transaction["timestamp_ns"]),
            ',"transaction_id":',
            _json_value(transaction["transaction_id"]),
            "}}",
        )
    )


def _json_value(value: Any) -> str:
    """Return the encoder's text of one plain value: floats and integers by ``repr``,
    as ``json`` writes them, strings as ``canonical_string`` does."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is float:
        return float.__repr__(value)
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return canonical_string(value)
    return _ENCODER.encode(value)


def _json_list(values: list[Any]) -> str:
    return "[" + ",".join(map(_json_value, values)) + "]"


def _field_layout(kind: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(kind))


# The fields that ``DecisionEntries._decision_body`` copies; a change to these classes
# turns it off, so that the generic walk carries new fields to the audit trail.
_KNOWN_DECISION_LAYOUT = (
    _field_layout(DecisionRecord)
    == (
        "decision_id",
        "transaction",
        "decided_at_ns",
        "score",
        "outcome",
        "reasons",
        "policy_version",
        "model_version",
        "features",
        "latency",
        "degraded",
        "explanation",
    )
    and _field_layout(Transaction)
    == ("transaction_id", "timestamp_ns", "customer_id", "terminal_id", "amount")
    and _field_layout(StageLatency) == ("features_ns", "scoring_ns", "policy_ns")
)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
