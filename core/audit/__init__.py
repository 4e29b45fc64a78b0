"""The audit trail: hash-chained, append-only records of decisions and governance events.

Pure parts only: canonical encoding, chaining, verification, pseudonyms, decision
entries, archive periods and manifests, and the ports that stores implement.
"""

from .archive_manifest import RETENTION_YEARS, ArchiveManifest, Month, retention_date
from .archiving import ARCHIVED_KIND, ArchiveVerification, AuditArchiver, ChainBrokenDuringExport
from .canonical import NotCanonicallyEncodable, canonical_json
from .chain import (
    GENESIS_HASH,
    AuditEntry,
    ChainedRecord,
    ChainHead,
    chain_entries,
    head_after,
    record_hash,
)
from .decision_entries import (
    DECISION_KIND,
    FEATURE_SET_KIND,
    PSEUDONYMISED_FIELDS,
    DecisionEntries,
    FeatureSetNames,
    NotAuditable,
    feature_set_entry,
)
from .ports import AuditArchive, AuditTrail
from .pseudonyms import Pseudonymiser, WeakPseudonymisationKey
from .verification import (
    ChainProblem,
    ChainVerification,
    ChainWalker,
    ProblemKind,
    verify_chain,
)


def verify_trail(trail: AuditTrail, expected_head: ChainHead | None = None) -> ChainVerification:
    """Verify a whole stored trail from its genesis (see ``verify_chain``)."""
    return verify_chain(trail.records(), trail.seq_of, expected_head=expected_head)


__all__ = [
    "ARCHIVED_KIND",
    "DECISION_KIND",
    "FEATURE_SET_KIND",
    "GENESIS_HASH",
    "PSEUDONYMISED_FIELDS",
    "RETENTION_YEARS",
    "ArchiveManifest",
    "ArchiveVerification",
    "AuditArchive",
    "AuditArchiver",
    "AuditEntry",
    "AuditTrail",
    "ChainBrokenDuringExport",
    "ChainHead",
    "ChainProblem",
    "ChainVerification",
    "ChainWalker",
    "ChainedRecord",
    "DecisionEntries",
    "FeatureSetNames",
    "Month",
    "NotAuditable",
    "NotCanonicallyEncodable",
    "ProblemKind",
    "Pseudonymiser",
    "WeakPseudonymisationKey",
    "canonical_json",
    "chain_entries",
    "feature_set_entry",
    "head_after",
    "record_hash",
    "retention_date",
    "verify_chain",
    "verify_trail",
]
