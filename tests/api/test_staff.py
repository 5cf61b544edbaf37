"""Platform moderation: trust and safety staff (a role only the admin command gives) judge
reports with their context, resolve them, end any live space, suspend accounts and lift
suspensions; everyone else is refused every staff route; every action is in an append-only
staff audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.admin import main as admin
from chalicelib.models.participants import ParticipantModel
from chalicelib.models.reports import StaffActionModel
from chalicelib.models.sessions import SessionModel
from chalicelib.models.spaces import SpaceModel
from chalicelib.models.users import UserModel
from tests.api.rooms_support import make_host, make_person, open_room
from tests.api.test_ticketing import shop, stripe_standin  # noqa: F401 - fixtures: Stripe's stand-in
from tests.api.trust_support import make_staff, report

PASSWORD = "correct horse battery"
NOBODY = "01J0000000000000000000000X"

STAFF_ROUTES = [
    ("GET", "/v1/staff/reports", None),
    ("POST", "/v1/staff/reports/{report}/resolution", {"outcome": "dismissed"}),
    ("POST", "/v1/staff/spaces/{space}/end", None),
    ("PUT", "/v1/staff/users/{user}/suspension", None),
    ("DELETE", "/v1/staff/users/{user}/suspension", None),
    ("GET", "/v1/staff/audit", None),
]


@pytest.fixture
def room(api):
    return open_room(api)


@pytest.fixture
def staff(api):
    return make_staff(api)


def staff_call(api, who, method, path, room, report_id, body=None):
    path = path.format(report=report_id, space=room.space_id, user=room.speaker.id)
    return api.call(method, path, body, token=who.token if who else None)


# -- who is staff -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method, path, body", STAFF_ROUTES)
def test_everyone_but_staff_is_refused_every_staff_route(api, room, method, path, body):
    report_id = report(api, room.listener, {"type": "space", "id": room.space_id}).body["id"]
    for who in (room.host, room.cohost, room.listener):
        reply = staff_call(api, who, method, path, room, report_id, body)
        assert reply.status == 403 and reply.error_code == "not_staff", (who, reply.body)
    assert staff_call(api, None, method, path, room, report_id, body).status == 401
    assert SpaceModel.get(room.space_id).state == "live" and UserModel.get(room.speaker.id).suspended_at is None
    assert StaffActionModel.count() == 0


def test_the_api_never_makes_anyone_staff(api, room):
    for field in ({"staff": True}, {"role": "staff"}, {"suspended_at": None}):
        reply = api.patch("/v1/me", field, token=room.listener.token)
        assert reply.status == 400, reply.body
    assert not UserModel.get(room.listener.id).staff
    assert "staff" not in api.get("/v1/me", token=room.listener.token).body
    assert api.get("/v1/staff/audit", token=room.listener.token).error_code == "not_staff"


def test_the_admin_command_grants_and_revokes_the_role(api, room, capsys):
    assert admin(["grant-staff", "Listener"]) == 0  # handles are case-insensitive
    assert "listener" in capsys.readouterr().out
    assert UserModel.get(room.listener.id).staff is True
    assert api.get("/v1/staff/reports", token=room.listener.token).status == 200
    assert admin(["revoke-staff", "listener"]) == 0
    assert not UserModel.get(room.listener.id).staff
    assert api.get("/v1/staff/reports", token=room.listener.token).error_code == "not_staff"
    assert admin(["grant-staff", "nobody_here"]) == 1
    assert "no account" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        admin(["make-god", "listener"])
    actions = [(e.action, e.target_id) for e in StaffActionModel.query(StaffActionModel.LOG)]
    assert actions == [("staff.granted", room.listener.id), ("staff.revoked", room.listener.id)]
    assert all(e.actor_id.startswith("admin:") for e in StaffActionModel.query(StaffActionModel.LOG))


def test_the_admin_command_runs_as_a_program_against_the_configured_tables(api, room, monkeypatch):
    """``python -m chalicelib.admin`` reads the same settings (table prefix) as the API."""
    import runpy
    import sys

    monkeypatch.setattr(sys, "argv", ["chalicelib.admin", "grant-staff", "cohost"])
    monkeypatch.delitem(sys.modules, "chalicelib.admin")  # run afresh, as ``-m`` would
    with pytest.raises(SystemExit) as done:
        runpy.run_module("chalicelib.admin", run_name="__main__")
    assert done.value.code == 0
    assert UserModel.get(room.cohost.id).staff is True


# -- the report queue ---------------------------------------------------------------------------------


def test_staff_see_open_reports_oldest_first_with_their_context(api, room, staff, clock, media):
    api.put(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.host.token)
    message = api.post(f"/v1/spaces/{room.space_id}/messages", {"text": "click my link"}, token=room.speaker.token)
    report(api, room.listener, {"type": "space", "id": room.space_id}, "hate", details="on stage")
    clock.advance(seconds=1)
    report(api, room.listener, {"type": "user", "id": room.speaker.id}, "impersonation")
    clock.advance(seconds=1)
    report(api, room.cohost, {"type": "message", "id": message.body["id"], "space_id": room.space_id})
    reply = api.get("/v1/staff/reports", token=staff.token)
    assert reply.status == 200, reply.body
    space, user, msg = reply.body["reports"]
    assert reply.body["next_cursor"] is None
    assert (space["reporter_id"], space["reason"], space["details"], space["status"]) == (
        room.listener.id, "hate", "on stage", "open")
    assert space["context"]["title"] == "Morning show" and space["context"]["host_handle"] == "host"
    assert space["context"]["state"] == "live"
    assert "ban" in [e["action"] for e in space["context"]["audit"]]  # the space's own moderation log
    assert user["context"]["handle"] == "speaker" and user["context"]["suspended"] is False
    assert msg["target"] == {"type": "message", "id": message.body["id"], "space_id": room.space_id}
    assert msg["context"]["text"] == "click my link" and msg["context"]["sender_handle"] == "speaker"


def test_the_queue_pages(api, room, staff):
    for person in (room.listener, room.cohost, room.speaker):
        report(api, person, {"type": "space", "id": room.space_id})
    seen, cursor = [], None
    while True:
        page = api.get("/v1/staff/reports?limit=2" + (f"&cursor={cursor}" if cursor else ""), token=staff.token).body
        seen += [r["reporter_id"] for r in page["reports"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted([room.listener.id, room.cohost.id, room.speaker.id])
    assert api.get("/v1/staff/reports?cursor=garbage", token=staff.token).status == 400
    assert api.get("/v1/staff/reports?status=lost", token=staff.token).status == 400


def test_resolving_a_report_closes_it_once_and_is_audited(api, room, staff):
    first = report(api, room.listener, {"type": "space", "id": room.space_id}).body["id"]
    second = report(api, room.cohost, {"type": "space", "id": room.space_id}).body["id"]
    done = api.post(f"/v1/staff/reports/{first}/resolution", {"outcome": "actioned", "note": "ended it"},
                    token=staff.token)
    assert done.status == 200, done.body
    assert done.body["status"] == "actioned" and done.body["resolved_by"] == staff.id
    again = api.post(f"/v1/staff/reports/{first}/resolution", {"outcome": "dismissed"}, token=staff.token)
    assert again.status == 409 and again.error_code == "report_closed"
    assert [r["id"] for r in api.get("/v1/staff/reports", token=staff.token).body["reports"]] == [second]
    closed = api.get("/v1/staff/reports?status=actioned", token=staff.token).body["reports"]
    assert [r["id"] for r in closed] == [first]
    assert api.post(f"/v1/staff/reports/{second}/resolution", {"outcome": "ignored"}, token=staff.token).status == 400
    missing = api.post(f"/v1/staff/reports/{NOBODY}/resolution", {"outcome": "dismissed"}, token=staff.token)
    assert missing.status == 404 and missing.error_code == "report_not_found"
    entries = api.get("/v1/staff/audit", token=staff.token).body["entries"]
    assert [(e["action"], e["report_id"], e["note"]) for e in entries if e["action"].startswith("report.")] == [
        ("report.actioned", first, "ended it")]


# -- ending a space ---------------------------------------------------------------------------------------


def test_staff_end_any_live_space_as_its_host_would(api, room, staff, media, events, clock):
    clock.advance(seconds=1)
    reply = api.post(f"/v1/staff/spaces/{room.space_id}/end", {"note": "violent threats"}, token=staff.token)
    assert reply.status == 200, reply.body
    assert reply.body["state"] == "ended"
    assert media.stopped == [room.space_id] and "space.ended" in events.types(room.space_id)
    assert all(p.status != "present" for p in ParticipantModel.query(room.space_id))
    assert UserModel.get(room.host.id).hosting_space_id is None  # the host may go live again
    again = api.post(f"/v1/staff/spaces/{room.space_id}/end", token=staff.token)
    assert again.status == 409 and again.error_code == "invalid_state"
    assert api.post(f"/v1/staff/spaces/{NOBODY}/end", token=staff.token).error_code == "space_not_found"
    entries = api.get("/v1/staff/audit", token=staff.token).body["entries"]
    assert [(e["action"], e["target_id"], e["note"], e["actor_id"]) for e in entries] == [
        ("space.ended", room.space_id, "violent threats", staff.id), ("staff.granted", staff.id, None, "admin:tests")]


def test_a_scheduled_space_is_not_ended_by_staff(api, staff, clock):
    host = make_host(api, "planner")
    start = (clock.now() + timedelta(days=1)).isoformat()
    space_id = api.post("/v1/spaces", {"title": "Later", "scheduled_start": start}, token=host.token).body["id"]
    reply = api.post(f"/v1/staff/spaces/{space_id}/end", token=staff.token)
    assert reply.status == 409 and reply.error_code == "invalid_state"


# -- suspension -------------------------------------------------------------------------------------------


def test_a_suspended_account_is_signed_out_everywhere_and_cannot_sign_in(api, staff):
    user_id, token = api.sign_up("troll")
    other = api.post("/v1/sessions", {"handle": "troll", "password": PASSWORD}).body
    reply = api.put(f"/v1/staff/users/{user_id}/suspension", {"note": "spam wave"}, token=staff.token)
    assert reply.status == 200, reply.body
    assert reply.body["suspended"] is True and reply.body["suspended_at"]
    for access in (token, other["token"]):
        assert api.get("/v1/me", token=access).status == 401  # every session revoked
    assert all(SessionModel.get(s.session_id).revoked for s in SessionModel.by_user.query(user_id))
    assert api.post("/v1/sessions/refresh", {"refresh_token": other["refresh_token"]}).status == 401
    signed_in = api.post("/v1/sessions", {"handle": "troll", "password": PASSWORD})
    assert signed_in.status == 403 and signed_in.error_code == "suspended"
    wrong = api.post("/v1/sessions", {"handle": "troll", "password": "not the password"})
    assert wrong.status == 401  # only someone who knows the password learns of the suspension


def test_a_token_that_outlived_the_revocation_still_opens_nothing(api, room, staff):
    assert api.put(f"/v1/staff/users/{room.outsider.id}/suspension", token=staff.token).status == 200
    for session in SessionModel.by_user.query(room.outsider.id):
        SessionModel(session_id=session.session_id).update(actions=[SessionModel.revoked.set(False)])
    reply = api.post(f"/v1/spaces/{room.space_id}/join", token=room.outsider.token)
    assert reply.status == 403 and reply.error_code == "suspended"
    assert ParticipantModel.find(room.space_id, room.outsider.id) is None


def test_suspending_a_host_ends_their_live_space_and_cancels_their_scheduled_ones(api, room, staff, clock, media):
    start = (clock.now() + timedelta(days=2)).isoformat()
    later = api.post("/v1/spaces", {"title": "Later", "scheduled_start": start}, token=room.host.token).body["id"]
    assert api.put(f"/v1/staff/users/{room.host.id}/suspension", token=staff.token).status == 200
    assert SpaceModel.get(room.space_id).state == "ended" and media.stopped == [room.space_id]
    assert SpaceModel.get(later).state == "canceled"
    host = UserModel.get(room.host.id)
    assert host.hosting_space_id is None and int(host.scheduled_count) == 0


def test_suspension_rules(api, room, staff):
    first = api.put(f"/v1/staff/users/{room.speaker.id}/suspension", token=staff.token)
    assert first.status == 200
    again = api.put(f"/v1/staff/users/{room.speaker.id}/suspension", token=staff.token)
    assert again.status == 409 and again.error_code == "already_suspended"
    missing = api.put(f"/v1/staff/users/{NOBODY}/suspension", token=staff.token)
    assert missing.status == 404 and missing.error_code == "user_not_found"
    colleague = make_staff(api, "colleague")
    for target in (colleague, staff):
        refused = api.put(f"/v1/staff/users/{target.id}/suspension", token=staff.token)
        assert refused.status == 403 and refused.error_code == "cannot_suspend_staff"
    not_suspended = api.delete(f"/v1/staff/users/{room.listener.id}/suspension", token=staff.token)
    assert not_suspended.status == 409 and not_suspended.error_code == "not_suspended"


def test_lifting_a_suspension_lets_the_person_sign_in_again(api, staff, room, clock):
    user_id, _ = api.sign_up("sorry")
    clock.advance(seconds=1)
    api.put(f"/v1/staff/users/{user_id}/suspension", token=staff.token)
    clock.advance(seconds=1)
    lifted = api.delete(f"/v1/staff/users/{user_id}/suspension", body={"note": "appeal upheld"}, token=staff.token)
    assert lifted.status == 200 and lifted.body["suspended"] is False and lifted.body["suspended_at"] is None
    signed_in = api.post("/v1/sessions", {"handle": "sorry", "password": PASSWORD})
    assert signed_in.status == 200
    assert api.post(f"/v1/spaces/{room.space_id}/join", token=signed_in.body["token"]).status == 200
    user_report = report(api, room.listener, {"type": "user", "id": user_id})
    context = api.get("/v1/staff/reports", token=staff.token).body["reports"]
    assert [r["context"]["suspended"] for r in context if r["id"] == user_report.body["id"]] == [False]
    entries = api.get("/v1/staff/audit", token=staff.token).body["entries"]
    assert [(e["action"], e["target_id"], e["note"]) for e in entries] == [
        ("user.suspension_lifted", user_id, "appeal upheld"), ("user.suspended", user_id, None),
        ("staff.granted", staff.id, None)]


# -- the staff audit log ----------------------------------------------------------------------------------


def test_the_audit_log_is_newest_first_paged_and_offers_no_way_to_change_it(api, room, staff, clock):
    clock.advance(seconds=1)
    for person in (room.listener, room.speaker, room.outsider):
        api.put(f"/v1/staff/users/{person.id}/suspension", token=staff.token)
        clock.advance(seconds=1)
    first = api.get("/v1/staff/audit?limit=2", token=staff.token).body
    rest = api.get(f"/v1/staff/audit?limit=2&cursor={first['next_cursor']}", token=staff.token).body
    targets = [e["target_id"] for e in first["entries"] + rest["entries"]]
    assert targets == [room.outsider.id, room.speaker.id, room.listener.id, staff.id]
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert api.call(method, "/v1/staff/audit", {}, token=staff.token).status == 405
    assert StaffActionModel.count() == 4  # the grant, and three suspensions


def test_a_space_report_of_a_deleted_or_unknown_target_still_lists(api, staff, room):
    target = make_person(api, "leaver")
    report(api, room.listener, {"type": "user", "id": target.id})
    assert api.delete("/v1/me", token=target.token, body={"password": PASSWORD}).status == 204
    listed = api.get("/v1/staff/reports", token=staff.token).body["reports"]
    assert listed[0]["context"]["deleted"] is True and listed[0]["context"]["handle"] is None


def test_suspending_a_host_refunds_every_buyer_of_their_ticketed_space(shop, stripe_standin, clock):  # noqa: F811
    from tests.api.test_ticketing import assert_every_buyer_refunded, sold_twice

    api, standin = shop, stripe_standin
    host, space_id, buyers = sold_twice(api, standin, clock)
    staff = make_staff(api)
    assert api.put(f"/v1/staff/users/{host.id}/suspension", token=staff.token).status == 200
    assert SpaceModel.get(space_id).state == "canceled"
    assert_every_buyer_refunded(api, standin, space_id, buyers)
