"""Opaque list cursors: DynamoDB's LastEvaluatedKey, base64url-encoded JSON.

A cursor comes back from the client, so it is checked against the keys of the table or index
it pages before DynamoDB sees it: a start key with other attributes or other types is a
ValidationException there (a 500), and is ``invalid_cursor`` (400) here.

A list that DynamoDB cannot order for us (the live feed by listeners, raised hands by time)
is paged in memory with ``page_sorted``: its cursor has the same form and checks, and holds
the sort key of the last item sent, so the next page starts after it even if that item is gone.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pynamodb.attributes import Attribute
from pynamodb.indexes import Index
from pynamodb.models import Model

from chalicelib.errors import ValidationFailed

# DynamoDB's limit for a sort key (a partition key may take 2048 bytes; none of ours comes near).
_MAX_KEY_BYTES = 1024


def encode_cursor(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


T = TypeVar("T")


def decode_cursor(cursor: str | None, pages: type[Model] | Index[Any]) -> dict[str, Any] | None:
    """The start key a cursor holds for a query of ``pages`` (a model, or one of its indexes)."""
    return decode_cursor_keys(cursor, _key_names(pages))


def page_sorted(items: Sequence[T], sort_key: Callable[[T], tuple[str, ...]], names: tuple[str, ...],
                cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    """A page of ``items`` in ``sort_key`` order after the cursor's position; the cursor of the next one."""
    ordered = sorted(items, key=sort_key)
    start = decode_cursor_keys(cursor, set(names))
    if start is not None:
        after = tuple(start[name]["S"] for name in names)
        ordered = [item for item in ordered if sort_key(item) > after]
    page = ordered[:limit]
    if len(ordered) <= limit:
        return page, None
    return page, encode_cursor({name: {"S": value} for name, value in zip(names, sort_key(page[-1]), strict=True)})


def decode_cursor_keys(cursor: str | None, names: set[str]) -> dict[str, Any] | None:
    """The ``{name: {"S": value}}`` a cursor holds, refused unless it has exactly ``names``."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _invalid() from exc
    if not isinstance(value, dict):
        raise _invalid()
    if set(value) != names or not all(_is_string_key(typed) for typed in value.values()):
        raise _invalid()
    return value


def _key_names(pages: type[Model] | Index[Any]) -> set[str]:
    """The attributes of a start key for ``pages``: the table's key, plus an index's own key."""
    model: type[Model] = pages._model if isinstance(pages, Index) else pages
    attributes: list[Attribute[Any]] = list(model.get_attributes().values())
    if isinstance(pages, Index):
        attributes += pages.Meta.attributes.values()
    keys = [a for a in attributes if a.is_hash_key or a.is_range_key]
    assert all(a.attr_type == "S" for a in keys), f"{model.__name__} has a key that is not a string"
    return {a.attr_name for a in keys}


def _is_string_key(typed: Any) -> bool:
    """``{"S": "<1 to 1024 bytes>"}``, as DynamoDB writes a string key."""
    if not (isinstance(typed, dict) and list(typed) == ["S"] and isinstance(typed["S"], str)):
        return False
    return 0 < len(typed["S"].encode()) <= _MAX_KEY_BYTES


def _invalid() -> ValidationFailed:
    return ValidationFailed("The cursor is not valid.", code="invalid_cursor")
