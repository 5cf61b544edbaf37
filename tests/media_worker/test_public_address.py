"""On AWS a worker learns where it is reached: its task's private IP from the ECS task metadata
endpoint (v4), the public IP associated with that network interface from EC2. Clients' media
goes to the public IP (its answers' ICE candidates); the API, inside the VPC, reaches its HTTP
port at the private IP (the URL in its heartbeat and its pool slot: nothing else may reach that
port). If it cannot learn them, it exits 1 without announcing anything. Locally nothing changes.

The metadata endpoint is a small HTTP server on loopback serving the documented JSON; EC2 is
moto, with a network interface holding the task's private IP and an Elastic IP associated."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest

from local.stack import free_port
from media_worker.address import METADATA_VARIABLE, DiscoveryFailed, with_public_address
from media_worker.config import WorkerConfig
from parlor_contract.worker import HeartbeatField, PoolField, PoolState, WorkerEnv
from tests.media_worker.peers import offer
from tests.media_worker.process_support import WorkerSetup, close, wait_until_ready, worker_setup
from tests.media_worker.worker_support import PUBLIC_KEY, SECRET, SPACE, token

TASK_IP = "10.0.1.25"


@dataclass
class TaskInterface:
    private_ip: str
    mac_address: str
    public_ip: str | None


def task_interface(ec2: Any, private_ip: str = TASK_IP, public: bool = True) -> TaskInterface:
    """A task's network interface in a public subnet of a new VPC, with an Elastic IP associated."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=private_ip)["NetworkInterface"]
    public_ip = None
    if public:
        allocation = ec2.allocate_address(Domain="vpc")
        ec2.associate_address(AllocationId=allocation["AllocationId"], NetworkInterfaceId=eni["NetworkInterfaceId"])
        public_ip = allocation["PublicIp"]
    return TaskInterface(private_ip, eni["MacAddress"], public_ip)


def container_metadata(interface: TaskInterface) -> dict:
    """``GET $ECS_CONTAINER_METADATA_URI_V4`` on Fargate, as AWS documents it (the fields that matter here)."""
    return {"DockerId": "cd189a933e5849daa93386466019ab50-2495160603", "Name": "media-worker", "Type": "NORMAL",
            "DesiredStatus": "RUNNING", "KnownStatus": "RUNNING",
            "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": [interface.private_ip], "AttachmentIndex": 0,
                          "MACAddress": interface.mac_address, "IPv4SubnetCIDRBlock": "10.0.1.0/24",
                          "PrivateDNSName": f"ip-{interface.private_ip.replace('.', '-')}.ec2.internal",
                          "SubnetGatewayIpv4Address": "10.0.1.1/24"}]}


@contextmanager
def metadata_endpoint(metadata: dict) -> Iterator[str]:
    """The task metadata endpoint on loopback; yields the value ECS gives ``ECS_CONTAINER_METADATA_URI_V4``."""
    body = json.dumps(metadata).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v4/cd189a933e5849daa93386466019ab50-2495160603"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[WorkerSetup]:
    with worker_setup(tmp_path) as prepared:
        yield prepared


def config(**settings: Any) -> WorkerConfig:
    return WorkerConfig(space_id=SPACE, token_public_key=PUBLIC_KEY, service_secret=SECRET, **settings)


# -- discovery ---------------------------------------------------------------------------------


def test_a_task_announces_the_public_ip_of_its_network_interface_for_media_and_its_private_ip_for_the_api(aws):
    ec2 = boto3.client("ec2")
    other_stage = task_interface(ec2)  # another VPC of the account, same private range, same IP
    ours = task_interface(ec2)
    with metadata_endpoint(container_metadata(ours)) as uri:
        learned = with_public_address(config(), {METADATA_VARIABLE: uri}, ec2)
    assert learned.public_host == ours.public_ip != other_stage.public_ip
    assert learned.private_host == TASK_IP
    assert learned.url == f"http://{TASK_IP}:9000"


def test_off_ecs_or_with_an_address_configured_nothing_is_discovered(aws):
    ec2 = boto3.client("ec2")
    unreachable = {METADATA_VARIABLE: f"http://127.0.0.1:{free_port()}/v4/x"}  # would fail if asked
    assert with_public_address(config(), {}, ec2).url == "http://127.0.0.1:9000"
    assert with_public_address(config(public_host="203.0.113.9"), unreachable, ec2).public_host == "203.0.113.9"
    assert with_public_address(config(public_url="https://media.example"), unreachable, ec2).url == "https://media.example"


def test_a_configured_private_host_is_kept(aws):
    ec2 = boto3.client("ec2")
    ours = task_interface(ec2, "10.0.1.26")
    with metadata_endpoint(container_metadata(ours)) as uri:
        learned = with_public_address(config(private_host="10.9.9.9"), {METADATA_VARIABLE: uri}, ec2)
    assert (learned.public_host, learned.url) == (ours.public_ip, "http://10.9.9.9:9000")


def test_a_task_without_a_public_ip_cannot_learn_one(aws):
    ec2 = boto3.client("ec2")
    private_only = task_interface(ec2, "10.0.1.77", public=False)
    with metadata_endpoint(container_metadata(private_only)) as uri, pytest.raises(DiscoveryFailed, match="0 public IPs"):
        with_public_address(config(), {METADATA_VARIABLE: uri}, ec2)


# -- the worker process ---------------------------------------------------------------------------


def moto_ec2(setup: WorkerSetup) -> Any:
    return boto3.client("ec2", endpoint_url=setup.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="x")


def answer_host_candidates(port: int) -> set[str]:
    async def ask() -> set[str]:
        async with aiohttp.ClientSession() as session:
            status, answer, peer = await offer(session, f"http://127.0.0.1:{port}", token("listener-1", "listener"),
                                               apply_answer=False)
            await peer.close()
        assert status == 200, answer
        return {line.split()[4] for line in answer["sdp"].splitlines() if line.startswith("a=candidate:") and " typ host" in line}

    return asyncio.run(ask())


def test_a_worker_on_ecs_announces_its_private_ip_in_its_heartbeat_and_its_public_ip_in_its_answers(setup: WorkerSetup):
    interface = task_interface(moto_ec2(setup))
    with metadata_endpoint(container_metadata(interface)) as uri:
        setup.env[METADATA_VARIABLE] = uri  # and no public host or URL: the worker binds 127.0.0.1 here
        proc = setup.start()
        try:
            assert wait_until_ready(setup, proc)[HeartbeatField.URL]["S"] == f"http://{TASK_IP}:{setup.port}"
            assert answer_host_candidates(setup.port) == {interface.public_ip}
            close(setup.port)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_a_worker_on_ecs_that_cannot_learn_its_address_exits_without_announcing_one(setup: WorkerSetup):
    setup.env[METADATA_VARIABLE] = f"http://127.0.0.1:{free_port()}/v4/down"  # the endpoint is not answering
    assert setup.exit_status() == 1
    assert setup.record() == {}, "no heartbeat at all"
    (error,) = [line for line in setup.log_lines() if line["level"] == "ERROR"]
    assert error["message"] == "cannot learn the public address" and "metadata endpoint" in error["error"]


def test_a_pooled_worker_on_ecs_announces_its_private_ip_in_its_slot_and_once_claimed(setup: WorkerSetup):
    pool_table = f"pool-{setup.port}"
    setup.dynamodb.create_table(TableName=pool_table, KeySchema=[{"AttributeName": PoolField.SLOT, "KeyType": "HASH"}],
                                AttributeDefinitions=[{"AttributeName": PoolField.SLOT, "AttributeType": "S"}],
                                BillingMode="PAY_PER_REQUEST")
    slot = {PoolField.SLOT: {"S": "0"}}
    setup.dynamodb.put_item(TableName=pool_table, Item={**slot, PoolField.WORKER_ID: {"S": "w-1"},
                                                        PoolField.STATE: {"S": PoolState.STARTING}})
    del setup.env[WorkerEnv.SPACE_ID]
    setup.env.update({WorkerEnv.POOL_TABLE: pool_table, WorkerEnv.POOL_SLOT: "0", WorkerEnv.POOL_WORKER_ID: "w-1"})
    interface = task_interface(moto_ec2(setup))
    with metadata_endpoint(container_metadata(interface)) as uri:
        setup.env[METADATA_VARIABLE] = uri
        proc = setup.start()
        try:
            deadline, item = time.monotonic() + 30, {}
            while item.get(PoolField.STATE, {}).get("S") != PoolState.IDLE:
                assert time.monotonic() < deadline and proc.poll() is None, "the pooled worker never came up idle"
                time.sleep(0.2)
                item = setup.dynamodb.get_item(TableName=pool_table, Key=slot, ConsistentRead=True)["Item"]
            assert item[PoolField.URL]["S"] == f"http://{TASK_IP}:{setup.port}"
            # The API claims the slot for a space, naming the worker in the space's record (the
            # claim call lost: the worker reads the claim from its slot).
            setup.dynamodb.put_item(TableName=setup.table, Item={HeartbeatField.SPACE_ID: {"S": SPACE},
                                                                 HeartbeatField.WORKER_ID: {"S": "w-1"}})
            setup.dynamodb.update_item(TableName=pool_table, Key=slot, UpdateExpression="SET #s = :claimed, #by = :space",
                                       ExpressionAttributeNames={"#s": PoolField.STATE, "#by": PoolField.CLAIMED_BY},
                                       ExpressionAttributeValues={":claimed": {"S": PoolState.CLAIMED}, ":space": {"S": SPACE}})
            assert wait_until_ready(setup, proc)[HeartbeatField.URL]["S"] == f"http://{TASK_IP}:{setup.port}"
            close(setup.port)
            assert proc.wait(timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
