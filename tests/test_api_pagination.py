"""Keyset cursors: one codec for every list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecowarn.api.errors import InvalidRequest
from ecowarn.api.pagination import CursorCodec, _encode


def test_cursor_codec_round_trips_and_refuses_what_it_did_not_make() -> None:
    """One codec for every list: keys round-trip with their types; a cursor of another list,
    a damaged key (wrong arity, naive time, wrong type, out-of-range id) is the same 422."""
    queue = CursorCodec("queue", datetime, float, int)
    now = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    assert queue.decode(queue.encode(now, 12, 7)) == (now, 12.0, 7)
    assert queue.decode(None) is None
    ids = CursorCodec("warnings", int)
    assert ids.decode_one(ids.encode(41)) == 41 and ids.decode_one(None) is None
    bad = [ids.encode(41),                                   # another list's cursor
           _encode("queue", [now.isoformat(), 1.0]),         # arity
           _encode("queue", ["2026-12-01T08:30:00", 1.0, 2]),  # naive time
           _encode("queue", [now.isoformat(), "x", 2]),      # type
           _encode("queue", [now.isoformat(), 1.0, True]),   # a bool is not an id
           _encode("queue", [now.isoformat(), 1.0, 2**63]),  # beyond bigint
           "not base64 at all!"]
    for cursor in bad:
        with pytest.raises(InvalidRequest) as info:
            queue.decode(cursor)
        assert info.value.fields[0].path == "query.cursor"
