"""The media launcher: one worker per live space, readiness from the heartbeat, replacement
of dead workers, signed control calls (taken by a real worker), the environment a worker is
started with, and the ECS calls it makes (under moto)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import boto3
import pytest
from aiortc import RTCPeerConnection

from chalicelib.clock import iso
from chalicelib.errors import Unavailable, ValidationFailed
from chalicelib.gateways import launchers
from chalicelib.gateways.launchers import EcsLauncher, worker_env
from chalicelib.gateways.media import MEDIA_RESTARTED, WorkerMediaGateway
from chalicelib.models.media_workers import MediaWorkerModel
from media_worker.config import WorkerConfig
from media_worker.server import Worker
from parlor_contract import signatures
from parlor_contract.worker import SPACE_ENDED, WorkerEnv, WorkerState
from tests.media_worker.worker_support import PUBLIC_KEY, SPACE, run_with_worker, token
from tests.media_worker.worker_support import SECRET as WORKER_SECRET

SECRET = "service-secret-for-tests-0123456789"


class RecordingLauncher:
    def __init__(self) -> None:
        self.launched: list[str] = []
        self.recording: list[bool] = []  # what each launch was told about keeping the HLS stream
        self.pooled: list[tuple[str, str]] = []
        self.terminated: list[str] = []

    def launch(self, space_id: str, worker_id: str = "", recording: bool = True) -> str:
        self.launched.append(space_id)
        self.recording.append(recording)
        return f"handle-{len(self.launched)}"

    def launch_pooled(self, slot: str, worker_id: str) -> str:
        self.pooled.append((slot, worker_id))
        return f"pooled-{len(self.pooled)}"

    def terminate(self, handle: str) -> None:
        self.terminated.append(handle)


def heartbeat(space_id: str, url: str, at) -> None:
    MediaWorkerModel(space_id=space_id).update(actions=[MediaWorkerModel.state.set(WorkerState.READY), MediaWorkerModel.url.set(url),
                                                        MediaWorkerModel.heartbeat_at.set(iso(at))])


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def gateway(container, clock, launcher, events) -> WorkerMediaGateway:
    return WorkerMediaGateway(launcher, clock, SECRET, events=events)


def test_start_launches_one_worker_per_space(gateway, launcher):
    gateway.start("space-1")
    gateway.start("space-1")
    assert launcher.launched == ["space-1"]
    assert MediaWorkerModel.get("space-1").handle == "handle-1"


def test_endpoint_is_retryable_until_the_worker_reports_ready(gateway, clock):
    gateway.start("space-1")
    with pytest.raises(Unavailable) as starting:
        gateway.endpoint("space-1")
    assert starting.value.status == 503 and starting.value.code == "media_starting" and starting.value.retry_after >= 1
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    assert gateway.endpoint("space-1").url == "http://127.0.0.1:9123"


def test_a_silent_worker_is_replaced(gateway, launcher, clock):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    clock.advance(seconds=29)
    assert gateway.endpoint("space-1").url == "http://127.0.0.1:9123"
    assert launcher.launched == ["space-1"]
    clock.advance(seconds=2)  # 31 s without a heartbeat: dead
    with pytest.raises(Unavailable):
        gateway.endpoint("space-1")
    assert launcher.launched == ["space-1", "space-1"]


def test_a_space_that_does_not_record_launches_its_worker_so_and_its_replacement_too(gateway, launcher, clock):
    gateway.start("space-1", recording=False)
    gateway.start("space-2")  # the callers that do not say: recorded
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    gateway.worker_exited("handle-1", -9, "killed by signal 9")  # replaced at once
    assert launcher.launched == ["space-1", "space-2", "space-1"]
    assert launcher.recording == [False, True, False]
    assert MediaWorkerModel.get("space-1").recording is False


def test_a_worker_that_never_came_up_is_replaced_after_the_deadline(gateway, launcher, clock):
    gateway.start("space-1")
    clock.advance(seconds=10)
    gateway.start("space-1")
    assert launcher.launched == ["space-1"]
    clock.advance(seconds=25)
    gateway.start("space-1")
    assert launcher.launched == ["space-1", "space-1"]


def test_stop_marks_the_space_ended_and_terminates(gateway, launcher, clock):
    gateway.start("space-1")
    gateway.stop("space-1")
    assert MediaWorkerModel.get("space-1").space_state == SPACE_ENDED
    assert launcher.terminated == ["handle-1"]
    gateway.stop("never-started")  # idempotent, nothing to do


def test_a_worker_that_exits_is_marked_gone_and_replaced_at_once_and_the_room_told(gateway, launcher, clock, events):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    gateway.worker_exited("handle-1", -9, "killed by signal 9")  # no time passes: the exit is the signal
    assert launcher.launched == ["space-1", "space-1"]
    record = MediaWorkerModel.get("space-1")
    assert (record.state, record.handle) == (WorkerState.STARTING, "handle-2")
    with pytest.raises(Unavailable):  # never the dead worker's URL
        gateway.endpoint("space-1")
    [restarted] = events.of_type(MEDIA_RESTARTED)
    assert restarted.space_id == "space-1" and restarted.data == {"reason": "worker_exited"}
    gateway.worker_exited("handle-1", -9, "killed by signal 9")  # told twice: nothing more
    assert launcher.launched == ["space-1", "space-1"] and len(events.of_type(MEDIA_RESTARTED)) == 1


def test_an_exit_is_recorded_with_its_code_and_reason(gateway, launcher, clock):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    gateway.stop("space-1")
    gateway.worker_exited("handle-1", 0, "exited")
    record = MediaWorkerModel.get("space-1")
    assert (record.state, record.exit_code, record.gone_reason) == (WorkerState.GONE, 0, "exited")
    assert launcher.launched == ["space-1"]  # the space ended: no replacement


def test_a_worker_that_never_came_up_is_replaced_by_the_next_join_not_in_a_loop(gateway, launcher, clock):
    gateway.start("space-1")
    gateway.worker_exited("handle-1", 2, "exited with status 2")
    assert launcher.launched == ["space-1"]
    assert MediaWorkerModel.get("space-1").state == WorkerState.GONE
    with pytest.raises(Unavailable):
        gateway.endpoint("space-1")
    assert launcher.launched == ["space-1", "space-1"]


def test_a_worker_closing_for_an_empty_room_is_replaced_by_the_next_join_at_once(gateway, launcher, clock, events):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    MediaWorkerModel(space_id="space-1").update(actions=[MediaWorkerModel.state.set(WorkerState.CLOSING)])
    with pytest.raises(Unavailable):  # its last heartbeat is fresh, but it is going
        gateway.endpoint("space-1")
    assert launcher.launched == ["space-1", "space-1"]
    gateway.worker_exited("handle-1", 0, "exited")  # the old one's exit changes nothing now
    assert MediaWorkerModel.get("space-1").handle == "handle-2"
    assert [e.data["reason"] for e in events.of_type(MEDIA_RESTARTED)] == ["worker_closed"]


def test_a_closing_worker_that_exits_is_not_replaced_until_someone_joins(gateway, launcher, clock, events):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    MediaWorkerModel(space_id="space-1").update(actions=[MediaWorkerModel.state.set(WorkerState.CLOSING)])
    gateway.worker_exited("handle-1", 0, "exited")
    assert launcher.launched == ["space-1"] and events.of_type(MEDIA_RESTARTED) == []
    with pytest.raises(Unavailable):
        gateway.endpoint("space-1")
    assert launcher.launched == ["space-1", "space-1"]


def test_control_never_calls_a_gone_worker(gateway, clock):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:1", clock.now())
    gateway.stop("space-1")
    gateway.worker_exited("handle-1", 0, "exited")
    assert gateway.control("space-1", "mute", user_id="u1") is False


class _ControlRecorder(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str | None]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get(signatures.HEADER)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_control_calls_name_their_space_and_are_signed_with_its_key(gateway, clock):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ControlRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gateway.start("space-1")
        heartbeat("space-1", f"http://127.0.0.1:{server.server_address[1]}", clock.now())
        assert gateway.control("space-1", "mute", user_id="u1") is True
    finally:
        server.shutdown()
    body, header = _ControlRecorder.received[-1]
    assert json.loads(body) == {"space_id": "space-1", "action": "mute", "user_id": "u1",
                                "decided_at": int(clock.now().timestamp() * 1000)}
    key = signatures.space_key(SECRET, "space-1")
    assert signatures.verify_request(key, "POST", "/control", body, header)
    assert not signatures.verify_request(signatures.space_key(SECRET, "space-2"), "POST", "/control", body, header)
    assert not signatures.verify_request(key, "POST", "/offer", body, header)
    assert not signatures.verify_request(key, "POST", "/control", body + b" ", header)


def test_control_to_an_unreachable_worker_does_not_fail(gateway, clock):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:1", clock.now())
    assert gateway.control("space-1", "mute", user_id="u1") is False  # logged, not raised


def test_control_without_a_ready_worker_reaches_nobody(gateway):
    assert gateway.control("never-started", "mute", user_id="u1") is False
    gateway.start("space-1")  # launched, no heartbeat yet: no URL
    assert gateway.control("space-1", "mute", user_id="u1") is False


def test_control_knows_only_the_contracts_actions(gateway):
    with pytest.raises(ValueError):
        gateway.control("space-1", "explode")


def test_the_worker_takes_the_apis_control_calls_and_only_with_the_service_secret(container, clock, launcher):
    """The API's gateway signs, the worker verifies: the same function (parlor_contract.signatures)."""
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        heartbeat(SPACE, url, clock.now())
        loop = asyncio.get_running_loop()
        forged = WorkerMediaGateway(launcher, clock, "not-the-service-secret-0123456789")
        assert await loop.run_in_executor(None, lambda: forged.control(SPACE, "close")) is False
        assert not worker.stop.is_set()
        real = WorkerMediaGateway(launcher, clock, WORKER_SECRET)
        assert await loop.run_in_executor(None, lambda: real.control(SPACE, "mute", user_id="nobody")) is True
        assert await loop.run_in_executor(None, lambda: real.control(SPACE, "close")) is True
        assert worker.stop.is_set()

    run_with_worker(scenario)


def test_a_local_worker_gets_its_settings_and_none_of_the_apis_secrets():
    api_env = {"PATH": "/usr/bin", "AWS_ENDPOINT_URL": "http://127.0.0.1:5005", "PARLOR_MEDIA_TOKEN_PRIVATE_KEY": "private",
               "PARLOR_JWT_SECRET": "jwt", "PARLOR_STRIPE_API_KEY": "sk_test", "STRIPE_WEBHOOK_SECRET": "whsec",
               WorkerEnv.STUN_URL: "stun:example.org"}
    env = worker_env(api_env, "parlor-media_workers", "public", "service", "http://127.0.0.1:8000")
    assert env == {"PATH": "/usr/bin", "AWS_ENDPOINT_URL": "http://127.0.0.1:5005", WorkerEnv.STUN_URL: "stun:example.org",
                   WorkerEnv.WORKERS_TABLE: "parlor-media_workers", WorkerEnv.TOKEN_PUBLIC_KEY: "public",
                   WorkerEnv.SERVICE_SECRET: "service", WorkerEnv.API_URL: "http://127.0.0.1:8000"}
    with_bucket = worker_env(api_env, "parlor-media_workers", "public", "service", "http://127.0.0.1:8000",
                             media_bucket="parlor-media")
    assert with_bucket == {**env, WorkerEnv.MEDIA_BUCKET: "parlor-media"}


def test_a_local_launch_tells_the_worker_whether_its_space_records(monkeypatch):
    started: list[dict] = []

    class Process:
        pid = 4242

        def wait(self) -> int:
            return 0

    monkeypatch.setattr(launchers.subprocess, "Popen", lambda args, env: started.append(env) or Process())
    launcher = launchers.LocalProcessLauncher({WorkerEnv.MEDIA_BUCKET: "parlor-media"}, base_port=19500)
    launcher.launch("01SPACE", "w1", recording=False)
    launcher.launch("01SPACE2", "w2")
    assert [(e[WorkerEnv.RECORDING], e[WorkerEnv.MEDIA_BUCKET]) for e in started] == [("false", "parlor-media"),
                                                                                      ("true", "parlor-media")]
    assert WorkerConfig(**{"space_id": "s", "token_public_key": PUBLIC_KEY, "service_secret": WORKER_SECRET,
                           str(WorkerEnv.RECORDING): "false"}).recording is False


def test_ecs_launcher_runs_and_stops_a_fargate_task(aws):
    ecs = boto3.client("ecs", region_name="us-east-1")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="media", Description="media", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName="parlor-media")
    ecs.register_task_definition(
        family="parlor-media-worker", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "media-worker", "image": "parlor/media-worker", "memory": 512,
                               "command": ["python", "-m", "media_worker"]}])
    launcher = EcsLauncher(ecs, "parlor-media", "parlor-media-worker", "media-worker", [subnet], [group],
                           "https://api.example/api", "-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n",
                           media_bucket="parlor-media")

    arn = launcher.launch("01SPACE", recording=False)
    task = ecs.describe_tasks(cluster="parlor-media", tasks=[arn])["tasks"][0]
    overrides = task["overrides"]["containerOverrides"][0]
    assert overrides["name"] == "media-worker"
    assert {"name": WorkerEnv.SPACE_ID, "value": "01SPACE"} in overrides["environment"]
    # The public key travels with each task (the task definition no longer holds it); no secret does.
    assert {"name": WorkerEnv.TOKEN_PUBLIC_KEY, "value": "-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n"} in (
        overrides["environment"])
    assert {"name": WorkerEnv.API_URL, "value": "https://api.example/api"} in overrides["environment"]
    assert {"name": WorkerEnv.MEDIA_BUCKET, "value": "parlor-media"} in overrides["environment"]
    assert {"name": WorkerEnv.RECORDING, "value": "false"} in overrides["environment"]
    assert WorkerEnv.SERVICE_SECRET not in {e["name"] for e in overrides["environment"]}
    assert task["startedBy"] == "space-01SPACE" and task["launchType"] == "FARGATE"

    launcher.terminate(arn)
    stopped = ecs.describe_tasks(cluster="parlor-media", tasks=[arn])["tasks"][0]
    assert stopped["desiredStatus"] == "STOPPED" and stopped["stoppedReason"] == "space ended"


def test_a_launch_that_fails_leaves_no_starting_record_so_the_next_join_tries_again_at_once(gateway, launcher):
    launch = launcher.launch
    launcher.launch = lambda space_id, worker_id="", recording=True: (_ for _ in ()).throw(RuntimeError("RunTask throttled"))
    with pytest.raises(RuntimeError):
        gateway.start("space-1")
    assert MediaWorkerModel.get("space-1").state == WorkerState.GONE
    launcher.launch = launch
    with pytest.raises(Unavailable):  # starting now, not "starting" for the next 30 s with nothing behind it
        gateway.endpoint("space-1")
    assert launcher.launched == ["space-1"] and MediaWorkerModel.get("space-1").state == WorkerState.STARTING


def test_a_space_that_ended_as_its_worker_died_gets_no_new_worker(gateway, launcher, clock, events):
    gateway.start("space-1")
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    gateway.stop("space-1")  # the host ends the space as the worker dies
    gateway.worker_exited("handle-1", -9, "killed by signal 9")
    with pytest.raises(Unavailable):  # a start racing with the end (read before it) launches nothing
        gateway.endpoint("space-1")
    assert launcher.launched == ["space-1"] and not events.of_type(MEDIA_RESTARTED)
    assert MediaWorkerModel.get("space-1").space_state == SPACE_ENDED


def test_each_worker_is_launched_under_the_id_its_record_names(gateway, launcher, clock):
    ids: list[str] = []
    launch = launcher.launch
    launcher.launch = lambda space_id, worker_id="", recording=True: (ids.append(worker_id), launch(space_id, worker_id))[1]
    gateway.start("space-1")
    first = MediaWorkerModel.get("space-1").worker_id
    heartbeat("space-1", "http://127.0.0.1:9123", clock.now())
    gateway.worker_exited("handle-1", -9, "killed by signal 9")
    assert ids == [first, MediaWorkerModel.get("space-1").worker_id] and first and ids[0] != ids[1]


def test_the_gateway_relays_an_offer_with_its_grant_and_maps_the_workers_refusals(container, clock, launcher):
    """The API's relay against a real worker: an answer for a good offer, 400 bad_offer for a
    bad one, and "retry" (503) when the worker does not answer."""
    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        heartbeat(SPACE, url, clock.now())
        loop = asyncio.get_running_loop()
        gateway = WorkerMediaGateway(launcher, clock, WORKER_SECRET)
        pc = RTCPeerConnection()
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        good = {"sdp": pc.localDescription.sdp, "type": "offer"}
        answer = await loop.run_in_executor(None, lambda: gateway.offer(SPACE, token("dan", "listener"), good))
        assert answer["type"] == "answer" and "m=audio" in answer["sdp"] and set(worker.room.participants) == {"dan"}
        with pytest.raises(ValidationFailed) as refused:
            await loop.run_in_executor(None, lambda: gateway.offer(SPACE, token("eve", "listener"),
                                                                   {"sdp": "v=0\r\nnot sdp\r\n", "type": "offer"}))
        assert refused.value.code == "bad_offer"
        await pc.close()

    run_with_worker(scenario)
    with pytest.raises(Unavailable) as unreachable:  # the worker is gone, its record not yet
        WorkerMediaGateway(launcher, clock, WORKER_SECRET).offer(SPACE, token("dan", "listener"), {"sdp": "v=0", "type": "offer"})
    assert unreachable.value.code == "media_unavailable"


def test_a_control_call_whose_answer_is_lost_is_sent_again_and_obeyed_once(container, clock, launcher, monkeypatch):
    """The first call reaches the worker but its answer is lost: the gateway sends the same
    signed call again, the worker says it was already obeyed, and that counts as taken."""
    from chalicelib.gateways import worker_calls

    real_post, sent = worker_calls._post, []

    def answer_lost_once(url, body, headers, timeout):  # type: ignore[no-untyped-def]
        reply = real_post(url, body, headers, timeout)
        sent.append(reply.status)
        if len(sent) == 1:
            raise worker_calls.WorkerUnreachable("connection reset")
        return reply

    monkeypatch.setattr(worker_calls, "_post", answer_lost_once)

    async def scenario(url: str, worker: Worker, session: aiohttp.ClientSession) -> None:
        heartbeat(SPACE, url, clock.now())
        gateway = WorkerMediaGateway(launcher, clock, WORKER_SECRET)
        taken = await asyncio.get_running_loop().run_in_executor(None, lambda: gateway.control(SPACE, "close"))
        assert taken is True and worker.stop.is_set()
        assert sent == [200, 409]  # obeyed once; the resend was recognised

    run_with_worker(scenario)
