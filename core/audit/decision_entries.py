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

from ..decisions import DecisionRecord, Outcome, StageLatency
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


_TEXT_CACHE_LIMIT = 1_024
"""Maximum entries of each cache of repeated texts (versions, reason codes); a full
cache is cleared."""

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
        self._middle_texts: dict[tuple[str, Outcome, str, tuple[str, ...]], str] = {}
        self._list_texts: dict[tuple[str, ...], str] = {}
        self._string_texts: dict[str, str] = {}

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
        known = self._known_decision(record, feature_sets)
        if known is None:
            feature_sets = []
            try:
                body = self._plain(record, feature_sets)
            except NotAuditable as error:
                raise error.within("record") from None
            body_json = None
        else:
            body, body_json = known
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
            body_json=_ENCODER.encode(body) if body_json is None else body_json,
        )
        return entry, feature_sets

    def _known_decision(
        self, record: object, feature_sets: list[FeatureSetNames]
    ) -> tuple[dict[str, Any], str] | None:
        """Return the plain body of a ``DecisionRecord`` of the known layout and its
        canonical text, equal to what the generic walk and ``_ENCODER`` return.

        Returns None for any other record, and for values that the generic walk must
        convert or name in its error. Such values are numbers that are not exactly
        ``int`` or finite ``float`` (a NaN score, numpy scalars), string subclasses and
        lists in place of tuples. Every replayed decision takes this path, which skips
        the generic walk's per-field dispatch and the encoder's key sorting.
        """
        if not _KNOWN_DECISION_LAYOUT or type(record) is not DecisionRecord:
            return None
        transaction, latency, features = record.transaction, record.latency, record.features
        if (
            type(transaction) is not Transaction
            or type(latency) is not StageLatency
            or type(features) is not FeatureVector
            or type(record.decision_id) is not str
            or type(features.feature_set_version) is not str
        ):
            return None
        integers = (
            transaction.transaction_id,
            transaction.timestamp_ns,
            transaction.customer_id,
            transaction.terminal_id,
            record.decided_at_ns,
            latency.features_ns,
            latency.scoring_ns,
            latency.policy_ns,
        )
        if not all(type(value) is int for value in integers):
            return None
        score, amount = record.score, transaction.amount
        if type(score) is not float or type(amount) is not float:
            return None
        if not (math.isfinite(score) and math.isfinite(amount)):
            return None
        middle = self._middle_text(record)
        degraded = self._string_list_text(record.degraded)
        if middle is None or degraded is None:
            return None
        try:
            plain_features = _plain_features(features, feature_sets)
            explanation = self._plain(record.explanation, feature_sets)
        except NotAuditable:
            return None
        customer = self._pseudonymiser.pseudonym("customer", transaction.customer_id)
        body = {
            "decision_id": record.decision_id,
            "transaction": {
                "transaction_id": transaction.transaction_id,
                "timestamp_ns": transaction.timestamp_ns,
                "customer_pseudonym": customer,
                "terminal_id": transaction.terminal_id,
                "amount": amount,
            },
            "decided_at_ns": record.decided_at_ns,
            "score": score,
            "outcome": record.outcome.value,
            "reasons": list(record.reasons),
            "policy_version": record.policy_version,
            "model_version": record.model_version,
            "features": plain_features,
            "latency": {
                "features_ns": latency.features_ns,
                "scoring_ns": latency.scoring_ns,
                "policy_ns": latency.policy_ns,
            },
            "degraded": list(record.degraded),
            "explanation": explanation,
        }
        values = plain_features["values"]
        values_text = (
            _json_list(values) if None in values else f"[{','.join(map(float.__repr__, values))}]"
        )
        # The keys in sorted order at every level, as ``_ENCODER`` writes them.
        text = (
            f'{{"decided_at_ns":{record.decided_at_ns}'
            f',"decision_id":{canonical_string(record.decision_id)}'
            f',"degraded":{degraded}'
            f',"explanation":{"null" if explanation is None else _ENCODER.encode(explanation)}'
            f',"features":{{"feature_set_version":'
            f"{self._string_text(features.feature_set_version)}"
            f',"values":{values_text}}}'
            f',"latency":{{"features_ns":{latency.features_ns}'
            f',"policy_ns":{latency.policy_ns}'
            f',"scoring_ns":{latency.scoring_ns}}}'
            f"{middle}{float.__repr__(score)}"
            f',"transaction":{{"amount":{float.__repr__(amount)}'
            f',"customer_pseudonym":{canonical_string(customer)}'
            f',"terminal_id":{transaction.terminal_id}'
            f',"timestamp_ns":{transaction.timestamp_ns}'
            f',"transaction_id":{transaction.transaction_id}}}}}'
        )
        return body, text

    def _middle_text(self, record: DecisionRecord) -> str | None:
        """Return the text from ``"model_version"`` to ``"score":`` of a known decision's
        canonical JSON, or None when one of its values needs the generic walk.

        These fields take few distinct values in a replay, so their texts are kept.
        """
        outcome, reasons = record.outcome, record.reasons
        model_version, policy_version = record.model_version, record.policy_version
        if (
            type(outcome) is not Outcome
            or type(reasons) is not tuple
            or type(model_version) is not str
            or type(policy_version) is not str
        ):
            return None
        key = (model_version, outcome, policy_version, reasons)
        text = self._middle_texts.get(key)
        if text is None:
            reasons_text = self._string_list_text(reasons)
            if reasons_text is None:
                return None
            if len(self._middle_texts) >= _TEXT_CACHE_LIMIT:
                self._middle_texts.clear()
            text = self._middle_texts[key] = (
                f',"model_version":{canonical_string(model_version)}'
                f',"outcome":{canonical_string(outcome.value)}'
                f',"policy_version":{canonical_string(policy_version)}'
                f',"pseudonym_key_id":{canonical_string(self._pseudonymiser.key_id)}'
                f',"reasons":{reasons_text},"score":'
            )
        return text

    def _string_list_text(self, items: object) -> str | None:
        """Return the canonical text of a tuple of strings, or None for anything else."""
        if type(items) is not tuple:
            return None
        text = self._list_texts.get(items)
        if text is None:
            if not all(type(item) is str for item in items):
                return None
            if len(self._list_texts) >= _TEXT_CACHE_LIMIT:
                self._list_texts.clear()
            text = self._list_texts[items] = f"[{','.join(map(canonical_string, items))}]"
        return text

    def _string_text(self, value: str) -> str:
        text = self._string_texts.get(value)
        if text is None:
            if len(self._string_texts) >= _TEXT_CACHE_LIMIT:
                self._string_texts.clear()
            text = self._string_texts[value] = canonical_string(value)
        return text

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


# The fields that ``DecisionEntries._known_decision`` copies; a change to these classes
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
