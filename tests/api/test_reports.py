"""Reports: anyone signed in reports a space, a user or a chat message, for a reason from a
fixed list; the target must exist; one open report per reporter and target; the reporter
learns nothing back but "received", and cannot read reports."""

from __future__ import annotations

import pytest

from chalicelib.models.reports import REASONS, OpenReportClaimModel, ReportModel
from tests.api.rooms_support import make_person, open_room
from tests.api.trust_support import make_staff, report


@pytest.fixture
def room(api):
    return open_room(api)


def chat(api, room, sender, text, to=None):
    body = {"text": text} if to is None else {"text": text, "to_user_id": to.id}
    reply = api.post(f"/v1/spaces/{room.space_id}/messages", body, token=sender.token)
    assert reply.status == 201, reply.body
    return reply.body["id"]


def test_a_report_on_a_space_is_received_and_tells_nothing_else(api, room):
    reply = report(api, room.listener, {"type": "space", "id": room.space_id}, "harassment", details="slurs on stage")
    assert reply.status == 201, reply.body
    assert set(reply.body) == {"id", "status"} and reply.body["status"] == "received"
    stored = ReportModel.get(reply.body["id"])
    assert (stored.reporter_id, stored.target_type, stored.target_id, stored.reason, stored.details, stored.status) == (
        room.listener.id, "space", room.space_id, "harassment", "slurs on stage", "open")


def test_a_user_and_a_message_can_be_reported(api, room):
    assert report(api, room.listener, {"type": "user", "id": room.speaker.id}, "impersonation").status == 201
    message_id = chat(api, room, room.speaker, "buy my coin")
    reply = report(api, room.listener, {"type": "message", "id": message_id, "space_id": room.space_id})
    assert reply.status == 201, reply.body
    stored = ReportModel.get(reply.body["id"])
    assert stored.evidence.as_dict() == {"text": "buy my coin", "sender_id": room.speaker.id}  # kept as it was


def test_every_listed_reason_is_accepted_and_any_other_refused(api, room):
    for i, reason in enumerate(REASONS):
        target = make_person(api, f"target{i}")
        assert report(api, room.listener, {"type": "user", "id": target.id}, reason).status == 201
    assert report(api, room.outsider, {"type": "user", "id": room.host.id}, "boring").status == 400
    assert report(api, room.outsider, {"type": "user", "id": room.host.id}, "other", details="x" * 501).status == 400


@pytest.mark.parametrize("target, code", [
    ({"type": "space", "id": "01J0000000000000000000000X"}, "space_not_found"),
    ({"type": "user", "id": "01J0000000000000000000000X"}, "user_not_found"),
    ({"type": "message", "id": "01J0000000000000000000000X", "space_id": "SPACE"}, "message_not_found"),
])
def test_the_target_must_exist(api, room, target, code):
    target = {**target, **({"space_id": room.space_id} if target.get("space_id") == "SPACE" else {})}
    reply = report(api, room.listener, target)
    assert reply.status == 404 and reply.error_code == code
    assert ReportModel.count() == 0


def test_a_message_is_named_with_its_space_and_nothing_else_is(api, room):
    message_id = chat(api, room, room.speaker, "hello")
    assert report(api, room.listener, {"type": "message", "id": message_id}).status == 400
    assert report(api, room.listener, {"type": "user", "id": room.speaker.id, "space_id": room.space_id}).status == 400
    other_room = report(api, room.listener, {"type": "message", "id": message_id, "space_id": room.host.id})
    assert other_room.status == 404 and other_room.error_code == "message_not_found"


def test_only_the_two_people_of_a_direct_message_can_report_it(api, room):
    message_id = chat(api, room, room.speaker, "meet me outside", to=room.listener)
    target = {"type": "message", "id": message_id, "space_id": room.space_id}
    stranger = report(api, room.cohost, target)
    assert stranger.status == 404 and stranger.error_code == "message_not_found"  # not even its existence leaks
    assert report(api, room.listener, target, "harassment").status == 201


def test_nobody_reports_themselves(api, room):
    reply = report(api, room.listener, {"type": "user", "id": room.listener.id})
    assert reply.status == 422 and reply.error_code == "cannot_report_self"


def test_one_open_report_per_reporter_and_target(api, room):
    space = {"type": "space", "id": room.space_id}
    assert report(api, room.listener, space).status == 201
    again = report(api, room.listener, space, "hate")
    assert again.status == 409 and again.error_code == "already_reported"
    assert report(api, room.speaker, space).status == 201  # another reporter may
    assert report(api, room.listener, {"type": "user", "id": room.host.id}).status == 201  # another target too
    assert ReportModel.count() == 3


def test_once_resolved_the_same_target_can_be_reported_again(api, room):
    staff = make_staff(api)
    space = {"type": "space", "id": room.space_id}
    first = report(api, room.listener, space).body["id"]
    resolved = api.post(f"/v1/staff/reports/{first}/resolution", {"outcome": "dismissed"}, token=staff.token)
    assert resolved.status == 200, resolved.body
    assert OpenReportClaimModel.count() == 0
    assert report(api, room.listener, space).status == 201


def test_the_same_report_sent_twice_at_once_is_filed_once(api, room):
    from concurrent.futures import ThreadPoolExecutor

    space = {"type": "space", "id": room.space_id}
    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: report(api, room.listener, space).status, range(4)))
    assert statuses == [201, 409, 409, 409]
    assert ReportModel.count() == 1


def test_reporting_needs_a_signed_in_user(api, room):
    reply = api.post("/v1/reports", {"target": {"type": "space", "id": room.space_id}, "reason": "spam"})
    assert reply.status == 401


def test_a_reporter_cannot_read_reports(api, room):
    report(api, room.listener, {"type": "space", "id": room.space_id})
    reply = api.get("/v1/staff/reports", token=room.listener.token)
    assert reply.status == 403 and reply.error_code == "not_staff"
    assert api.get("/v1/reports", token=room.listener.token).status == 405  # no route reads reports back
