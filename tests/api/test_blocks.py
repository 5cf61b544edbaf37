"""Blocking: whom I block cannot follow me, join my spaces, find them, or message me in a
space; a block removes follows both ways with exact counts; blocking from the host's seat puts
them out of the room. Each rule with its negative."""

from __future__ import annotations

from chalicelib.models.blocks import BlockModel
from chalicelib.models.follows import FollowModel
from tests.api.rooms_support import make_host, make_person, open_room

MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _block(api, who, whom):
    reply = api.put(f"/v1/me/blocks/{whom.id}", token=who.token)
    assert reply.status == 200, reply.body
    return reply


def _counts(api, person):
    body = api.get(f"/v1/users/{person.id}", token=person.token).body
    return body["follower_count"], body["following_count"]


def _follow(api, who, whom):
    return api.put(f"/v1/me/following/{whom.id}", token=who.token)


def _ids(reply):
    assert reply.status == 200, reply.body
    return [s["id"] for s in reply.body["spaces"]]


# -- the block itself --------------------------------------------------------------------


def test_blocking_is_idempotent_and_listed(api):
    me, troll = make_person(api, "myself"), make_person(api, "troll")
    first = _block(api, me, troll)
    again = _block(api, me, troll)
    assert first.body == {"blocking": True, "changed": True}
    assert again.body == {"blocking": True, "changed": False}
    assert BlockModel.count() == 1
    listed = api.get("/v1/me/blocks", token=me.token).body
    assert [u["id"] for u in listed["users"]] == [troll.id] and listed["next_cursor"] is None
    assert api.get("/v1/me/blocks", token=troll.token).body["users"] == []  # one way


def test_block_list_pages(api):
    me = make_person(api, "myself")
    others = [make_person(api, f"person{i}") for i in range(3)]
    for other in others:
        _block(api, me, other)
    first = api.get("/v1/me/blocks?limit=2", token=me.token).body
    second = api.get(f"/v1/me/blocks?limit=2&cursor={first['next_cursor']}", token=me.token).body
    assert len(first["users"]) == 2 and first["next_cursor"]
    assert sorted(u["id"] for u in first["users"] + second["users"]) == sorted(o.id for o in others)
    assert api.get("/v1/me/blocks?cursor=nope", token=me.token).error_code == "invalid_cursor"


def test_cannot_block_yourself_or_nobody(api):
    me = make_person(api, "myself")
    self_block = api.put(f"/v1/me/blocks/{me.id}", token=me.token)
    assert self_block.status == 422 and self_block.error_code == "cannot_block_self"
    unknown = api.put(f"/v1/me/blocks/{MISSING_ID}", token=me.token)
    assert unknown.status == 404 and unknown.error_code == "user_not_found"
    assert BlockModel.count() == 0
    assert api.put("/v1/me/blocks/x", token=None).status == 401


def test_unblock_is_idempotent_and_restores_no_follow(api):
    me, friend = make_person(api, "myself"), make_person(api, "friend")
    assert _follow(api, friend, me).status == 200
    _block(api, me, friend)
    first = api.delete(f"/v1/me/blocks/{friend.id}", token=me.token)
    second = api.delete(f"/v1/me/blocks/{friend.id}", token=me.token)
    assert first.body == {"blocking": False, "changed": True}
    assert second.body == {"blocking": False, "changed": False}
    assert FollowModel.count() == 0 and _counts(api, me) == (0, 0)
    assert _follow(api, friend, me).status == 200  # unblocked: they may follow again


def test_blocking_removes_follows_both_ways_with_exact_counts(api):
    me, ex = make_person(api, "myself"), make_person(api, "former")
    bystander = make_person(api, "bystander")
    for who, whom in ((me, ex), (ex, me), (bystander, me), (ex, bystander)):
        assert _follow(api, who, whom).status == 200
    assert _counts(api, me) == (2, 1) and _counts(api, ex) == (1, 2)
    _block(api, me, ex)
    assert _counts(api, me) == (1, 0) and _counts(api, ex) == (0, 1)
    assert _counts(api, bystander) == (1, 1)  # other follows stay
    _block(api, me, ex)  # again: counts move once
    assert _counts(api, me) == (1, 0) and _counts(api, ex) == (0, 1)


def test_blocking_with_a_one_way_follow_and_without(api):
    me, fan, stranger = make_person(api, "myself"), make_person(api, "fan"), make_person(api, "stranger")
    _follow(api, fan, me)
    _block(api, me, fan)
    _block(api, me, stranger)
    assert _counts(api, me) == (0, 0) and _counts(api, fan) == (0, 0) and _counts(api, stranger) == (0, 0)


def test_whom_i_block_cannot_follow_me_nor_i_them(api):
    me, troll, other = make_person(api, "myself"), make_person(api, "troll"), make_person(api, "other")
    _block(api, me, troll)
    theirs = _follow(api, troll, me)
    assert theirs.status == 403 and theirs.error_code == "blocked"
    mine = _follow(api, me, troll)
    assert mine.status == 403 and mine.error_code == "blocked"
    assert FollowModel.count() == 0 and _counts(api, me) == (0, 0)
    assert _follow(api, other, me).status == 200  # the negative: nobody else is kept away
    assert _follow(api, troll, other).status == 200


# -- my spaces ---------------------------------------------------------------------------


def test_whom_i_block_cannot_join_my_space(api):
    host, troll, fan = make_host(api, "host"), make_person(api, "troll"), make_person(api, "fan")
    space_id = api.post("/v1/spaces", {"title": "Mine"}, token=host.token).body["id"]
    _block(api, host, troll)
    refused = api.post(f"/v1/spaces/{space_id}/join", token=troll.token)
    assert refused.status == 403 and refused.error_code == "blocked"
    assert api.post(f"/v1/spaces/{space_id}/join", token=fan.token).status == 200
    api.delete(f"/v1/me/blocks/{troll.id}", token=host.token)
    assert api.post(f"/v1/spaces/{space_id}/join", token=troll.token).status == 200


def test_blocking_someone_does_not_keep_me_from_their_space_or_a_space_they_are_in(api):
    me, other_host, troll = make_person(api, "myself"), make_host(api, "other"), make_host(api, "troll")
    _block(api, me, troll)
    theirs = api.post("/v1/spaces", {"title": "Troll's"}, token=troll.token).body["id"]
    assert api.post(f"/v1/spaces/{theirs}/join", token=me.token).status == 200
    elsewhere = api.post("/v1/spaces", {"title": "Other"}, token=other_host.token).body["id"]
    # Troll hosts one space at a time; as a listener they are in another's space.
    api.post(f"/v1/spaces/{theirs}/end", token=troll.token)
    assert api.post(f"/v1/spaces/{elsewhere}/join", token=troll.token).status == 200
    assert api.post(f"/v1/spaces/{elsewhere}/join", token=me.token).status == 200


def test_my_spaces_are_hidden_from_whom_i_block(api):
    host, troll, fan = make_host(api, "host"), make_person(api, "troll"), make_person(api, "fan")
    other = make_host(api, "other")
    mine = api.post("/v1/spaces", {"title": "Mine"}, token=host.token).body["id"]
    theirs = api.post("/v1/spaces", {"title": "Theirs"}, token=other.token).body["id"]
    _block(api, host, troll)
    assert _ids(api.get("/v1/spaces", token=troll.token)) == [theirs]
    assert _ids(api.get("/v1/spaces?q=min", token=troll.token)) == []
    assert _ids(api.get(f"/v1/spaces?creator_id={host.id}", token=troll.token)) == []
    assert _ids(api.get(f"/v1/spaces?creator_ids={host.id},{other.id}", token=troll.token)) == [theirs]
    assert _ids(api.get(f"/v1/spaces?ids={mine},{theirs}", token=troll.token)) == [theirs]
    looked_up = api.get(f"/v1/spaces/{mine}", token=troll.token)
    assert looked_up.status == 404 and looked_up.error_code == "space_not_found"
    # Everyone else, and the host, still find it.
    assert _ids(api.get("/v1/spaces", token=fan.token)) == [theirs, mine]
    assert _ids(api.get(f"/v1/spaces?ids={mine}", token=fan.token)) == [mine]
    assert api.get(f"/v1/spaces/{mine}", token=fan.token).status == 200
    assert api.get(f"/v1/spaces/{mine}", token=host.token).status == 200
    # Blocking the host the other way round hides nothing from the host.
    _block(api, fan, host)
    assert api.get(f"/v1/spaces/{mine}", token=host.token).status == 200


def test_whom_i_block_does_not_see_my_space_in_trending(api):
    host, troll, fan = make_host(api, "host"), make_person(api, "troll"), make_person(api, "fan")
    mine = api.post("/v1/spaces", {"title": "Mine"}, token=host.token).body["id"]
    assert _ids(api.get("/v1/spaces/trending", token=troll.token)) == [mine]
    _block(api, host, troll)
    assert _ids(api.get("/v1/spaces/trending", token=troll.token)) == []
    assert _ids(api.get("/v1/spaces/trending", token=fan.token)) == [mine]


def test_whom_i_block_does_not_see_my_space_in_their_live_feed(api):
    host, troll, fan = make_host(api, "host"), make_person(api, "troll"), make_person(api, "fan")
    speaker = make_person(api, "speaker")
    space_id = api.post("/v1/spaces", {"title": "Mine"}, token=host.token).body["id"]
    api.post(f"/v1/spaces/{space_id}/join", token=speaker.token)
    api.put(f"/v1/spaces/{space_id}/participants/{speaker.id}", {"role": "speaker"}, token=host.token)
    for who in (troll, fan):
        assert _follow(api, who, speaker).status == 200  # they follow someone on my stage
    assert _ids(api.get("/v1/feed/live", token=troll.token)) == [space_id]
    _block(api, host, troll)
    assert _ids(api.get("/v1/feed/live", token=troll.token)) == []
    assert _ids(api.get("/v1/feed/live", token=fan.token)) == [space_id]


def test_blocking_from_the_hosts_seat_puts_them_out_for_good(api, events, media):
    room = open_room(api)
    _block(api, room.host, room.listener)
    assert (room.space_id, "remove", {"user_id": room.listener.id}) in media.controls
    removed = events.of_type("participant.removed")[-1]
    assert removed.data == {"user_id": room.listener.id, "banned": True}
    listed = api.get(f"/v1/spaces/{room.space_id}/participants", token=room.host.token).body
    assert room.listener.id not in [p["user_id"] for p in listed["listeners"]]
    back = api.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token)
    assert back.status == 403 and back.error_code in ("blocked", "banned")
    audit = api.get(f"/v1/spaces/{room.space_id}/audit", token=room.host.token).body["entries"]
    assert audit[0]["action"] == "ban" and audit[0]["target_id"] == room.listener.id


def test_blocking_a_speaker_from_the_hosts_seat_takes_them_off_stage(api):
    room = open_room(api)
    _block(api, room.host, room.speaker)
    space = api.get(f"/v1/spaces/{room.space_id}", token=room.host.token).body
    assert room.speaker.id not in space["speaker_ids"]


def test_a_co_host_acting_as_host_puts_whom_they_block_out(api, media):
    room = open_room(api)
    assert api.post(f"/v1/spaces/{room.space_id}/leave", token=room.host.token).status == 200
    acting = api.get(f"/v1/spaces/{room.space_id}", token=room.cohost.token).body["acting_host_id"]
    assert acting == room.cohost.id
    _block(api, room.cohost, room.listener)
    assert (room.space_id, "remove", {"user_id": room.listener.id}) in media.controls
    assert api.post(f"/v1/spaces/{room.space_id}/join", token=room.listener.token).error_code == "banned"


def test_blocking_from_a_seat_without_host_powers_removes_nobody(api, media):
    room = open_room(api)
    before = list(media.controls)
    _block(api, room.speaker, room.listener)  # a speaker is on stage but does not host
    _block(api, room.cohost, room.cohost2)  # a co-host while the host is there does not host either
    _block(api, room.listener, room.host)  # a listener blocking the host stays in the room
    assert media.controls == before
    listed = api.get(f"/v1/spaces/{room.space_id}/participants", token=room.host.token).body
    assert room.listener.id in [p["user_id"] for p in listed["listeners"]]
    assert [p["user_id"] for p in listed["cohosts"]] == sorted([room.cohost.id, room.cohost2.id])


# -- direct messages ---------------------------------------------------------------------


def _dm(api, room, sender, recipient, text):
    return api.post(f"/v1/spaces/{room.space_id}/messages", {"text": text, "to_user_id": recipient.id},
                    token=sender.token)


def test_no_direct_message_between_two_people_when_one_blocks_the_other(api, clock):
    room = open_room(api)
    _block(api, room.speaker, room.listener)
    to_blocker = _dm(api, room, room.listener, room.speaker, "hi")
    assert to_blocker.status == 403 and to_blocker.error_code == "blocked"
    clock.advance(seconds=2)
    to_blocked = _dm(api, room, room.speaker, room.listener, "hi")
    assert to_blocked.status == 403 and to_blocked.error_code == "blocked"
    clock.advance(seconds=2)
    # The room chat stays open to both, and so do direct messages with anyone else.
    room_post = api.post(f"/v1/spaces/{room.space_id}/messages", {"text": "hello all"}, token=room.listener.token)
    assert room_post.status == 201
    clock.advance(seconds=2)
    assert _dm(api, room, room.listener, room.cohost, "hi").status == 201
    api.delete(f"/v1/me/blocks/{room.listener.id}", token=room.speaker.token)
    clock.advance(seconds=2)
    assert _dm(api, room, room.listener, room.speaker, "hi again").status == 201


def test_deleting_an_account_deletes_its_blocks_both_ways(api):
    leaving, troll, other = make_person(api, "leaving"), make_person(api, "troll"), make_person(api, "other")
    _block(api, leaving, troll)
    _block(api, other, leaving)
    _block(api, other, troll)
    deleted = api.delete("/v1/me", token=leaving.token, body={"password": "correct horse battery"})
    assert deleted.status == 204, deleted.body
    assert [(b.blocker_id, b.blocked_id) for b in BlockModel.scan()] == [(other.id, troll.id)]


def test_counts_stay_exact_when_follows_and_a_block_race(container):
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.errors import Blocked, Conflict
    from chalicelib.models.users import UserModel

    accounts, social = container.accounts, container.social
    star, _ = accounts.sign_up("star", "Star", "long-password")
    fans = [accounts.sign_up(f"fan{i}", "Fan", "long-password")[0].user_id for i in range(12)]
    blocked = set(fans[:6])
    steps = []  # follows both ways and the star's blocks, all at once, interleaved
    for fan in fans:
        steps += [lambda f=fan: social.follow(f, star.user_id), lambda f=fan: social.follow(star.user_id, f)]
        if fan in blocked:
            steps += [lambda f=fan: social.block(star.user_id, f), lambda f=fan: social.follow(f, star.user_id)]

    def run(step):
        try:
            return step()
        except (Blocked, Conflict) as exc:  # a follow after the block; a block whose follows kept moving
            return exc.code

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(run, steps))
    for fan in blocked:  # a block that lost its race three times in a row is retried, as a client would
        social.block(star.user_id, fan)
    edges = {(e.follower_id, e.followee_id) for e in FollowModel.scan()}
    assert edges == {pair for fan in fans if fan not in blocked for pair in ((fan, star.user_id), (star.user_id, fan))}
    star_now = UserModel.get(star.user_id)
    assert (star_now.follower_count, star_now.following_count) == (6, 6)
    for fan in fans:
        now = UserModel.get(fan)
        assert (now.follower_count, now.following_count) == ((0, 0) if fan in blocked else (1, 1))
