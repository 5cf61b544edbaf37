"""The TURN relay on AWS, for clients whose networks block UDP: coturn (Docker Hub's
``coturn/coturn``, pinned) as one Fargate service behind a network load balancer.

- Clients reach it at the load balancer's name on port 3478, over UDP or TCP (the API hands
  out both URLs with each join). The load balancer gives a stable name; the task may move.
- Relayed media leaves from the task's own public IP (coturn learns it at start with the
  image's ``detect-external-ip``) on the relay port range, straight to the media workers'
  public addresses.
- Credentials are the API's short-lived TURN REST API ones, checked against a secret
  generated into Secrets Manager that the task and the API's Lambdas read; it never appears
  in a template, a command line given to ECS or an environment variable.
- The relay may reach public addresses only (the workers'): private, link-local (the
  metadata service) and loopback ranges are refused as peers.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from chalicelib.settings import Settings

COTURN_IMAGE = "coturn/coturn:4.17.0-r0"
CONTAINER = "coturn"
TURN_PORT = 3478
RELAY_PORTS = (49152, 65535)  # coturn's default relay range
REALM = "parlor"
# Peers the relay must never reach: this VPC and every other private, shared or local range.
DENIED_PEERS = ("0.0.0.0-0.255.255.255", "10.0.0.0-10.255.255.255", "100.64.0.0-100.127.255.255",
                "127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "172.16.0.0-172.31.255.255",
                "192.0.0.0-192.0.0.255", "192.168.0.0-192.168.255.255", "198.18.0.0-198.19.255.255",
                "240.0.0.0-255.255.255.255")
_SECRET_VARIABLE = "TURN_SECRET"


def coturn_arguments() -> list[str]:
    """turnserver's arguments; the image's entry point expands ``$(...)`` and ``$VARIABLE`` in
    each (``TURN_SECRET`` comes from Secrets Manager into the container's environment)."""
    return [
        "--log-file=stdout", "--no-cli", "--fingerprint", "--no-software-attribute",
        f"--listening-port={TURN_PORT}", f"--min-port={RELAY_PORTS[0]}", f"--max-port={RELAY_PORTS[1]}",
        "--external-ip=$(detect-external-ip)",
        "--use-auth-secret", f"--static-auth-secret=${_SECRET_VARIABLE}", f"--realm={REALM}",
        # No certificate here; the media through the relay is DTLS-SRTP end to end anyway.
        "--no-tls", "--no-dtls", "--no-tcp-relay", "--no-multicast-peers",
        *(f"--denied-peer-ip={peers}" for peers in DENIED_PEERS),
    ]


class TurnRelay(Construct):
    """coturn on Fargate; ``urls`` are what the API hands out, ``secret`` what it signs with."""

    def __init__(self, scope: Construct, construct_id: str, *, cluster: ecs.Cluster):
        super().__init__(scope, construct_id)
        vpc = cluster.vpc
        self.secret = secretsmanager.Secret(
            self, "Secret", description=f"Parlor TURN relay: {Settings.env_name('turn_secret')}, which signs TURN credentials",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}", generate_string_key=Settings.env_name("turn_secret"),
                exclude_punctuation=True, password_length=48))
        group = ec2.SecurityGroup(self, "Group", vpc=vpc, allow_all_outbound=True,
                                  description="TURN relay: its listening port and relay range")
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.udp(TURN_PORT), "TURN over UDP")
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(TURN_PORT), "TURN over TCP (networks that block UDP)")
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.udp_range(*RELAY_PORTS), "relayed media from the media workers")

        task = ecs.FargateTaskDefinition(self, "Task", cpu=256, memory_limit_mib=512)
        task.add_container(
            CONTAINER,
            image=ecs.ContainerImage.from_registry(COTURN_IMAGE),
            command=coturn_arguments(),
            port_mappings=[ecs.PortMapping(container_port=TURN_PORT, protocol=ecs.Protocol.UDP),
                           ecs.PortMapping(container_port=TURN_PORT, protocol=ecs.Protocol.TCP)],
            secrets={_SECRET_VARIABLE: ecs.Secret.from_secrets_manager(self.secret, Settings.env_name("turn_secret"))},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="turn", log_retention=logs.RetentionDays.ONE_MONTH),
        )
        # A public IP: relayed media goes out from it, and detect-external-ip finds it.
        service = ecs.FargateService(self, "Service", cluster=cluster, task_definition=task, desired_count=1,
                                     assign_public_ip=True, security_groups=[group],
                                     vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
                                     min_healthy_percent=100, max_healthy_percent=200,
                                     circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True))
        balancer = elbv2.NetworkLoadBalancer(self, "Balancer", vpc=vpc, internet_facing=True, cross_zone_enabled=True)
        listener = balancer.add_listener("Turn", port=TURN_PORT, protocol=elbv2.Protocol.TCP_UDP)
        listener.add_targets("Coturn", port=TURN_PORT, protocol=elbv2.Protocol.TCP_UDP,
                             targets=[service.load_balancer_target(container_name=CONTAINER, container_port=TURN_PORT,
                                                                   protocol=ecs.Protocol.UDP)],
                             health_check=elbv2.HealthCheck(protocol=elbv2.Protocol.TCP, port=str(TURN_PORT)))
        # The service waits for the listener; its target group it already references (cfn-lint W3005).
        cfn_service = service.node.default_child
        assert isinstance(cfn_service, cdk.CfnResource) and isinstance(listener.node.default_child, cdk.CfnResource)
        cfn_service.add_override("DependsOn", [cdk.Stack.of(self).get_logical_id(listener.node.default_child)])
        host = balancer.load_balancer_dns_name
        self.urls = [f"turn:{host}:{TURN_PORT}?transport=udp", f"turn:{host}:{TURN_PORT}?transport=tcp"]
