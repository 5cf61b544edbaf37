"""The purple circles: live spaces with someone I follow on stage, most listeners first."""

from __future__ import annotations

from tests.api.rooms_support import make_host, make_person


def _feed(api, token):
    reply = api.get("/v1/feed/live", token=token)
    assert reply.status == 200
    return [s["id"] for s in reply.body["spaces"]]


def _follow(api, who, whom):
    assert api.put(f"/v1/me/following/{whom.id}", token=who.token).status == 200


def test_feed_shows_live_spaces_hosted_by_people_i_follow_most_listeners_first(api):
    me = make_person(api, "myself")
    ada, bob, cleo = make_host(api, "ada"), make_host(api, "bob"), make_host(api, "cleo")
    _follow(api, me, ada)
    _follow(api, me, bob)
    small = api.post("/v1/spaces", {"title": "Small"}, token=ada.token).body["id"]
    big = api.post("/v1/spaces", {"title": "Big"}, token=bob.token).body["id"]
    api.post("/v1/spaces", {"title": "Stranger"}, token=cleo.token)  # not followed
    for i in range(3):
        api.post(f"/v1/spaces/{big}/join", token=make_person(api, f"fan{i}").token)
    assert _feed(api, me.token) == [big, small]


def test_feed_includes_spaces_where_a_followee_speaks_but_not_where_they_only_listen(api):
    me = make_person(api, "myself")
    host = make_host(api, "host")
    friend = make_person(api, "friend")
    _follow(api, me, friend)
    space_id = api.post("/v1/spaces", {"title": "Talk"}, token=host.token).body["id"]
    api.post(f"/v1/spaces/{space_id}/join", token=friend.token)
    assert _feed(api, me.token) == []
    api.put(f"/v1/spaces/{space_id}/participants/{friend.id}", {"role": "speaker"}, token=host.token)
    assert _feed(api, me.token) == [space_id]
    api.put(f"/v1/spaces/{space_id}/participants/{friend.id}", {"role": "listener"}, token=host.token)
    assert _feed(api, me.token) == []
    api.put(f"/v1/spaces/{space_id}/participants/{friend.id}", {"role": "cohost"}, token=host.token)
    assert _feed(api, me.token) == [space_id]


def test_ended_and_scheduled_spaces_are_not_in_the_feed(api, clock):
    from datetime import timedelta

    me = make_person(api, "myself")
    host = make_host(api, "host")
    _follow(api, me, host)
    space_id = api.post("/v1/spaces", {"title": "Live"}, token=host.token).body["id"]
    api.post("/v1/spaces", {"title": "Later", "scheduled_start": (clock.now() + timedelta(hours=1)).isoformat()},
             token=host.token)
    assert _feed(api, me.token) == [space_id]
    api.post(f"/v1/spaces/{space_id}/end", token=host.token)
    assert _feed(api, me.token) == []


def test_feed_looks_past_the_first_hundred_followees(api, container):
    from chalicelib.models.follows import FollowModel

    me = make_person(api, "myself")
    host = make_host(api, "host")
    with FollowModel.batch_write() as batch:  # 150 quiet followees before the one who is live
        for i in range(150):
            batch.save(FollowModel(follower_id=me.id, followee_id=f"00000000000000000000000{i:03d}",
                                   created_at=container.clock.now()))
    _follow(api, me, host)
    space_id = api.post("/v1/spaces", {"title": "Found"}, token=host.token).body["id"]
    assert _feed(api, me.token) == [space_id]
