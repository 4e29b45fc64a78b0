"""A follower delivers every appended record once and in order, however appends, reads,
commits, segment rolls and restarts of either side interleave."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from twinbank.adapters.journal import DurableJournal, JournalFollower

CURSORS = ("audit", "events")

append = st.tuples(st.just("append"), st.integers(1, 120))
read = st.tuples(st.just("read"), st.sampled_from(CURSORS), st.integers(1, 9), st.booleans())
restart = st.tuples(st.sampled_from(["restart-writer", "restart-follower"]))


@settings(max_examples=60, deadline=None)
@given(
    operations=st.lists(st.one_of(append, read, restart), max_size=60),
    segment_bytes=st.integers(40, 600),
)
def test_every_record_is_delivered_once_in_order(operations, segment_bytes):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        writer = DurableJournal(root, (), segment_bytes=segment_bytes)
        follower = JournalFollower(root, CURSORS)
        appended: list[bytes] = []
        delivered: dict[str, list[bytes]] = {name: [] for name in CURSORS}

        for operation in operations:
            if operation[0] == "append":
                record = f"{len(appended)}:".encode() + b"x" * operation[1]
                writer.append(record)
                appended.append(record)
            elif operation[0] == "read":
                _, cursor, limit, commit = operation
                records, position = follower.read(cursor, limit)
                expected = appended[len(delivered[cursor]) :][:limit]
                assert records == expected
                if commit:
                    follower.commit(cursor, position, len(records))
                    delivered[cursor].extend(records)
            elif operation[0] == "restart-writer":
                writer.close()
                writer = DurableJournal(root, (), segment_bytes=segment_bytes)
            else:
                follower.close()
                follower = JournalFollower(root, CURSORS)
            for cursor in CURSORS:
                assert follower.backlog(cursor) == len(appended) - len(delivered[cursor])

        for cursor in CURSORS:
            while True:
                records, position = follower.read(cursor, 50)
                if not records:
                    break
                follower.commit(cursor, position, len(records))
                delivered[cursor].extend(records)
            assert delivered[cursor] == appended
        follower.close()
        writer.close()
