"""The local moto server keeps its state across restarts: DynamoDB items, SQS messages not
yet deleted (and none that was), SNS endpoints under their ARNs; records of processes that
did not survive (media workers) are not restored. Over the real server process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3

from local.stack import ROOT, Ports, bootstrap, stack_env, wait_until_ready
from local.stack import Component as StackComponent

PREFIX = "parlor-motostate"


def _start(ports: Ports, state: Path, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "local.moto_server", "--port", str(ports.moto), "--state", str(state),
                                    *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_until_ready(StackComponent("moto", [], ready_url=f"http://127.0.0.1:{ports.moto}/moto-api/", process=process), 60)
    bootstrap(env)  # tables and queues, then the saved state
    return process


def _until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


def test_state_is_saved_at_a_clean_stop_and_while_it_changes(tmp_path):
    ports = Ports.free()
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env = stack_env(ports, {**base, "PARLOR_TABLE_PREFIX": PREFIX})
    state, log = tmp_path / "moto.json", tmp_path / "moto.log"
    server = _start(ports, state, env, log, "--save-every", "3600")  # only the stop saves
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=env["AWS_DEFAULT_REGION"])
    dynamodb, sqs, sns = (session.client(name, endpoint_url=env["AWS_ENDPOINT_URL"]) for name in ("dynamodb", "sqs", "sns"))
    try:
        dynamodb.put_item(TableName=f"{PREFIX}-users", Item={"user_id": {"S": "u1"}, "handle": {"S": "ada"}})
        dynamodb.put_item(TableName=f"{PREFIX}-media_workers", Item={"space_id": {"S": "s1"}, "state": {"S": "ready"}})
        queue = sqs.get_queue_url(QueueName=f"{PREFIX}-notifications")["QueueUrl"]
        for body in ("handled", "pending"):
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        handled = [m for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"] if m["Body"] == "handled"]
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=handled[0]["ReceiptHandle"])
        app = next(a["PlatformApplicationArn"] for a in sns.list_platform_applications()["PlatformApplications"])
        endpoint = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="device-1")["EndpointArn"]
    finally:
        server.send_signal(signal.SIGTERM)  # a clean stop saves
        assert server.wait(30) == 0

    server = _start(ports, state, env, log)
    try:
        item = dynamodb.get_item(TableName=f"{PREFIX}-users", Key={"user_id": {"S": "u1"}}).get("Item")
        assert item == {"user_id": {"S": "u1"}, "handle": {"S": "ada"}}
        assert "Item" not in dynamodb.get_item(TableName=f"{PREFIX}-media_workers", Key={"space_id": {"S": "s1"}}), \
            "no record claims a worker that did not survive"
        bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]]
        assert bodies == ["pending"], "the deleted message is not delivered again"
        assert sns.get_endpoint_attributes(EndpointArn=endpoint)["Attributes"]["Token"] == "device-1"

        # Changes are saved while it runs too, within a second: a kill loses little.
        dynamodb.put_item(TableName=f"{PREFIX}-users", Item={"user_id": {"S": "u2"}, "handle": {"S": "bob"}})
        _until(lambda: '"u2"' in state.read_text())
        assert json.loads(state.read_text())["format"] == 1
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(30)


def test_calls_to_s3_which_is_not_saved_make_no_save_due():
    from local.moto_server import SerializedApp

    app = SerializedApp(lambda environ, start_response: [b""])
    scope = "Credential=local/20261130/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"
    app({"PATH_INFO": "/parlor-local-media/spaces/s/hls/00000001.ts", "REQUEST_METHOD": "PUT",
         "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 " + scope.format("s3")}, lambda *a: None)
    assert not app.changed
    app({"PATH_INFO": "/", "REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
         "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 " + scope.format("dynamodb")}, lambda *a: None)
    assert app.changed
