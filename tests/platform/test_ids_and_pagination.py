"""Ids sort by creation; cursors that this API did not issue are refused."""

from __future__ import annotations

import time

import pytest

from mindlinks.platform.errors import InvalidInput
from mindlinks.platform.ids import id_at, new_id
from mindlinks.platform.pagination import _decode_cursor, _encode_cursor


def test_ids_strictly_increase_even_within_one_millisecond():
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 26 for i in ids)


def test_id_at_makes_the_id_new_id_makes_at_that_millisecond():
    millis = int(time.time() * 1000)
    made = new_id()
    replayed = [id_at(millis + step, bits) for step, bits in ((0, 0), (1, 2**80 - 1), (2, 5))]
    assert all(len(i) == len(made) == 26 for i in replayed)
    assert replayed == sorted(replayed)  # time first, as new_id's
    assert replayed[0][:10] <= made[:10] <= id_at(millis + 60_000, 0)[:10]
    assert id_at(millis, 2**80 + 7) == id_at(millis, 7)  # only 80 random bits


def test_a_cursor_round_trips():
    value = new_id()
    assert _decode_cursor(_encode_cursor(value)) == value


@pytest.mark.parametrize("junk", ["%%%", "", "abc", "bm90LWFuLWlk", "!" * 40])
def test_junk_cursors_are_422(junk):
    with pytest.raises(InvalidInput):
        _decode_cursor(junk)
