"""Ids sort by creation; cursors that this API did not issue are refused."""

from __future__ import annotations

import pytest

from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.ids import new_id
from mindlinks.platform.pagination import _decode_cursor, _encode_cursor


def test_ids_strictly_increase_even_within_one_millisecond():
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)


def test_a_cursor_round_trips():
    value = new_id()
    assert _decode_cursor(_encode_cursor(value)) == value


@pytest.mark.parametrize("junk", ["%%%", "", "abc", "bm90LWFuLWlk", "!" * 40])
def test_junk_cursors_are_422(junk):
    with pytest.raises(InvalidInput):
        _decode_cursor(junk)
