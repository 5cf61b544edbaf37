"""Where a worker is reached on AWS. A Fargate task in a public subnet has a private IP on
its network interface and a public IP mapped to it (a 1:1 NAT) that nothing inside the task
sees; nothing sets PARLOR_MEDIA_PUBLIC_HOST there either (the task is started by RunTask for
one space, long after deploy). So, as AWS documents, the worker asks at start: the task
metadata endpoint (v4) gives its private IP, and EC2 gives the public IP associated with the
network interface that holds it (``ec2:DescribeNetworkInterfaces``).

Clients' media reaches the public IP (the ICE candidates announce it). The worker's HTTP port
is open to the API's Lambdas only, inside the VPC (infra/parlor_stack.py): the URL in its
heartbeat is the private IP."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Mapping
from typing import Any

from media_worker.config import WorkerConfig

log = logging.getLogger("media_worker")

# Set by ECS in every container of a task (Fargate platform 1.4.0 and later).
METADATA_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"
_METADATA_TIMEOUT_SECONDS = 5


class DiscoveryFailed(Exception):
    """The public address could not be learned: announcing another would send clients nowhere."""


def with_public_address(config: WorkerConfig, environ: Mapping[str, str], ec2: Any = None) -> WorkerConfig:
    """``config`` with the task's public IP as its public host (for ICE) and its private IP as its
    private host (for the API), when it runs on ECS and no public URL or host was configured;
    otherwise ``config`` itself. Raises ``DiscoveryFailed``."""
    metadata_uri = environ.get(METADATA_VARIABLE)
    # An explicit setting wins (fields_set: given by a variable or a flag, not the default).
    if not metadata_uri or config.public_url or "public_host" in config.model_fields_set:
        return config
    private_ip, mac_address = task_interface(metadata_uri)
    public_ip = public_ipv4(ec2 or _ec2_client(), private_ip, mac_address)
    log.info("learned the task's public address", extra={"private_ip": private_ip, "public_ip": public_ip})
    private_host = config.private_host or private_ip  # a configured private host wins too
    return config.model_copy(update={"public_host": public_ip, "private_host": private_host})


def _ec2_client() -> Any:
    import boto3  # the region comes from the SDK's environment (ECS sets AWS_REGION)
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    try:  # bounded: a worker that cannot learn its address should be replaced soon, not hang
        return boto3.client("ec2", config=Config(connect_timeout=5, read_timeout=10,
                                                 retries={"mode": "standard", "max_attempts": 3}))
    except BotoCoreError as exc:  # no region, say
        raise DiscoveryFailed(f"no EC2 client: {exc}") from exc


def task_interface(metadata_uri: str) -> tuple[str, str]:
    """The container's IPv4 address on the task's network interface (awsvpc: the ENI's primary
    IP), and that interface's MAC address ("" if the metadata does not give it)."""
    try:
        with urllib.request.urlopen(metadata_uri, timeout=_METADATA_TIMEOUT_SECONDS) as response:
            network = json.loads(response.read())["Networks"][0]
        return str(network["IPv4Addresses"][0]), str(network.get("MACAddress", ""))
    except (OSError, ValueError) as exc:
        raise DiscoveryFailed(f"the task metadata endpoint did not answer: {exc}") from exc
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise DiscoveryFailed(f"the task metadata names no IPv4 address (missing {exc})") from exc


def public_ipv4(ec2: Any, private_ip: str, mac_address: str = "") -> str:
    """The public IP associated with the network interface holding ``private_ip``. Two VPCs of
    one account may use the same private range (two stages deployed from one CDK app): the MAC
    address tells this task's interface apart."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        interfaces = ec2.describe_network_interfaces(
            Filters=[{"Name": "addresses.private-ip-address", "Values": [private_ip]}])["NetworkInterfaces"]
    except (BotoCoreError, ClientError) as exc:
        raise DiscoveryFailed(f"EC2 did not describe the network interface of {private_ip}: {exc}") from exc
    ours = [i for i in interfaces if not mac_address or i.get("MacAddress") == mac_address]
    public = [i["Association"]["PublicIp"] for i in ours if i.get("Association", {}).get("PublicIp")]
    if len(public) != 1:
        raise DiscoveryFailed(f"{len(public)} public IPs are associated with {private_ip} ({mac_address or 'any MAC'}); "
                              "one is expected: is the task in a public subnet with a public IP assigned?")
    return str(public[0])
