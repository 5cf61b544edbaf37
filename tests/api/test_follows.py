"""Follows: idempotent follow/unfollow, exact counters, paginated lists."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chalicelib.models.follows import FollowModel
from chalicelib.models.users import UserModel

MISSING_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def _counts(api, user_id, token):
    body = api.get(f"/v1/users/{user_id}", token=token).body
    return body["follower_count"], body["following_count"]


def test_follow_updates_both_counters(api):
    alice, alice_token = api.sign_up("alice")
    bob, bob_token = api.sign_up("bob")
    reply = api.put(f"/v1/me/following/{bob}", token=alice_token)
    assert reply.status == 200 and reply.body["following"] is True and reply.body["changed"] is True
    assert reply.body["user"]["follower_count"] == 1
    assert _counts(api, bob, alice_token) == (1, 0)
    assert _counts(api, alice, alice_token) == (0, 1)


def test_following_twice_counts_once(api):
    _, alice_token = api.sign_up("alice")
    bob, _ = api.sign_up("bob")
    api.put(f"/v1/me/following/{bob}", token=alice_token)
    again = api.put(f"/v1/me/following/{bob}", token=alice_token)
    assert again.status == 200 and again.body["changed"] is False
    assert again.body["user"]["follower_count"] == 1
    assert FollowModel.count() == 1


def test_unfollow_is_idempotent(api):
    alice, alice_token = api.sign_up("alice")
    bob, _ = api.sign_up("bob")
    api.put(f"/v1/me/following/{bob}", token=alice_token)
    first = api.delete(f"/v1/me/following/{bob}", token=alice_token)
    second = api.delete(f"/v1/me/following/{bob}", token=alice_token)
    assert first.status == second.status == 200
    assert first.body["changed"] is True and second.body["changed"] is False
    assert second.body["user"]["follower_count"] == 0
    assert _counts(api, alice, alice_token) == (0, 0)


def test_unfollow_without_following_changes_nothing(api):
    alice, alice_token = api.sign_up("alice")
    bob, _ = api.sign_up("bob")
    reply = api.delete(f"/v1/me/following/{bob}", token=alice_token)
    assert reply.status == 200 and reply.body["changed"] is False
    assert _counts(api, alice, alice_token) == (0, 0)
    assert _counts(api, bob, alice_token) == (0, 0)


def test_cannot_follow_yourself(api):
    alice, alice_token = api.sign_up("alice")
    reply = api.put(f"/v1/me/following/{alice}", token=alice_token)
    assert reply.status == 422 and reply.error_code == "cannot_follow_self"
    assert FollowModel.count() == 0 and _counts(api, alice, alice_token) == (0, 0)


def test_cannot_follow_a_missing_user(api):
    alice, alice_token = api.sign_up("alice")
    reply = api.put(f"/v1/me/following/{MISSING_ID}", token=alice_token)
    assert reply.status == 404 and reply.error_code == "user_not_found"
    assert FollowModel.count() == 0 and _counts(api, alice, alice_token) == (0, 0)
    assert api.delete(f"/v1/me/following/{MISSING_ID}", token=alice_token).status == 404


def test_follow_needs_a_token(api):
    bob, _ = api.sign_up("bob")
    assert api.put(f"/v1/me/following/{bob}").status == 401
    assert FollowModel.count() == 0


def test_followers_and_following_are_paginated(api):
    star, star_token = api.sign_up("star")
    fans = [api.sign_up(f"fan{i}") for i in range(7)]
    for _, token in fans:
        assert api.put(f"/v1/me/following/{star}", token=token).status == 200
    seen, cursor, pages = [], None, 0
    while True:
        path = f"/v1/users/{star}/followers?limit=3" + (f"&cursor={cursor}" if cursor else "")
        reply = api.get(path, token=star_token)
        assert reply.status == 200
        seen += [u["id"] for u in reply.body["users"]]
        cursor, pages = reply.body["next_cursor"], pages + 1
        if not cursor:
            break
    assert sorted(seen) == sorted(fan_id for fan_id, _ in fans) and len(seen) == 7
    assert pages >= 3
    following = api.get(f"/v1/users/{fans[0][0]}/following", token=star_token)
    assert [u["id"] for u in following.body["users"]] == [star] and following.body["next_cursor"] is None


def test_bad_cursor_and_limit_get_400(api):
    star, token = api.sign_up("star")
    assert api.get(f"/v1/users/{star}/followers?cursor=%%%garbage", token=token).error_code == "invalid_cursor"
    assert api.get(f"/v1/users/{star}/followers?limit=0", token=token).status == 400
    assert api.get(f"/v1/users/{star}/followers?limit=abc", token=token).status == 400


def test_followers_of_a_missing_user_is_404(api):
    _, token = api.sign_up("someone")
    assert api.get(f"/v1/users/{MISSING_ID}/followers", token=token).status == 404


def test_counters_stay_exact_under_concurrent_follows(container):
    accounts, social = container.accounts, container.social
    star, _ = accounts.sign_up("star", "Star", "long-password")
    fans = [accounts.sign_up(f"fan{i}", "Fan", "long-password")[0] for i in range(24)]

    def follow_twice(fan):
        return [social.follow(fan.user_id, star.user_id), social.follow(fan.user_id, star.user_id)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(follow_twice, fans))
    assert sum(r.count(True) for r in results) == 24  # each fan's edge was created once
    assert UserModel.get(star.user_id).follower_count == 24
    assert all(UserModel.get(f.user_id).following_count == 1 for f in fans)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda fan: social.unfollow(fan.user_id, star.user_id), fans + fans))
    assert UserModel.get(star.user_id).follower_count == 0
    assert FollowModel.count() == 0


def test_handle_uniqueness_under_concurrent_sign_ups(container):
    from chalicelib.errors import HandleTaken

    def attempt(i):
        try:
            container.accounts.sign_up("SameName" if i % 2 else "samename", "X", "long-password")
            return "ok"
        except HandleTaken:
            return "taken"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(16)))
    assert outcomes.count("ok") == 1 and outcomes.count("taken") == 15
    assert UserModel.count() == 1
