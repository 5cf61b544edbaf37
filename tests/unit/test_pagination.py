"""List cursors are opaque round-trips of DynamoDB keys; garbage is a 400."""

from __future__ import annotations

import pytest

from chalicelib.errors import ValidationFailed
from chalicelib.models.follows import FollowModel
from chalicelib.models.notifications import NotificationModel
from chalicelib.models.pagination import decode_cursor, encode_cursor


def test_cursor_round_trip():
    key = {"followee_id": {"S": "a"}, "follower_id": {"S": "b"}}
    assert decode_cursor(encode_cursor(key), FollowModel) == key
    assert encode_cursor(None) is None and decode_cursor(None, FollowModel) is None and decode_cursor("", FollowModel) is None


def test_an_index_cursor_holds_the_table_key_and_the_index_key():
    key = {"user_id": {"S": "u"}, "key": {"S": "k"}, "sort_at": {"S": "2026-01-01T00:00:00Z#k"}}
    assert decode_cursor(encode_cursor(key), NotificationModel.by_time) == key
    with pytest.raises(ValidationFailed):
        decode_cursor(encode_cursor({"user_id": {"S": "u"}, "key": {"S": "k"}}), NotificationModel.by_time)


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWpzb24", "WzEsMl0", "eyJhIjoxfQ"])  # not b64, not json, a list, {"a":1}
def test_bad_cursors_are_validation_errors(cursor):
    with pytest.raises(ValidationFailed) as err:
        decode_cursor(cursor, FollowModel)
    assert err.value.code == "invalid_cursor"
