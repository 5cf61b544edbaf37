"""Inside a live space: joining, roles and their limits, moderation, events, media controls,
the acting host, unattended spaces, the audit log."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest

from chalicelib.errors import DomainError
from chalicelib.models.participants import ParticipantModel
from chalicelib.models.spaces import SpaceModel
from tests.api.rooms_support import make_host, make_person, open_room


def _space(api, room_or_id, token):
    space_id = getattr(room_or_id, "space_id", room_or_id)
    return api.get(f"/v1/spaces/{space_id}", token=token).body


def test_join_returns_participant_media_and_realtime(api, settings):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Hi"}, token=host.token).body["id"]
    guest = make_person(api, "guest")
    reply = api.post(f"/v1/spaces/{space_id}/join", token=guest.token)
    assert reply.status == 200
    body = reply.body
    assert body["participant"]["role"] == "listener" and body["participant"]["user_id"] == guest.id
    # Clients get no media token and no worker address: their offer goes through the API.
    assert body["media"]["offer_url"] == f"{settings.api_url}/v1/spaces/{space_id}/media/offer"
    assert "token" not in body["media"] and "url" not in body["media"]
    assert body["realtime"]["url"] == settings.realtime_url
    space = _space(api, space_id, guest.token)
    assert space["participant_count"] == 2 and space["listener_count"] == 1


def test_joining_again_keeps_the_role_and_counts_once(api):
    room = open_room(api)
    first = api.post(f"/v1/spaces/{room.space_id}/join", token=room.speaker.token).body
    again = api.post(f"/v1/spaces/{room.space_id}/join", token=room.speaker.token).body
    assert first["participant"]["role"] == again["participant"]["role"] == "speaker"
    assert again["media"]["offer_url"] and again["realtime"]["token"]
    assert _space(api, room, room.host.token)["participant_count"] == 5  # host, 2 co-hosts, speaker, listener


def test_concurrent_joins_of_one_user_count_once(container, api):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Hi"}, token=host.token).body["id"]
    guest = make_person(api, "guest")
    with ThreadPoolExecutor(max_workers=6) as pool:
        roles = list(pool.map(lambda _: container.rooms.join(guest.id, space_id).participant.role, range(6)))
    assert roles == ["listener"] * 6
    assert SpaceModel.get(space_id).participant_count == 2


def test_joining_while_the_worker_starts_is_a_retryable_503_that_writes_nothing(api, media):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Hi"}, token=host.token).body["id"]
    media.starting.add(space_id)
    guest = make_person(api, "guest")
    reply = api.post(f"/v1/spaces/{space_id}/join", token=guest.token)
    assert reply.status == 503 and reply.error_code == "media_starting" and reply.headers.get("Retry-After") == "1"
    assert ParticipantModel.count(space_id) == 1  # only the host
    media.starting.clear()
    assert api.post(f"/v1/spaces/{space_id}/join", token=guest.token).status == 200


def test_invited_guests_join_as_speakers(api):
    guest = make_person(api, "guest")
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Hi", "invited_user_ids": [guest.id]}, token=host.token).body["id"]
    joined = api.post(f"/v1/spaces/{space_id}/join", token=guest.token).body
    assert joined["participant"]["role"] == "speaker"
    assert _space(api, space_id, guest.token)["speaker_ids"] == [guest.id]


def test_removed_users_may_rejoin_but_banned_users_may_not(api, events, media):
    room = open_room(api)
    assert api.delete(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}", token=room.cohost.token).status == 200
    assert ("participant.removed" in events.types(room.space_id))
    assert (room.space_id, "remove", {"user_id": room.listener.id}) in media.controls
    assert api.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).status == 200
    assert api.delete(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}?ban=true", token=room.host.token).status == 200
    reply = api.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token)
    assert reply.status == 403 and reply.error_code == "banned"


def test_the_host_can_exclude_people_before_the_space_starts(api, clock):
    from datetime import timedelta

    host = make_host(api, "host")
    troll = make_person(api, "troll")
    start = (clock.now() + timedelta(hours=1)).isoformat()
    space_id = api.post("/v1/spaces", {"title": "Later", "scheduled_start": start}, token=host.token).body["id"]
    assert api.delete(f"/v1/spaces/{space_id}/participants/{troll.id}?ban=true", token=host.token).status == 200
    assert api.delete(f"/v1/spaces/{space_id}/participants/{host.id}?ban=true", token=host.token).status == 403
    api.post(f"/v1/spaces/{space_id}/start", token=host.token)
    assert api.post(f"/v1/spaces/{space_id}/join", token=troll.token).error_code == "banned"


def test_raise_hand_is_seen_by_hosts_and_approval_makes_a_speaker(api, events, media):
    room = open_room(api)
    assert api.post(f"/v1/spaces/{room.space_id}/speak-requests", token=room.listener.token).status == 200
    created = events.of_type("speak_request.created")
    assert created and created[-1].audience == "hosts" and created[-1].data == {"user_id": room.listener.id}
    listed = api.get(f"/v1/spaces/{room.space_id}/speak-requests", token=room.cohost.token).body["requests"]
    assert [p["user_id"] for p in listed] == [room.listener.id]
    approved = api.put(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}", {"role": "speaker"}, token=room.cohost.token)
    assert approved.status == 200 and approved.body["role"] == "speaker" and approved.body["hand_raised"] is False
    assert api.get(f"/v1/spaces/{room.space_id}/speak-requests", token=room.host.token).body["requests"] == []
    assert (room.space_id, "set_role", {"user_id": room.listener.id, "role": "speaker"}) in media.controls
    assert room.listener.id in _space(api, room, room.host.token)["speaker_ids"]


def test_lowering_a_hand_withdraws_the_request(api):
    room = open_room(api)
    api.post(f"/v1/spaces/{room.space_id}/speak-requests", token=room.listener.token)
    api.delete(f"/v1/spaces/{room.space_id}/speak-requests", token=room.listener.token)
    assert api.get(f"/v1/spaces/{room.space_id}/speak-requests", token=room.host.token).body["requests"] == []


def test_mute_is_announced_and_sent_to_the_worker_and_only_self_unmutes(api, events, media):
    room = open_room(api)
    reply = api.post(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.cohost.token)
    assert reply.status == 200 and reply.body["muted"] is True
    assert "participant.muted" in events.types(room.space_id)
    assert (room.space_id, "mute", {"user_id": room.speaker.id}) in media.controls
    assert api.delete(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.host.token).status == 403
    unmuted = api.delete(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.speaker.token)
    assert unmuted.status == 200 and unmuted.body["muted"] is False


def test_an_offer_after_a_mute_is_relayed_with_a_muted_grant(api, settings, media):
    """The worker admits the participant as the API's grant says: a re-offer (or one to a new
    worker) keeps the host's mute."""
    room = open_room(api)

    def media_claims(person):
        reply = api.post(f"/v1/spaces/{room.space_id}/media/offer", {"sdp": "v=0", "type": "offer"}, token=person.token)
        assert reply.status == 200 and reply.body == {"sdp": f"v=0 answer for {room.space_id}", "type": "answer"}
        return jwt.decode(media.offers[-1][1], settings.media_token_public_key, algorithms=["EdDSA"], audience="parlor-media",
                          options={"verify_exp": False})

    assert media_claims(room.speaker)["muted"] is False
    assert api.post(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.host.token).status == 200
    assert media_claims(room.speaker)["muted"] is True
    assert media_claims(room.listener)["muted"] is False
    assert api.delete(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.speaker.token).status == 200
    assert media_claims(room.speaker)["muted"] is False


def test_listeners_cannot_be_muted(api):
    room = open_room(api)
    reply = api.post(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}/mute", token=room.host.token)
    assert reply.status == 409 and reply.error_code == "not_speaking"


def test_contract_fields_follow_joins_leaves_and_roles(api):
    room = open_room(api)
    space = _space(api, room, room.host.token)
    assert space["host_ids"] == [room.host.id, *sorted([room.cohost.id, room.cohost2.id])]
    assert space["speaker_ids"] == [room.speaker.id]
    assert (space["participant_count"], space["listener_count"]) == (5, 1)
    api.post(f"/v1/spaces/{room.space_id}/leave", token=room.speaker.token)
    api.post(f"/v1/spaces/{room.space_id}/leave", token=room.cohost2.token)
    space = _space(api, room, room.host.token)
    assert space["speaker_ids"] == [] and space["host_ids"] == [room.host.id, room.cohost.id]
    assert (space["participant_count"], space["listener_count"]) == (3, 1)
    grouped = api.get(f"/v1/spaces/{room.space_id}/participants", token=room.outsider.token).body
    assert [p["user_id"] for p in grouped["hosts"]] == [room.host.id]
    assert [p["user_id"] for p in grouped["cohosts"]] == [room.cohost.id]
    assert [p["user_id"] for p in grouped["listeners"]] == [room.listener.id]
    assert grouped["participant_count"] == 3


def test_leaving_gives_up_the_stage_and_rejoining_is_as_a_listener(api):
    room = open_room(api)
    api.post(f"/v1/spaces/{room.space_id}/leave", token=room.speaker.token)
    rejoined = api.post(f"/v1/spaces/{room.space_id}/join", token=room.speaker.token).body
    assert rejoined["participant"]["role"] == "listener"


def test_at_most_two_cohosts(api):
    room = open_room(api)
    reply = api.put(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}", {"role": "cohost"}, token=room.host.token)
    assert reply.status == 409 and reply.error_code == "role_limit_reached"
    assert len(_space(api, room, room.host.token)["host_ids"]) == 3


@pytest.mark.parametrize(("role", "limit", "guests"), [("speaker", 10, 16), ("cohost", 2, 6)])
def test_role_limits_hold_under_concurrent_promotions(container, api, role, limit, guests):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Packed"}, token=host.token).body["id"]
    people = [make_person(api, f"guest{i}") for i in range(guests)]
    for person in people:
        container.rooms.join(person.id, space_id)

    def promote(person):
        try:
            container.moderation.set_role(host.id, space_id, person.id, role)
            return "ok"
        except DomainError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(promote, people))
    assert outcomes.count("ok") == limit and outcomes.count("role_limit_reached") == guests - limit
    space = SpaceModel.get(space_id)
    role_set = space.speaker_ids if role == "speaker" else space.cohost_ids
    assert len(role_set) == limit and space.listener_count == guests - limit
    assert sum(1 for p in ParticipantModel.query(space_id) if p.role == role) == limit


def test_when_the_host_leaves_the_first_cohost_acts_as_host(api, events):
    room = open_room(api)
    api.post(f"/v1/spaces/{room.space_id}/leave", token=room.host.token)
    space = _space(api, room, room.cohost.token)
    first = sorted([room.cohost.id, room.cohost2.id])[0]
    assert space["state"] == "live" and space["acting_host_id"] == first
    # The room hears who runs it now (and hears it once).
    handovers = [e.data for e in events.of_type("space.updated") if "acting_host_id" in e.data]
    assert handovers == [{"space_id": room.space_id, "acting_host_id": first}]
    acting = room.cohost if first == room.cohost.id else room.cohost2
    assert api.get(f"/v1/spaces/{room.space_id}/audit", token=acting.token).status == 200
    api.post(f"/v1/spaces/{room.space_id}/join", token=room.host.token)
    assert _space(api, room, room.host.token)["acting_host_id"] == room.host.id
    assert api.get(f"/v1/spaces/{room.space_id}/audit", token=acting.token).status == 403


def test_ending_puts_everyone_out(api, events):
    room = open_room(api)
    api.post(f"/v1/spaces/{room.space_id}/end", token=room.host.token)
    assert not [p for p in ParticipantModel.query(room.space_id) if p.status == "present"]
    assert api.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).status == 409
    assert events.types(room.space_id)[-1] == "space.ended"


def _run_unattended_sweep(api):
    from chalice.test import Client

    from app import app

    with Client(app) as client:
        client.lambda_.invoke("end_unattended_spaces", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))


def test_a_space_without_host_or_cohost_ends_after_ten_minutes(api, clock, media):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Lonely"}, token=host.token).body["id"]
    listener = make_person(api, "listener")
    api.post(f"/v1/spaces/{space_id}/join", token=listener.token)
    api.post(f"/v1/spaces/{space_id}/leave", token=host.token)
    clock.advance(minutes=9, seconds=59)
    _run_unattended_sweep(api)
    assert SpaceModel.get(space_id).state == "live"
    clock.advance(seconds=2)
    _run_unattended_sweep(api)
    assert SpaceModel.get(space_id).state == "ended" and media.stopped == [space_id]


def test_a_returning_host_saves_the_space(api, clock):
    host = make_host(api, "host")
    space_id = api.post("/v1/spaces", {"title": "Back"}, token=host.token).body["id"]
    api.post(f"/v1/spaces/{space_id}/leave", token=host.token)
    clock.advance(minutes=5)
    api.post(f"/v1/spaces/{space_id}/join", token=host.token)
    clock.advance(minutes=20)
    _run_unattended_sweep(api)
    assert SpaceModel.get(space_id).state == "live"


def test_every_moderation_action_is_in_the_audit_log(api):
    room = open_room(api)
    api.post(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.cohost.token)
    api.delete(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}", token=room.cohost.token)
    entries = api.get(f"/v1/spaces/{room.space_id}/audit", token=room.host.token).body["entries"]
    actions = [(e["action"], e["target_id"]) for e in reversed(entries)]
    assert actions == [
        ("set_role", room.cohost.id), ("set_role", room.cohost2.id), ("set_role", room.speaker.id),
        ("ban", room.banned.id), ("mute", room.speaker.id), ("remove", room.listener.id),
    ]
    assert entries[0]["actor_id"] == room.cohost.id


@pytest.mark.parametrize("role", ["host", "moderator", "", 3])
def test_bad_roles_are_400(api, role):
    room = open_room(api)
    reply = api.put(f"/v1/spaces/{room.space_id}/participants/{room.listener.id}", {"role": role}, token=room.host.token)
    assert reply.status == 400
    assert ParticipantModel.get(room.space_id, room.listener.id).role == "listener"


def test_moderating_someone_not_in_the_room_is_409(api):
    room = open_room(api)
    reply = api.put(f"/v1/spaces/{room.space_id}/participants/{room.outsider.id}", {"role": "speaker"}, token=room.host.token)
    assert reply.status == 409 and reply.error_code == "not_in_space"
