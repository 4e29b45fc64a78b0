"""The local journal: decision records on disk until the audit database and the event
stream have accepted them."""

from .decision_log import JournalDecisionLog
from .follower import JournalFollower
from .forwarder import (
    CursorJournal,
    DecisionLogSink,
    ForwarderStatus,
    JournalForwarder,
    TransactionEventSink,
)
from .records import decode_record, decode_transaction, encode_record
from .segments import DurableJournal, InvalidJournal, Position

__all__ = [
    "CursorJournal",
    "DecisionLogSink",
    "DurableJournal",
    "ForwarderStatus",
    "InvalidJournal",
    "JournalDecisionLog",
    "JournalFollower",
    "JournalForwarder",
    "Position",
    "TransactionEventSink",
    "decode_record",
    "decode_transaction",
    "encode_record",
]
