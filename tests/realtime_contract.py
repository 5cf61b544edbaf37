"""Every realtime event a test sees is held to the AsyncAPI document (``/asyncapi.json``).

``RecordingPublisher`` (tests/fakes.py) checks each event the services publish, so the whole
suite proves the document describes what the code sends: an event type missing from it, a
field it does not declare, a value of the wrong type, fails the test that caused it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft7Validator, FormatChecker

from chalicelib.api.asyncapi import build_document


@cache
def document() -> dict[str, Any]:
    return build_document()


@cache
def _validator(message: str) -> Draft7Validator:
    # The document itself is the root, so the payload's $refs to #/components/schemas resolve.
    root = {**document(), "$ref": f"#/components/messages/{message}/payload"}
    return Draft7Validator(root, format_checker=FormatChecker())


def message_of(kind: str) -> str:
    """The document's message for an event type; AssertionError if it documents none."""
    for name, message in document()["components"]["messages"].items():
        if message["payload"].get("properties", {}).get("type", {}).get("const") == kind:
            return name
    raise AssertionError(f"the realtime event {kind!r} is not in /asyncapi.json")


def check_event(wire: dict[str, Any]) -> None:
    """``wire`` (an event as clients receive it) is valid against its message in the document."""
    errors = sorted(_validator(message_of(wire["type"])).iter_errors(wire), key=str)
    assert not errors, f"{wire['type']} does not match /asyncapi.json: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(event)'}: {e.message}" for e in errors[:3])


def check_action(frame: dict[str, Any]) -> None:
    """A client frame is one of the document's actions."""
    name = f"{str(frame.get('action')).capitalize()}Action"
    assert name in document()["components"]["messages"], f"no client action {frame.get('action')!r}"
    errors = list(_validator(name).iter_errors(frame))
    assert not errors, f"{frame} does not match /asyncapi.json: {errors[0].message}"
