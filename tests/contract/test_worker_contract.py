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
from media_worker.auth import InvalidToken, verify_media_grant
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
    # The launcher's own attributes (where it started the worker, when, and whether the space
    # records) and the API's note of its exit are the only others.
    assert set(attributes) - set(HeartbeatField) == {"handle", "launched_at", "recording", "exit_code", "gone_reason"}
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
    def launch(self, space_id: str, worker_id: str = "", recording: bool = True) -> str:
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


def room_tokens(key: str = PRIVATE_KEY, ttl: int = 10) -> RoomTokens:
    return RoomTokens(key, REALTIME_SECRET, ManualClock(), media_ttl_seconds=ttl)


def grant(space_id: str = SPACE, user: str = "ada", role: str = "speaker", muted: bool = False, issued_ago: float = 0,
          **kw) -> str:
    """The API's grant, on the real clock (the worker judges expiry by it)."""
    return room_tokens(**kw).media_grant(space_id, user, role, muted, datetime.now(UTC) - timedelta(seconds=issued_ago))


def test_the_worker_takes_the_apis_media_grant():
    decided = datetime.now(UTC)
    token = room_tokens().media_grant(SPACE, "ada", "speaker", True, decided)
    taken = verify_media_grant(token, PUBLIC_KEY, SPACE)
    assert (taken.space_id, taken.user_id, taken.role, taken.muted) == (SPACE, "ada", Role.SPEAKER, True)
    assert taken.decided_at == int(decided.timestamp() * 1000) and taken.grant_id


def test_every_grant_is_its_own():
    assert verify_media_grant(grant(), PUBLIC_KEY, SPACE).grant_id != verify_media_grant(grant(), PUBLIC_KEY, SPACE).grant_id


@pytest.mark.parametrize("foreign", ["realtime_token", "other_space", "other_key", "expired", "long_lived"])
def test_the_worker_refuses_a_stale_or_foreign_grant(foreign):
    token = {
        "realtime_token": lambda: room_tokens().realtime(SPACE, "eve", "speaker"),
        "other_space": lambda: grant("ANOTHERSPACE"),
        "other_key": lambda: grant(key=generate_media_keypair()[0]),
        "expired": lambda: grant(issued_ago=11),  # lives 10 s
        "long_lived": lambda: grant(ttl=120),  # what join used to hand clients
    }[foreign]()
    with pytest.raises(InvalidToken):
        verify_media_grant(token, PUBLIC_KEY, SPACE)


def test_a_media_grant_carries_the_contracts_claims():
    claims = jwt.decode(grant(role="host"), PUBLIC_KEY, algorithms=["EdDSA"], audience="parlor-media")
    assert set(MediaGrant.REQUIRED_CLAIMS) <= set(claims) and claims["role"] == "host"
