"""On AWS, ECS says when a worker's task stops: the EventBridge event reaches the app's
handler, which marks the worker gone and gives a live space another at once (its room is
told); a schedule keeps the warm pool full."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib.api.media_tasks import task_stopped_pattern
from chalicelib.clock import iso
from chalicelib.gateways.media import MEDIA_RESTARTED, WorkerMediaGateway
from chalicelib.models.media_workers import MediaWorkerModel
from chalicelib.settings import Settings
from parlor_contract.worker import WorkerState
from tests.api.test_media_gateway import SECRET, RecordingLauncher

TASK = "arn:aws:ecs:us-east-1:123456789012:task/parlor-media/0123456789abcdef"


class EcsLikeLauncher(RecordingLauncher):
    """Handles are task ARNs, as EcsLauncher's are."""

    def launch(self, space_id: str, worker_id: str = "", recording: bool = True) -> str:
        super().launch(space_id, worker_id, recording)
        return TASK if len(self.launched) == 1 else f"{TASK}-{len(self.launched)}"


@pytest.fixture
def launcher() -> EcsLikeLauncher:
    return EcsLikeLauncher()


@pytest.fixture
def media(clock, events, launcher) -> WorkerMediaGateway:  # the container's media gateway, for real
    return WorkerMediaGateway(launcher, clock, SECRET, events=events)


def _task_stopped(client: Client, exit_code: int | None = 137, reason: str = "Essential container in task exited") -> dict:
    container = {"name": "media-worker", "lastStatus": "STOPPED"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return client.events.generate_cw_event(
        source="aws.ecs", detail_type="ECS Task State Change", resources=[TASK],
        detail={"taskArn": TASK, "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "stopCode": "EssentialContainerExited",
                "stoppedReason": reason, "group": "family:parlor-test-media-worker", "startedBy": "space-01SPACE",
                "containers": [container]})


def test_the_rule_matches_stopped_tasks_of_the_workers_family():
    pattern = task_stopped_pattern(Settings(table_prefix="parlor-prod"))
    assert pattern == {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
                       "detail": {"lastStatus": ["STOPPED"], "group": ["family:parlor-prod-media-worker"]}}


def test_a_stopped_task_marks_its_worker_gone_and_the_space_gets_another_at_once(container, media, launcher, clock, events):
    from app import app

    media.start("01SPACE")
    MediaWorkerModel(space_id="01SPACE").update(actions=[
        MediaWorkerModel.state.set(WorkerState.READY), MediaWorkerModel.url.set("http://203.0.113.7:9000"),
        MediaWorkerModel.heartbeat_at.set(iso(clock.now()))])
    with Client(app) as client:
        client.lambda_.invoke("media_task_stopped", _task_stopped(client))
    assert launcher.launched == ["01SPACE", "01SPACE"]
    record = MediaWorkerModel.get("01SPACE")
    assert record.handle == f"{TASK}-2" and record.state == WorkerState.STARTING
    assert [e.space_id for e in events.of_type(MEDIA_RESTARTED)] == ["01SPACE"]


def test_a_stopped_task_of_an_ended_space_is_only_recorded(container, media, launcher, clock):
    from app import app

    media.start("01SPACE")
    media.stop("01SPACE")
    with Client(app) as client:
        client.lambda_.invoke("media_task_stopped", _task_stopped(client, exit_code=0, reason="space ended"))
    record = MediaWorkerModel.get("01SPACE")
    assert (record.state, record.exit_code, record.gone_reason) == (WorkerState.GONE, 0, "space ended")
    assert launcher.launched == ["01SPACE"]


def test_a_task_stopped_before_its_container_ran_has_no_exit_code(container, media, clock):
    from app import app

    media.start("01SPACE")
    with Client(app) as client:
        client.lambda_.invoke("media_task_stopped", _task_stopped(client, exit_code=None, reason="CannotPullContainerError"))
    record = MediaWorkerModel.get("01SPACE")
    assert (record.state, record.exit_code, record.gone_reason) == (WorkerState.GONE, None, "CannotPullContainerError")


def test_the_schedule_refills_the_pool(container, media, monkeypatch):
    from app import app

    calls = []
    monkeypatch.setattr(media, "refill_pool", lambda: calls.append("refill") or 2)
    with Client(app) as client:
        client.lambda_.invoke("keep_media_pool_warm", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert calls == ["refill"]
