"""The API decides who is heard: a client's offer reaches the room's worker only through
``POST /v1/spaces/{id}/media/offer``, for someone in the room now, with a single-use,
seconds-long grant of the role and mute they have now. Clients never hold a media token."""

from __future__ import annotations

import jwt
import pytest

from tests.api.rooms_support import make_host, make_person, open_room

OFFER = {"sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "type": "offer"}


def _offer(api, space_id: str, token: str | None, body: object = OFFER):
    return api.post(f"/v1/spaces/{space_id}/media/offer", body, token=token)


def _grant(settings, grant: str) -> dict:
    return jwt.decode(grant, settings.media_token_public_key, algorithms=["EdDSA"], audience="parlor-media",
                      options={"verify_exp": False})


def test_join_hands_out_no_media_token_and_no_worker_address(api):
    room = open_room(api)
    media = api.post(f"/v1/spaces/{room.space_id}/join", token=room.speaker.token).body["media"]
    assert set(media) == {"offer_url", "ice_servers", "ice_servers_expire_at"}


def test_each_offer_is_relayed_with_a_fresh_grant_of_the_role_and_mute_of_now(api, settings, media):
    room = open_room(api)
    assert _offer(api, room.space_id, room.speaker.token).status == 200
    first = _grant(settings, media.offers[-1][1])
    assert (first["sub"], first["role"], first["muted"]) == (room.speaker.id, "speaker", False)
    assert first["exp"] - first["iat"] == 10 and media.offers[-1][2] == OFFER
    api.post(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}/mute", token=room.host.token)
    assert _offer(api, room.space_id, room.speaker.token).status == 200
    muted = _grant(settings, media.offers[-1][1])
    assert muted["muted"] is True and muted["jti"] != first["jti"]
    api.put(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}", {"role": "listener"}, token=room.host.token)
    assert _offer(api, room.space_id, room.speaker.token).status == 200
    assert _grant(settings, media.offers[-1][1])["role"] == "listener"


@pytest.mark.parametrize(("who", "status", "code"), [
    ("banned", 403, "banned"), ("outsider", 409, "not_in_space"), ("left", 409, "not_in_space"),
    ("removed", 409, "not_in_space"), ("anonymous", 401, None)])
def test_only_someone_in_the_room_now_gets_an_offer_through(api, media, who, status, code):
    room = open_room(api)
    person = {"banned": room.banned, "outsider": room.outsider, "left": room.listener, "removed": room.speaker,
              "anonymous": None}[who]
    if who == "left":
        assert api.post(f"/v1/spaces/{room.space_id}/leave", token=room.listener.token).status == 200
    if who == "removed":
        assert api.delete(f"/v1/spaces/{room.space_id}/participants/{room.speaker.id}", token=room.host.token).status == 200
    reply = _offer(api, room.space_id, person.token if person else None)
    assert reply.status == status and (code is None or reply.error_code == code), reply.body
    assert media.offers == []


def test_no_offer_reaches_an_ended_or_unknown_space(api, media):
    room = open_room(api)
    assert api.post(f"/v1/spaces/{room.space_id}/end", token=room.host.token).status == 200
    assert _offer(api, room.space_id, room.host.token).status == 409
    unknown = _offer(api, "01ARZ3NDEKTSV4RRFFQ69G5FAV", room.host.token)
    assert unknown.status == 404 and unknown.error_code == "space_not_found"
    assert media.offers == []


@pytest.mark.parametrize("body", [{"sdp": "v=0", "type": "answer"}, {"type": "offer"}, {"sdp": "", "type": "offer"},
                                  {"sdp": "v" * 14_001, "type": "offer"}, {**OFFER, "token": "x"}, "offer"])
def test_a_malformed_offer_is_refused_and_relays_nothing(api, media, body):
    room = open_room(api)
    reply = _offer(api, room.space_id, room.speaker.token, body)
    assert reply.status in (400, 413, 422) and reply.error_code, reply.body
    assert media.offers == []


def test_an_offer_while_the_worker_starts_is_a_retryable_503(api, media):
    room = open_room(api)
    media.starting.add(room.space_id)
    reply = _offer(api, room.space_id, room.speaker.token)
    assert reply.status == 503 and reply.error_code == "media_starting" and reply.headers.get("Retry-After") == "1"
    assert media.offers == []


def test_a_newcomer_offers_as_a_listener(api, settings, media):
    room = open_room(api)
    fan = make_person(api, "fan")
    assert api.post(f"/v1/spaces/{room.space_id}/join", token=fan.token).status == 200
    assert _offer(api, room.space_id, fan.token).status == 200
    assert _grant(settings, media.offers[-1][1])["role"] == "listener"


@pytest.mark.parametrize("how", ["removed", "left"])
def test_an_invited_speaker_who_was_removed_or_left_comes_back_as_a_listener(api, settings, media, how):
    """An invitation seats someone on stage at their first entry only: a removal (or their own
    leaving) is not undone by joining again."""
    host, guest = make_host(api, "inviter"), make_person(api, "guest")
    space_id = api.post("/v1/spaces", {"title": "Panel", "invited_user_ids": [guest.id]}, token=host.token).body["id"]
    assert api.post(f"/v1/spaces/{space_id}/join", token=guest.token).body["participant"]["role"] == "speaker"
    if how == "removed":
        assert api.delete(f"/v1/spaces/{space_id}/participants/{guest.id}", token=host.token).status == 200
    else:
        assert api.post(f"/v1/spaces/{space_id}/leave", token=guest.token).status == 200
    again = api.post(f"/v1/spaces/{space_id}/join", token=guest.token)
    assert again.status == 200 and again.body["participant"]["role"] == "listener"
    assert _offer(api, space_id, guest.token).status == 200
    assert _grant(settings, media.offers[-1][1])["role"] == "listener"
