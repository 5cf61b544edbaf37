"""``python -m media_worker`` as a real process: it listens, reports health, writes its
heartbeat, and exits when told to close."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
from moto.server import ThreadedMotoServer

from chalicelib import signatures
from local.stack import free_port
from tests.media_worker.test_worker import PUBLIC_KEY, SECRET, SPACE


def test_the_worker_process_heartbeats_and_closes_on_command():
    moto_port, port = free_port(), free_port()
    table = f"workers-{port}"  # moto's backends are shared by every server in this process
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    dynamodb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="x", aws_secret_access_key="x")
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "space_id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "space_id", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    env.update({"PARLOR_SPACE_ID": SPACE, "PARLOR_MEDIA_PORT": str(port), "PARLOR_MEDIA_TOKEN_PUBLIC_KEY": PUBLIC_KEY,
                "PARLOR_SERVICE_SECRET": SECRET, "PARLOR_WORKERS_TABLE": table, "PARLOR_HEARTBEAT_SECONDS": "0.5"})
    proc = subprocess.Popen([sys.executable, "-m", "media_worker"], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        item = {}
        while time.monotonic() < deadline:
            item = dynamodb.get_item(TableName=table, Key={"space_id": {"S": SPACE}}).get("Item", {})
            if item.get("state", {}).get("S") == "ready":
                break
            time.sleep(0.2)
        assert item["url"]["S"] == f"http://127.0.0.1:{port}" and int(item["pid"]["N"]) == proc.pid
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            assert json.loads(resp.read())["space_id"] == SPACE
        body = json.dumps({"action": "close"}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/control", data=body, method="POST",
                                         headers={signatures.HEADER: signatures.sign(SECRET, body)})
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
        assert proc.wait(timeout=15) == 0
        final = dynamodb.get_item(TableName=table, Key={"space_id": {"S": SPACE}})["Item"]
        assert final["state"]["S"] == "closing"
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()


def test_the_worker_stops_when_its_space_has_ended():
    moto_port, port = free_port(), free_port()
    table = f"workers-{port}"  # moto's backends are shared by every server in this process
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    dynamodb = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id="x", aws_secret_access_key="x")
    dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": "space_id", "KeyType": "HASH"}],
                          AttributeDefinitions=[{"AttributeName": "space_id", "AttributeType": "S"}],
                          BillingMode="PAY_PER_REQUEST")
    dynamodb.put_item(TableName=table, Item={"space_id": {"S": SPACE}, "space_state": {"S": "ended"}})
    env.update({"PARLOR_SPACE_ID": SPACE, "PARLOR_MEDIA_PORT": str(port), "PARLOR_MEDIA_TOKEN_PUBLIC_KEY": PUBLIC_KEY,
                "PARLOR_SERVICE_SECRET": SECRET, "PARLOR_WORKERS_TABLE": table, "PARLOR_HEARTBEAT_SECONDS": "0.5"})
    proc = subprocess.Popen([sys.executable, "-m", "media_worker"], env=env, stderr=subprocess.DEVNULL)
    try:
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
