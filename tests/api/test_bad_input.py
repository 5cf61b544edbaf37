"""Bad input gets a 4xx in the error envelope and changes nothing: path ids that cannot name
anything, cursors that are not ours, unfollowing yourself, a device token someone else
registered. Each of these once answered 500."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

from moto.sns.models import sns_backends

from chalicelib.api import ROUTERS
from chalicelib.models import ALL_MODELS
from chalicelib.models.follows import FollowModel
from chalicelib.models.notifications import DeviceModel, NotificationModel
from tests.api.rooms_support import make_person, open_room

ALL_SPECS = [spec for router in ROUTERS for spec in router.specs]
# Bodies that pass validation, so the path id is what answers.
VALID_BODIES = {"/v1/spaces/{space_id}": {"title": "x"}, "/v1/spaces/{space_id}/messages": {"text": "hi"},
                "/v1/spaces/{space_id}/participants/{user_id}": {"role": "speaker"},
                "/v1/internal/spaces/{space_id}/speaking": {"speakers": []},
                "/v1/staff/reports/{report_id}/resolution": {"outcome": "dismissed"}}
NOT_FOUND_CODES = {"space_id": "space_not_found", "user_id": "user_not_found", "reset_token": "reset_token_invalid",
                   "device_token": "not_found", "report_id": "report_not_found"}
# Device tokens are not ids (FCM's run to ~160 characters): their bound is 4096.
TOO_LONG = {"device_token": 4097}


def _bad_path_ids():
    """(route, parameter, bad value) for every path parameter of every route: over 1 KB, and
    empty where the parameter is not the path's last segment (``/v1/spaces/`` is the list)."""
    for spec in ALL_SPECS:
        for name in re.findall(r"{(\w+)}", spec.path):
            yield spec, name, "A" * TOO_LONG.get(name, 1100)
            if not spec.path.endswith(f"{{{name}}}"):
                yield spec, name, ""


def _snapshot() -> dict[str, int]:
    return {model.__name__: model.count() for model in ALL_MODELS}


def test_a_path_id_that_cannot_name_anything_is_not_found_and_changes_nothing(api):
    """Every path parameter of every route, one rule: 404 with the resource's code, no write."""
    room = open_room(api)
    real = {"space_id": room.space_id, "user_id": room.listener.id, "reset_token": "x" * 43,
            "device_token": "fcm-token-0123456789", "report_id": "01J0000000000000000000000X"}
    before, wrong = _snapshot(), []
    for spec, name, bad in _bad_path_ids():
        path = spec.path
        for param, value in real.items():
            path = path.replace(f"{{{param}}}", bad if param == name else value)
        reply = api.call(spec.method, path, body=VALID_BODIES.get(spec.path, {}) if spec.body else None,
                         token=room.host.token)
        if spec.error_page is not None:  # a page for people (the share page): a 404 page, not JSON
            if reply.status != 404 or not reply.headers.get("Content-Type", "").startswith("text/html"):
                wrong.append((spec.method, spec.path, name, len(bad), reply.status, reply.body))
            continue
        envelope = {"code", "message", "request_id"}
        if reply.status != 404 or reply.error_code != NOT_FOUND_CODES[name] or set(reply.body["error"]) != envelope:
            wrong.append((spec.method, spec.path, name, len(bad), reply.status, reply.body))
    assert not wrong
    assert _snapshot() == before
    assert api.post("/v1/spaces//join", token=room.outsider.token).error_code == "space_not_found"  # the issue's own


def test_the_spec_declares_the_bounds_of_path_ids(api):
    doc = api.get("/openapi.json").body
    join = doc["paths"]["/v1/spaces/{space_id}/join"]["post"]["parameters"]
    assert join == [{"name": "space_id", "in": "path", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 64}}]


def _cursor(key: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


# Well-formed cursors (base64 of a JSON object of typed values) that no list of ours wrote.
FOREIGN_CURSORS = {
    "other fields": _cursor({"password_hash": {"S": "x"}}),
    "one field short": _cursor({"follower_id": {"S": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}}),
    "a field too many": _cursor({"follower_id": {"S": "a"}, "followee_id": {"S": "b"}, "user_id": {"S": "c"}}),
    "wrong type": _cursor({"follower_id": {"X": "a"}, "followee_id": {"S": "b"}}),
    "number": _cursor({"follower_id": {"N": "1"}, "followee_id": {"S": "b"}}),
    "empty key": _cursor({"follower_id": {"S": ""}, "followee_id": {"S": "b"}}),
    "key over 1 KB": _cursor({"follower_id": {"S": "a"}, "followee_id": {"S": "b" * 1100}}),
    "empty object": _cursor({}),
}


def test_a_cursor_with_the_wrong_fields_is_invalid_on_every_list(api):
    room = open_room(api)
    lists = [f"/v1/users/{room.host.id}/followers", f"/v1/users/{room.host.id}/following", "/v1/me/notifications",
             "/v1/spaces", f"/v1/spaces?creator_id={room.host.id}", f"/v1/spaces/{room.space_id}/messages",
             f"/v1/spaces/{room.space_id}/audit", f"/v1/spaces/{room.space_id}/buyers"]
    wrong = []
    for kind, cursor in FOREIGN_CURSORS.items():
        for path in lists:
            reply = api.get(f"{path}{'&' if '?' in path else '?'}cursor={cursor}", token=room.host.token)
            if reply.status != 400 or reply.error_code != "invalid_cursor":
                wrong.append((kind, path, reply.status, reply.body))
    assert not wrong


def test_a_cursor_a_list_wrote_still_pages_it(api):
    room = open_room(api)
    for person in (room.cohost, room.speaker, room.listener):
        assert api.put(f"/v1/me/following/{room.host.id}", token=person.token).status == 200
    first = api.get(f"/v1/users/{room.host.id}/followers?limit=2", token=room.host.token).body
    second = api.get(f"/v1/users/{room.host.id}/followers?limit=2&cursor={first['next_cursor']}",
                     token=room.host.token).body
    assert len(first["users"]) == 2 and len(second["users"]) == 1


def test_unfollowing_yourself_is_refused_like_following_yourself(api):
    me, token = api.sign_up("narcissus")
    before = api.get("/v1/me", token=token).body
    follow = api.put(f"/v1/me/following/{me}", token=token)
    unfollow = api.delete(f"/v1/me/following/{me}", token=token)
    assert follow.status == unfollow.status == 422
    assert follow.error_code == unfollow.error_code == "cannot_follow_self"
    assert api.get("/v1/me", token=token).body == before
    assert FollowModel.count() == 0


def test_a_device_token_moves_to_whoever_registers_it_last(api, container):
    first, second = make_person(api, "first"), make_person(api, "second")
    device = {"platform": "fcm", "token": "fcm-token-of-a-shared-phone"}
    mine = api.post("/v1/me/devices", device, token=first.token)
    theirs = api.post("/v1/me/devices", device, token=second.token)
    assert mine.status == theirs.status == 201, theirs.body
    arn = mine.body["endpoint_arn"]
    assert theirs.body["endpoint_arn"] == arn  # one device, one endpoint
    assert arn not in (DeviceModel.get(first.id).endpoint_arns or set())
    assert DeviceModel.get(second.id).endpoint_arns == {arn}
    endpoint = sns_backends["123456789012"]["us-east-1"].platform_endpoints[arn]
    assert endpoint.attributes["CustomUserData"] == second.id

    # A notification for each of them reaches the phone once: for the one signed in on it.
    now = datetime.now(UTC)
    container.devices.push([NotificationModel(user_id=person.id, key=f"space.live#S{i}", kind="space.live",
                                              space_id=f"S{i}", title="live", body=person.id, created_at=now)
                            for i, person in enumerate((first, second))])
    assert [json.loads(m)["default"] for m in endpoint.messages.values()] == [second.id]

    # And back again, when the first signs in on it again.
    assert api.post("/v1/me/devices", device, token=first.token).body["endpoint_arn"] == arn
    assert DeviceModel.get(first.id).endpoint_arns == {arn}
    assert not DeviceModel.get(second.id).endpoint_arns


def test_registering_a_disabled_device_again_enables_it(api):
    person = make_person(api, "phoenix")
    device = {"platform": "apns", "token": "apns-token-of-a-phone"}
    arn = api.post("/v1/me/devices", device, token=person.token).body["endpoint_arn"]
    endpoint = sns_backends["123456789012"]["us-east-1"].platform_endpoints[arn]
    endpoint.attributes["Enabled"] = False  # APNs said the token was dead; the app got a new one... the same
    again = api.post("/v1/me/devices", device, token=person.token)
    assert again.status == 201 and again.body["endpoint_arn"] == arn
    assert endpoint.enabled


# Found by the schema-driven fuzz run (test_fuzz.py).
def test_an_empty_recipient_is_a_bad_body_not_a_lookup(api):
    room = open_room(api)
    reply = api.post(f"/v1/spaces/{room.space_id}/messages", {"text": "hi", "to_user_id": ""}, token=room.speaker.token)
    assert reply.status == 400 and reply.error_code == "validation_error"
    assert api.get(f"/v1/spaces/{room.space_id}/messages", token=room.speaker.token).body["messages"] == []


def test_a_device_token_with_control_characters_is_refused(api):
    person = make_person(api, "tinkerer")
    for token in ("abc\u0000defgh", "with spaces in it", "é-not-ascii-token"):
        reply = api.post("/v1/me/devices", {"platform": "apns", "token": token}, token=person.token)
        assert reply.status == 400 and reply.error_code == "validation_error", (token, reply.body)
    assert DeviceModel.count() == 0
