"""Both sides spell the worker's contract the same way: roles, the heartbeat record, the
speaking callback's path, the media token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import boto3
import jwt
import pytest

from chalicelib.clock import ManualClock
from chalicelib.gateways.media import WorkerMediaGateway
from chalicelib.models import participants
from chalicelib.models.media_workers import MediaPoolSlotModel, MediaWorkerModel
from chalicelib.services.tokens import RoomTokens, generate_media_keypair
from media_worker.auth import InvalidToken, verify_media_token
from media_worker.config import WorkerConfig
from media_worker.server import Worker
from parlor_contract.media import SPEAKING_PATH, STAGE_ROLES, MediaGrant, Role
from parlor_contract.worker import SPACE_ENDED, HeartbeatField, PoolField, PoolState, WorkerState

SPACE = "01SPACEFORCONTRACTTESTS0000"


def test_roles_keep_their_wire_values_and_the_models_use_them():
    assert [str(role) for role in Role] == ["host", "cohost", "speaker", "listener"]
    assert list(participants.ROLES) == ["host", "cohost", "speaker", "listener"]
    assert (participants.HOST, participants.COHOST, participants.SPEAKER, participants.LISTENER) == tuple(Role)
    assert participants.STAGE_ROLES == STAGE_ROLES == ("host", "cohost", "speaker")


def test_the_worker_record_model_has_the_heartbeat_fields():
    attributes = {name: attribute.attr_name for name, attribute in MediaWorkerModel.get_attributes().items()}
    assert all(name == attr_name for name, attr_name in attributes.items())
    # The launcher's own attributes (where it started the worker, and when) and the API's
    # note of its exit are the only others.
    assert set(attributes) - set(HeartbeatField) == {"handle", "launched_at", "exit_code", "gone_reason"}
    assert set(HeartbeatField) <= set(attributes)
    assert MediaWorkerModel.space_id.is_hash_key and MediaWorkerModel.space_id.attr_name == HeartbeatField.SPACE_ID


def test_the_pool_slot_model_has_the_pool_fields():
    attributes = {name: attribute.attr_name for name, attribute in MediaPoolSlotModel.get_attributes().items()}
    assert all(name == attr_name for name, attr_name in attributes.items())
    assert set(attributes) - set(PoolField) == {"handle", "launched_at"}
    assert set(PoolField) <= set(attributes)
    assert MediaPoolSlotModel.slot.is_hash_key and MediaPoolSlotModel.slot.attr_name == PoolField.SLOT
    assert set(PoolState) == {MediaPoolSlotModel.state.default, *PoolState}


class _Launcher:
    def launch(self, space_id: str, worker_id: str = "") -> str:
        return "handle"

    def terminate(self, handle: str) -> None:
        return None


def test_the_api_reads_the_workers_heartbeat_and_the_worker_reads_the_apis_end(container):
    config = WorkerConfig(space_id=SPACE, public_url="http://127.0.0.1:1", workers_table=MediaWorkerModel.Meta.table_name,
                          token_public_key=generate_media_keypair()[1], service_secret="service-secret-" + "0" * 32)
    worker = Worker(config, boto3.client("dynamodb", region_name="us-east-1"))
    asyncio.run(worker.heartbeat())

    record = MediaWorkerModel.get(SPACE)
    assert (record.state, record.url, record.participants.as_dict()) == (
        WorkerState.READY, "http://127.0.0.1:1", {"host": 0, "cohost": 0, "speaker": 0, "listener": 0})
    assert record.pid and record.heartbeat_at and record.expires_at and record.packets_forwarded == 0
    gateway = WorkerMediaGateway(_Launcher(), ManualClock(datetime.now(UTC)), "service-secret")
    assert gateway.endpoint(SPACE).url == "http://127.0.0.1:1"

    gateway.stop(SPACE)  # the close call cannot reach it: the record tells it
    assert MediaWorkerModel.get(SPACE).space_state == SPACE_ENDED
    assert not worker.stop.is_set()
    asyncio.run(worker.heartbeat())
    assert worker.stop.is_set()


def test_the_speaking_callback_is_a_route_of_the_api():
    from app import app

    assert SPEAKING_PATH in app.routes and "POST" in app.routes[SPEAKING_PATH]


PRIVATE_KEY, PUBLIC_KEY = generate_media_keypair()
REALTIME_SECRET = "realtime-secret-0123456789abcdef"


def room_tokens(key: str = PRIVATE_KEY, issued_ago: float = 0) -> RoomTokens:
    """The API's token issuer, on the real clock (the worker judges expiry by it)."""
    return RoomTokens(key, REALTIME_SECRET, ManualClock(datetime.now(UTC) - timedelta(seconds=issued_ago)))


def test_the_worker_takes_the_apis_media_token():
    token = room_tokens().media(SPACE, "ada", "speaker")
    assert verify_media_token(token, PUBLIC_KEY, SPACE) == MediaGrant(SPACE, "ada", Role.SPEAKER)


@pytest.mark.parametrize("foreign", ["realtime_token", "other_space", "other_key", "expired"])
def test_the_worker_refuses_a_stale_or_foreign_token(foreign):
    token = {
        "realtime_token": lambda: room_tokens().realtime(SPACE, "eve", "speaker"),
        "other_space": lambda: room_tokens().media("ANOTHERSPACE", "eve", "speaker"),
        "other_key": lambda: room_tokens(key=generate_media_keypair()[0]).media(SPACE, "eve", "speaker"),
        "expired": lambda: room_tokens(issued_ago=121).media(SPACE, "eve", "speaker"),  # lives 120 s
    }[foreign]()
    with pytest.raises(InvalidToken):
        verify_media_token(token, PUBLIC_KEY, SPACE)


def test_a_media_token_carries_the_contracts_claims():
    claims = jwt.decode(room_tokens().media(SPACE, "ada", "host"), PUBLIC_KEY, algorithms=["EdDSA"], audience="parlor-media")
    assert set(MediaGrant.REQUIRED_CLAIMS) <= set(claims) and claims["role"] == "host"
