"""Parlor on AWS: the Chalice app (REST + WebSocket + schedules + queue handlers), its
tables and queues (derived from the code), push, secrets, and the media workers' cluster."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib.gateways.launchers import task_family
from chalicelib.settings import Settings
from infra import derive
from infra.turn import TurnRelay
from parlor_contract.worker import WorkerEnv

ROOT = Path(__file__).resolve().parent.parent
API_STAGE = "api"
WORKER_CONTAINER = "media-worker"
# Secrets the deployer puts into the stack's secret (README: "Deploying to AWS").
SECRETS_TO_SET = ("service_secret", "media_token_private_key", "media_token_public_key", "stripe_api_key",
                  "stripe_webhook_secret")
_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}


def _attribute(key: tuple[str, str]) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key[0], type=_ATTRIBUTE_TYPES[key[1]])


class ParlorStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, apns_arn: str, fcm_arn: str):
        super().__init__(scope, construct_id)
        self.tables = self._tables()
        self.queues = self._queues()
        # The secret's keys are the settings' variable names (chalicelib.settings reads them so).
        to_set = [Settings.env_name(name) for name in SECRETS_TO_SET]
        self.secret = secretsmanager.Secret(
            self, "Secrets", description=f"Parlor secrets: {Settings.env_name('jwt_secret')} (generated), {', '.join(to_set)}",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps(dict.fromkeys(to_set, "set-me")),
                generate_string_key=Settings.env_name("jwt_secret"), exclude_punctuation=True, password_length=48))
        cluster, task, subnets, group = self._media_workers(stage)
        self.turn = TurnRelay(self, "Turn", cluster=cluster)
        prefix = f"/parlor/{stage}"
        role = iam.Role(self, "ApiRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                            "service-role/AWSLambdaBasicExecutionRole")])
        self.api = Chalice(self, "Api", source_dir=str(ROOT), stage_config={
            "api_gateway_stage": API_STAGE,
            "manage_iam_role": False,
            "iam_role_arn": role.role_arn,
            "lambda_timeout": 30,
            "lambda_memory_size": 512,
            "environment_variables": Settings.environment(
                stage=stage, table_prefix=f"parlor-{stage}", secrets_arn=self.secret.secret_arn,
                ws_management_url_param=f"{prefix}/ws-management-url", api_url_param=f"{prefix}/api-url",
                media_launcher="ecs", ecs_cluster=cluster.cluster_name, ecs_task_definition=task.task_definition_arn,
                ecs_container=WORKER_CONTAINER, ecs_subnets=[s.subnet_id for s in subnets],
                ecs_security_groups=[group.security_group_id], sns_apns_arn=apns_arn, sns_fcm_arn=fcm_arn,
                turn_urls=self.turn.urls, turn_secret_arn=self.turn.secret.secret_arn),
        })
        # The Lambdas cannot reference their own APIs in their environment (a cycle), so the
        # URLs go through SSM and are read once at cold start (chalicelib.settings).
        ws_url = ssm.StringParameter(self, "WebsocketManagementUrl", parameter_name=f"{prefix}/ws-management-url",
                                     string_value=cdk.Fn.sub("https://${WebsocketAPI}.execute-api.${AWS::Region}."
                                                             "${AWS::URLSuffix}/" + API_STAGE))
        api_url = ssm.StringParameter(self, "RestApiUrl", parameter_name=f"{prefix}/api-url",
                                      string_value=cdk.Fn.sub("https://${RestAPI}.execute-api.${AWS::Region}."
                                                              "${AWS::URLSuffix}/" + API_STAGE))
        self._grant_api(role, task, cluster, ws_url, api_url, [a for a in (apns_arn, fcm_arn) if a])
        self._report_batch_item_failures()
        self._watch_worker_tasks(cluster)
        cdk.CfnOutput(self, "RestApiUrlOutput", value=api_url.string_value)
        cdk.CfnOutput(self, "WebsocketUrlOutput", value=cdk.Fn.sub("wss://${WebsocketAPI}.execute-api.${AWS::Region}."
                                                                   "${AWS::URLSuffix}/" + API_STAGE))
        cdk.CfnOutput(self, "SecretArn", value=self.secret.secret_arn)
        cdk.CfnOutput(self, "TurnUrls", value=",".join(self.turn.urls))

    # -- data -----------------------------------------------------------------------------

    def _tables(self) -> dict[str, dynamodb.Table]:
        tables = {}
        for spec in derive.table_specs():
            table = dynamodb.Table(
                self, f"Table-{spec.name}", table_name=spec.name, partition_key=_attribute(spec.hash_key),
                sort_key=_attribute(spec.range_key) if spec.range_key else None,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True),
                time_to_live_attribute=spec.ttl_attribute, removal_policy=cdk.RemovalPolicy.RETAIN)
            for index in spec.global_indexes:
                table.add_global_secondary_index(index_name=index.name, partition_key=_attribute(index.hash_key),
                                                 sort_key=_attribute(index.range_key) if index.range_key else None,
                                                 projection_type=dynamodb.ProjectionType.ALL)
            for index in spec.local_indexes:
                assert index.range_key is not None
                table.add_local_secondary_index(index_name=index.name, sort_key=_attribute(index.range_key),
                                                projection_type=dynamodb.ProjectionType.ALL)
            tables[spec.name] = table
        return tables

    def _queues(self) -> dict[str, sqs.Queue]:
        queues = {}
        for name in derive.queue_names():
            dead = sqs.Queue(self, f"Queue-{name}-dlq", queue_name=f"{name}-dlq", retention_period=cdk.Duration.days(14))
            queue = sqs.Queue(self, f"Queue-{name}", queue_name=name, visibility_timeout=cdk.Duration.seconds(180),
                              dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=3))
            cloudwatch.Alarm(self, f"Alarm-{name}-dlq", metric=dead.metric_approximate_number_of_messages_visible(),
                             threshold=1, evaluation_periods=1,
                             alarm_description=f"Jobs from {name} failed three times and wait in {name}-dlq")
            cloudwatch.Alarm(self, f"Alarm-{name}-age", metric=queue.metric_approximate_age_of_oldest_message(),
                             threshold=300, evaluation_periods=3, alarm_description=f"{name} is falling behind")
            queues[name] = queue
        return queues

    def _report_batch_item_failures(self) -> None:
        """Queue handlers answer which messages failed (chalicelib/api/batches.py); Chalice's
        template does not say so, and without it Lambda would delete a batch's failed messages."""
        for function, event in derive.queue_event_sources():
            self.api.get_resource(function).add_property_override(
                f"Events.{event}.Properties.FunctionResponseTypes", ["ReportBatchItemFailures"])

    # -- media workers -------------------------------------------------------------------------

    def _media_workers(self, stage: str) -> tuple[ecs.Cluster, ecs.FargateTaskDefinition, list[ec2.ISubnet], ec2.SecurityGroup]:
        # Public subnets only: workers need a public IP for WebRTC, and no NAT gateway costs money at idle.
        vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=0,
                      subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)])
        cluster = ecs.Cluster(self, "MediaCluster", vpc=vpc)
        group = ec2.SecurityGroup(self, "MediaWorkers", vpc=vpc, allow_all_outbound=True,
                                  description="Media workers: their HTTP port and the UDP range WebRTC uses")
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(derive.WORKER_PORT), "offer, control, health")
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.udp_range(*derive.WORKER_UDP_PORTS), "WebRTC media")
        # A fixed family: the app's ECS task-state rule matches it (chalicelib/api/media_tasks.py).
        task = ecs.FargateTaskDefinition(self, "MediaWorkerTask", cpu=256, memory_limit_mib=512,
                                         family=task_family(f"parlor-{stage}"))
        workers_table = self.tables[f"parlor-{stage}-media_workers"]
        workers_table.grant_read_write_data(task.task_role)
        pool_table = self.tables[f"parlor-{stage}-media_pool"]
        pool_table.grant_read_write_data(task.task_role)  # a warm-pool worker heartbeats its slot
        # A worker learns its task's public IP from its network interface (media_worker/address.py);
        # DescribeNetworkInterfaces has no resource-level permissions, hence "*".
        task.add_to_task_role_policy(iam.PolicyStatement(actions=["ec2:DescribeNetworkInterfaces"], resources=["*"]))
        task.add_container(
            WORKER_CONTAINER,
            # Built from the repository root so the image carries parlor_contract; the root's
            # .dockerignore admits only media_worker/ and parlor_contract/.
            image=ecs.ContainerImage.from_asset(str(ROOT), file="media_worker/Dockerfile", ignore_mode=cdk.IgnoreMode.DOCKER),
            command=derive.WORKER_COMMAND,
            port_mappings=[ecs.PortMapping(container_port=derive.WORKER_PORT, protocol=ecs.Protocol.TCP)],
            environment={WorkerEnv.PORT: str(derive.WORKER_PORT), WorkerEnv.BIND_HOST: "0.0.0.0",
                         # No public host or URL: each task learns its own public IP at start (media_worker/address.py).
                         # A STUN server (optional, from context) adds server-reflexive candidates.
                         WorkerEnv.STUN_URL: self.node.try_get_context("media_stun_url") or "",
                         WorkerEnv.WORKERS_TABLE: workers_table.table_name, WorkerEnv.POOL_TABLE: pool_table.table_name,
                         WorkerEnv.HEARTBEAT_SECONDS: "5",
                         WorkerEnv.EMPTY_GRACE_SECONDS: "120", WorkerEnv.JITTER_FRAMES: "3", WorkerEnv.FAST_PATH: "1",
                         WorkerEnv.JITTER_PREFETCH: "0", WorkerEnv.CONNECT_TIMEOUT_SECONDS: "20",
                         WorkerEnv.CONSENT_TIMEOUT_SECONDS: "30"},
            # The worker's variables, from the keys the API reads the same values under.
            secrets={WorkerEnv.TOKEN_PUBLIC_KEY: ecs.Secret.from_secrets_manager(
                         self.secret, Settings.env_name("media_token_public_key")),
                     WorkerEnv.SERVICE_SECRET: ecs.Secret.from_secrets_manager(self.secret, Settings.env_name("service_secret"))},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="media-worker", log_retention=logs.RetentionDays.ONE_MONTH),
        )
        return cluster, task, vpc.public_subnets, group

    def _watch_worker_tasks(self, cluster: ecs.Cluster) -> None:
        """The app's rule for stopped worker tasks (Chalice's ``on_cw_event``) matches the task
        family; only the deployment knows the cluster, so its ARN is added here."""
        handler = self.api.get_resource("MediaTaskStopped")
        handler.add_property_override("Events.MediaTaskStoppedEvent.Properties.Pattern.detail.clusterArn",
                                      [cluster.cluster_arn])

    # -- least privilege for the API's Lambdas -----------------------------------------------

    def _grant_api(self, role: iam.Role, task: ecs.FargateTaskDefinition, cluster: ecs.Cluster,
                   ws_url: ssm.StringParameter, api_url: ssm.StringParameter, platform_arns: list[str]) -> None:
        for table in self.tables.values():
            table.grant_read_write_data(role)
        for queue in self.queues.values():
            queue.grant_send_messages(role)
            queue.grant_consume_messages(role)
        self.secret.grant_read(role)
        self.turn.secret.grant_read(role)
        ws_url.grant_read(role)
        api_url.grant_read(role)
        # A separate policy, attached after the fact: the WebSocket API's ARN would otherwise
        # make the role depend on the API that depends on the functions that use the role.
        policy = iam.Policy(self, "ApiRuntimePolicy", roles=[role])
        policy.add_statements(
            iam.PolicyStatement(actions=["execute-api:ManageConnections"], resources=[cdk.Fn.sub(
                "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebsocketAPI}/" + API_STAGE + "/*")]),
            iam.PolicyStatement(actions=["ecs:RunTask"], resources=[task.task_definition_arn],
                                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}),
            iam.PolicyStatement(actions=["ecs:StopTask"], resources=[self.format_arn(
                service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*")]),
            iam.PolicyStatement(actions=["iam:PassRole"], resources=[task.task_role.role_arn, task.obtain_execution_role().role_arn]),
        )
        if platform_arns:
            policy.add_statements(
                iam.PolicyStatement(actions=["sns:CreatePlatformEndpoint"], resources=platform_arns),
                iam.PolicyStatement(actions=["sns:Publish", "sns:DeleteEndpoint", "sns:GetEndpointAttributes"],
                                    resources=[f"{arn.replace(':app/', ':endpoint/')}/*" for arn in platform_arns]),
            )
