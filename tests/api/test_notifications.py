"""Notifications: who hears what and when, through SQS jobs, the inbox, SNS push and realtime."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client

from chalicelib.models.follows import FollowModel
from chalicelib.models.notifications import DeviceModel, NotificationModel
from chalicelib.models.users import UserModel
from tests.api.rooms_support import make_host, make_person
from tests.conftest import TEST_SETTINGS

QUEUE = TEST_SETTINGS.queue_name("notifications")


@pytest.fixture
def jobs(aws):
    """Runs queued notification jobs through the app's own SQS handler, like Lambda would."""
    from app import app

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]

    class Jobs:
        handled: list[str] = []

        def drain(self, limit: int = 500) -> int:
            ran = 0
            with Client(app) as client:
                while ran < limit:
                    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                    if not messages:
                        return ran
                    bodies = [m["Body"] for m in messages]
                    client.lambda_.invoke("notification_jobs", client.events.generate_sqs_event(queue_name=QUEUE,
                                                                                                message_bodies=bodies))
                    self.handled.extend(bodies)
                    for m in messages:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    ran += len(messages)
            return ran

        def tick(self) -> None:
            with Client(app) as client:
                client.lambda_.invoke("send_due_reminders", client.events.generate_cw_event(
                    source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))

    drained = Jobs()
    drained.drain()  # start from an empty queue
    return drained


def _kinds(api, person) -> list[str]:
    reply = api.get("/v1/me/notifications?limit=100", token=person.token)
    assert reply.status == 200
    return [n["kind"] for n in reply.body["notifications"]]


def _schedule(api, host, clock, minutes=60):
    start = (clock.now() + timedelta(minutes=minutes)).isoformat()
    reply = api.post("/v1/spaces", {"title": "Evening chat", "scheduled_start": start}, token=host.token)
    assert reply.status == 201
    return reply.body["id"]


def _follow(api, who, whom):
    assert api.put(f"/v1/me/following/{whom.id}", token=who.token).status == 200


def test_scheduling_tells_followers_except_those_who_muted_the_host(api, clock, jobs):
    host, fan, quiet, stranger = make_host(api, "host"), make_person(api, "fan"), make_person(api, "quiet"), make_person(api, "stranger")
    _follow(api, fan, host)
    _follow(api, quiet, host)
    assert api.put(f"/v1/me/following/{host.id}/mute", token=quiet.token).status == 200
    _schedule(api, host, clock)
    jobs.drain()
    assert _kinds(api, fan) == ["space.scheduled"]
    assert _kinds(api, quiet) == [] and _kinds(api, stranger) == []
    item = api.get("/v1/me/notifications", token=fan.token).body["notifications"][0]
    assert item["data"]["scheduled_start"] and item["read"] is False


def test_unmuting_the_host_brings_their_news_back(api, clock, jobs):
    host, fan, stranger = make_host(api, "host"), make_person(api, "fan"), make_person(api, "stranger")
    _follow(api, fan, host)
    assert api.put(f"/v1/me/following/{host.id}/mute", token=fan.token).body == {"muted": True}
    unmuted = api.delete(f"/v1/me/following/{host.id}/mute", token=fan.token)
    assert unmuted.status == 200 and unmuted.body == {"muted": False}
    _schedule(api, host, clock)
    jobs.drain()
    assert _kinds(api, fan) == ["space.scheduled"]
    assert api.delete(f"/v1/me/following/{host.id}/mute", token=stranger.token).error_code == "not_following"


def test_going_live_tells_followers(api, jobs, events):
    host, fan = make_host(api, "host"), make_person(api, "fan")
    _follow(api, fan, host)
    api.post("/v1/spaces", {"title": "Now"}, token=host.token)
    jobs.drain()
    assert _kinds(api, fan) == ["space.live"]
    created = [e for e in events.of_type("notification.created") if e.user_ids == (fan.id,)]
    assert created and created[0].audience == "users" and created[0].data["kind"] == "space.live"


def test_reminders_fire_at_the_lead_time_once(api, clock, jobs):
    host, fan, reminded = make_host(api, "host"), make_person(api, "fan"), make_person(api, "reminded")
    _follow(api, fan, host)
    space_id = _schedule(api, host, clock, minutes=60)
    reply = api.put(f"/v1/spaces/{space_id}/reminder", token=reminded.token)
    assert reply.status == 200 and reply.body["subscriber_count"] == 1
    assert api.put(f"/v1/spaces/{space_id}/reminder", token=reminded.token).body["subscriber_count"] == 1
    jobs.drain()

    clock.advance(minutes=29)  # 31 minutes to go: nothing is due
    jobs.tick()
    jobs.drain()
    assert _kinds(api, host) == [] and _kinds(api, reminded) == []

    clock.advance(minutes=1)  # 30 minutes to go: the host's own reminder
    jobs.tick()
    jobs.drain()
    assert _kinds(api, host) == ["space.host_reminder"]

    clock.advance(minutes=14)  # 16 minutes to go: not yet
    jobs.tick()
    jobs.drain()
    assert "space.starting_soon" not in _kinds(api, reminded)

    clock.advance(minutes=1)  # 15 minutes to go: everyone who should hear it does, once
    jobs.tick()
    jobs.drain()
    jobs.tick()
    jobs.drain()
    assert _kinds(api, reminded) == ["space.starting_soon"]
    assert sorted(_kinds(api, fan)) == ["space.scheduled", "space.starting_soon"]


def test_stopping_a_reminder_counts_once_and_no_reminder_follows(api, clock, jobs):
    host, quitter, staying = make_host(api, "host"), make_person(api, "quitter"), make_person(api, "staying")
    space_id = _schedule(api, host, clock, minutes=60)
    api.put(f"/v1/spaces/{space_id}/reminder", token=staying.token)
    assert api.put(f"/v1/spaces/{space_id}/reminder", token=quitter.token).body["subscriber_count"] == 2

    stopped = api.delete(f"/v1/spaces/{space_id}/reminder", token=quitter.token)
    assert stopped.status == 200
    assert stopped.body == {"reminding": False, "changed": True, "subscriber_count": 1}
    again = api.delete(f"/v1/spaces/{space_id}/reminder", token=quitter.token)
    assert again.status == 200
    assert again.body == {"reminding": False, "changed": False, "subscriber_count": 1}
    assert api.get(f"/v1/spaces/{space_id}", token=host.token).body["subscriber_count"] == 1

    jobs.drain()
    clock.advance(minutes=45)  # 15 minutes to go: the reminder comes due
    jobs.tick()
    jobs.drain()
    assert _kinds(api, staying) == ["space.starting_soon"]
    assert _kinds(api, quitter) == []


def test_stopping_a_reminder_never_asked_for_changes_nothing(api, clock):
    host, reminded, stranger = make_host(api, "host"), make_person(api, "reminded"), make_person(api, "stranger")
    space_id = _schedule(api, host, clock)
    api.put(f"/v1/spaces/{space_id}/reminder", token=reminded.token)
    reply = api.delete(f"/v1/spaces/{space_id}/reminder", token=stranger.token)
    assert reply.status == 200
    assert reply.body == {"reminding": False, "changed": False, "subscriber_count": 1}
    assert api.get(f"/v1/spaces/{space_id}", token=host.token).body["subscriber_count"] == 1
    assert api.delete("/v1/spaces/01ARZ3NDEKTSV4RRFFQ69G5FAV/reminder", token=stranger.token).error_code == "space_not_found"


def test_a_missed_tick_catches_up_without_duplicates(api, clock, jobs):
    host, reminded = make_host(api, "host"), make_person(api, "reminded")
    space_id = _schedule(api, host, clock, minutes=20)
    api.put(f"/v1/spaces/{space_id}/reminder", token=reminded.token)
    jobs.tick()  # the scheduler runs once, then is down for five minutes across the due time
    clock.advance(minutes=8)
    jobs.tick()
    jobs.tick()
    jobs.drain()
    assert _kinds(api, reminded) == ["space.starting_soon"]


def test_a_moved_start_moves_the_reminder_and_tells_the_reminded(api, clock, jobs):
    host, reminded = make_host(api, "host"), make_person(api, "reminded")
    space_id = _schedule(api, host, clock, minutes=60)
    api.put(f"/v1/spaces/{space_id}/reminder", token=reminded.token)
    new_start = (clock.now() + timedelta(minutes=120)).isoformat()
    assert api.patch(f"/v1/spaces/{space_id}", {"scheduled_start": new_start}, token=host.token).status == 200
    jobs.drain()
    assert _kinds(api, reminded) == ["space.rescheduled"]
    clock.advance(minutes=45)  # the old reminder time passes: nothing
    jobs.tick()
    jobs.drain()
    assert _kinds(api, reminded) == ["space.rescheduled"]
    clock.advance(minutes=60)  # the new one: 15 minutes before the new start
    jobs.tick()
    jobs.drain()
    assert sorted(_kinds(api, reminded)) == ["space.rescheduled", "space.starting_soon"]


def test_cancelling_tells_the_reminded_and_no_reminder_follows(api, clock, jobs):
    host, reminded = make_host(api, "host"), make_person(api, "reminded")
    space_id = _schedule(api, host, clock, minutes=30)
    api.put(f"/v1/spaces/{space_id}/reminder", token=reminded.token)
    api.post(f"/v1/spaces/{space_id}/cancel", token=host.token)
    jobs.drain()
    clock.advance(minutes=20)
    jobs.tick()
    jobs.drain()
    assert _kinds(api, reminded) == ["space.canceled"]


def test_a_redelivered_job_sends_nothing_twice(api, clock, jobs, events):
    host, fan = make_host(api, "host"), make_person(api, "fan")
    _follow(api, fan, host)
    _schedule(api, host, clock)
    jobs.drain()
    send_jobs = [b for b in jobs.handled if json.loads(b)["type"] == "send"]
    before = len(events.of_type("notification.created"))
    from app import app

    with Client(app) as client:  # SQS delivers the same message again
        client.lambda_.invoke("notification_jobs", client.events.generate_sqs_event(queue_name=QUEUE, message_bodies=send_jobs))
    assert _kinds(api, fan) == ["space.scheduled"]
    assert len(events.of_type("notification.created")) == before


def test_2500_followers_all_hear_about_it(api, clock, jobs, container):
    host = make_host(api, "host")
    now = clock.now()
    with UserModel.batch_write() as users, FollowModel.batch_write() as follows:
        for i in range(2500):
            uid = f"FAN{i:06d}"
            users.save(UserModel(user_id=uid, handle=uid, display_name="Fan", password_hash="x", created_at=now))
            follows.save(FollowModel(follower_id=uid, followee_id=host.id, created_at=now))
    api.post("/v1/spaces", {"title": "Big"}, token=host.token)
    jobs.drain(limit=1000)
    assert NotificationModel.count() == 2500
    assert {n.user_id for n in NotificationModel.scan()} == {f"FAN{i:06d}" for i in range(2500)}


def test_push_goes_to_registered_devices_and_dead_endpoints_are_dropped(api, clock, jobs):
    from moto.sns.models import sns_backends

    host, fan = make_host(api, "host"), make_person(api, "fan")
    _follow(api, fan, host)
    phone = api.post("/v1/me/devices", {"platform": "fcm", "token": "fcm-token-0123456789"}, token=fan.token)
    tablet = api.post("/v1/me/devices", {"platform": "apns", "token": "apns-token-0123456789"}, token=fan.token)
    assert phone.status == tablet.status == 201
    sns = boto3.client("sns", region_name="us-east-1")
    sns.set_endpoint_attributes(EndpointArn=tablet.body["endpoint_arn"], Attributes={"Enabled": "false"})

    api.post("/v1/spaces", {"title": "Now"}, token=host.token)
    jobs.drain()
    backend = sns_backends["123456789012"]["us-east-1"]
    sent = list(backend.platform_endpoints[phone.body["endpoint_arn"]].messages.values())
    assert len(sent) == 1 and "is live" in json.loads(json.loads(sent[0])["GCM"])["notification"]["title"]
    assert DeviceModel.get(fan.id).endpoint_arns == {phone.body["endpoint_arn"]}  # the disabled one is forgotten
    assert tablet.body["endpoint_arn"] not in backend.platform_endpoints


def test_inbox_is_paginated_newest_first_and_can_be_marked_read(api, clock, jobs):
    fan = make_person(api, "fan")
    hosts = [make_host(api, f"host{i}") for i in range(3)]
    for h in hosts:
        _follow(api, fan, h)
    for h in hosts:
        api.post("/v1/spaces", {"title": f"By {h.id}"}, token=h.token)
        jobs.drain()
        clock.advance(seconds=5)
    first = api.get("/v1/me/notifications?limit=2", token=fan.token).body
    assert first["unread_count"] == 3 and len(first["notifications"]) == 2 and first["next_cursor"]
    second = api.get(f"/v1/me/notifications?limit=2&cursor={first['next_cursor']}", token=fan.token).body
    ordered = [n["space_id"] for n in first["notifications"] + second["notifications"]]
    assert len(ordered) == 3 and ordered == sorted(ordered, reverse=True)
    marked = api.post("/v1/me/notifications/read", {"ids": [first["notifications"][0]["id"]]}, token=fan.token)
    assert marked.body == {"marked": 1}
    assert api.get("/v1/me/notifications", token=fan.token).body["unread_count"] == 2
    assert api.post("/v1/me/notifications/read", {"all": True}, token=fan.token).body == {"marked": 2}
    assert api.get("/v1/me/notifications", token=fan.token).body["unread_count"] == 0


def test_bad_notification_requests(api, clock):
    host, fan = make_host(api, "host"), make_person(api, "fan")
    live = api.post("/v1/spaces", {"title": "Live"}, token=host.token).body["id"]
    assert api.put(f"/v1/spaces/{live}/reminder", token=fan.token).error_code == "invalid_state"
    assert api.put("/v1/spaces/01ARZ3NDEKTSV4RRFFQ69G5FAV/reminder", token=fan.token).status == 404
    assert api.post("/v1/me/devices", {"platform": "blackberry", "token": "0123456789"}, token=fan.token).status == 400
    assert api.post("/v1/me/devices", {"platform": "fcm"}, token=fan.token).status == 400
    assert api.post("/v1/me/notifications/read", {}, token=fan.token).status == 400
    assert api.post("/v1/me/notifications/read", {"ids": ["x"], "all": True}, token=fan.token).status == 400
    assert api.put(f"/v1/me/following/{host.id}/mute", token=fan.token).error_code == "not_following"
    assert DeviceModel.count() == 0


def test_a_device_registered_by_someone_else_moves_to_the_new_user_and_stops_pushing_to_the_old(api, jobs):
    from moto.sns.models import sns_backends

    host, old, new = make_host(api, "host"), make_person(api, "old"), make_person(api, "new")
    _follow(api, old, host)
    first = api.post("/v1/me/devices", {"platform": "fcm", "token": "fcm-shared-0123456789"}, token=old.token)
    moved = api.post("/v1/me/devices", {"platform": "fcm", "token": "fcm-shared-0123456789"}, token=new.token)
    assert first.status == moved.status == 201, moved.body
    arn = moved.body["endpoint_arn"]
    assert arn == first.body["endpoint_arn"]  # one device, one endpoint
    assert not DeviceModel.get(old.id).endpoint_arns and DeviceModel.get(new.id).endpoint_arns == {arn}
    endpoint = sns_backends["123456789012"]["us-east-1"].platform_endpoints[arn]
    sns = boto3.client("sns", region_name="us-east-1")
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]["CustomUserData"] == new.id

    api.post("/v1/spaces", {"title": "Now"}, token=host.token)
    jobs.drain()
    assert [n["kind"] for n in api.get("/v1/me/notifications", token=old.token).body["notifications"]] == ["space.live"]
    assert not endpoint.messages  # the old account's news does not reach the new user's phone
    # The old account signing the token out cannot take it from the new one.
    assert api.delete("/v1/me/devices/fcm-shared-0123456789", token=old.token).status == 204
    assert arn in sns_backends["123456789012"]["us-east-1"].platform_endpoints
    assert DeviceModel.get(new.id).endpoint_arns == {arn}


def test_unregistering_a_device_deletes_its_endpoint_and_only_that_one(api):
    from moto.sns.models import sns_backends

    fan = make_person(api, "fan")
    long_token = "f" * 163  # FCM registration tokens are longer than ids
    phone = api.post("/v1/me/devices", {"platform": "fcm", "token": long_token}, token=fan.token).body["endpoint_arn"]
    tablet = api.post("/v1/me/devices", {"platform": "apns", "token": "ab" * 32}, token=fan.token).body["endpoint_arn"]
    assert api.delete(f"/v1/me/devices/{long_token}", token=fan.token).status == 204
    endpoints = sns_backends["123456789012"]["us-east-1"].platform_endpoints
    assert phone not in endpoints and tablet in endpoints
    assert DeviceModel.get(fan.id).endpoint_arns == {tablet}
    assert api.delete(f"/v1/me/devices/{long_token}", token=fan.token).status == 204  # again: nothing to do
    assert api.delete("/v1/me/devices/never-registered-token", token=fan.token).status == 204
    assert DeviceModel.get(fan.id).endpoint_arns == {tablet}
    assert api.delete(f"/v1/me/devices/{long_token}").status == 401
