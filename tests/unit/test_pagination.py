"""List cursors are opaque round-trips of DynamoDB keys; garbage is a 400."""

from __future__ import annotations

import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.models.pagination import decode_cursor, encode_cursor


def test_cursor_round_trip():
    key = {"followee_id": {"S": "a"}, "follower_id": {"S": "b"}}
    assert decode_cursor(encode_cursor(key)) == key
    assert encode_cursor(None) is None and decode_cursor(None) is None and decode_cursor("") is None


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWpzb24", "WzEsMl0", "eyJhIjoxfQ"])  # not b64, not json, a list, {"a":1}
def test_bad_cursors_are_validation_errors(cursor):
    with pytest.raises(ValidationFailed) as err:
        decode_cursor(cursor)
    assert err.value.code == "invalid_cursor"
