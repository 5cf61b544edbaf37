"""Parlor on AWS: the Chalice app (REST + WebSocket + schedules + queue handlers), its
tables and queues (derived from the code), push, secrets, and the media workers' cluster.

Network: one VPC. The media workers run in its public subnets with public IPs (WebRTC media
reaches them directly, over UDP); their HTTP port (offers, control calls) admits the API's
Lambdas only, which run in its private subnets and reach the internet (Stripe, the AWS APIs)
through one NAT gateway, and DynamoDB and S3 through gateway endpoints.

Audience tier (infra/audience.py): the workers write each room's HLS stream to the media
bucket, under ``spaces/`` only; CloudFront serves it to listeners with the API's signature.

Secrets: the stack generates the session (JWT) secret, the service secret and the media token
seed (the API derives its Ed25519 key from it); a person sets Stripe's two (README:
"Deploying to AWS"). The API and the workers refuse to start while one is missing. The
CloudFront private key (``make cdn-keys``) goes into the same secret as Stripe's."""

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
from aws_cdk import aws_ses as ses
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from chalice.cdk import Chalice
from constructs import Construct

from chalicelib.api.edge import EXPOSED_HEADERS
from chalicelib.errors import (
    DomainError,
    GatewayRefused,
    InternalError,
    RateLimited,
    RouteNotFound,
    UnsupportedMediaType,
)
from chalicelib.gateways.launchers import task_family
from chalicelib.settings import Settings
from infra import derive
from infra.audience import AudienceTier, cdn_public_key
from infra.turn import TurnRelay
from infra.web import WebClient
from parlor_contract.hls import CLOSE_SECONDS, SPACES_PREFIX
from parlor_contract.worker import WorkerEnv

ROOT = Path(__file__).resolve().parent.parent
API_STAGE = "api"
WORKER_CONTAINER = "media-worker"
# Secrets the deployer puts into the stack's Stripe secret (README: "Deploying to AWS").
SECRETS_TO_SET = ("stripe_api_key", "stripe_webhook_secret")
# Set beside them, in the same secret (a PEM: `make cdn-keys`), and not seeded by the stack: a
# new key in the secret's template value would reset the values a person set on the next update.
CDN_SECRET_TO_SET = "cdn_private_key"
# Secrets the stack generates, each into its own Secrets Manager secret (a generator makes one key per secret).
SECRETS_GENERATED = ("jwt_secret", "service_secret", "media_token_seed")
_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}


# API Gateway's own answers (response type -> status, error), in the API's envelope. The default
# 4XX/5XX keep API Gateway's status and message; the rest are what a client should see.
GATEWAY_ERRORS: dict[str, tuple[int | None, type[DomainError], str | None]] = {
    "MISSING_AUTHENTICATION_TOKEN": (RouteNotFound.status, RouteNotFound, None),  # no such path or method
    "UNSUPPORTED_MEDIA_TYPE": (UnsupportedMediaType.status, UnsupportedMediaType, None),
    "THROTTLED": (RateLimited.status, RateLimited, None),
    "DEFAULT_4XX": (None, GatewayRefused, "$context.error.message"),
    "DEFAULT_5XX": (None, InternalError, None),
}


def gateway_responses() -> dict[str, dict]:
    """``x-amazon-apigateway-gateway-responses`` for ``GATEWAY_ERRORS``."""
    responses = {}
    for kind, (status, error, message) in GATEWAY_ERRORS.items():
        # $context.requestId and $context.error.message are filled in by API Gateway (no VTL).
        body = json.dumps({"error": {"code": error.code, "message": message or error.default_message,
                                     "request_id": "$context.requestId"}})
        response: dict = {
            "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
                                   "gatewayresponse.header.Access-Control-Expose-Headers": f"'{EXPOSED_HEADERS}'"},
            "responseTemplates": {"application/json": body},
        }
        if status is not None:
            response["statusCode"] = str(status)
        responses[kind] = response
    return responses


def _attribute(key: tuple[str, str]) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key[0], type=_ATTRIBUTE_TYPES[key[1]])


class ParlorStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: str, apns_arn: str, fcm_arn: str,
                 email_sender: str = ""):
        super().__init__(scope, construct_id)
        self.media_vcpu = derive.media_task_vcpu(self.node.try_get_context("media_task_vcpu"))
        self.tables = self._tables()
        self.queues = self._queues()
        # The secrets' keys are the settings' variable names (chalicelib.settings reads them so).
        self.generated_secrets = {name: self._generated_secret(name) for name in SECRETS_GENERATED}
        to_set = [Settings.env_name(name) for name in SECRETS_TO_SET]
        # Created with empty values, which the API refuses ("... is not set") until a person sets
        # them: nothing to guess in the template. A new logical id: the old "Secrets" held a
        # generated JWT secret beside "set-me" placeholders.
        self.secret = secretsmanager.Secret(
            self, "StripeSecrets", description=f"Parlor: set {' and '.join(to_set)} (Stripe's secret API key and webhook "
                                               "signing secret); the API does not start until both are set",
            secret_object_value={name: cdk.SecretValue.unsafe_plain_text("") for name in to_set})
        vpc, api_group = self._network()
        self.audience = AudienceTier(self, "Audience", public_key_pem=cdn_public_key(self.node))
        cluster, task, subnets, group = self._media_workers(stage, vpc, api_group)
        # The web client: config.json names the API and socket; its origin is allowed by the API (CORS).
        # Its CSP names the APIs by wildcard: their own ids would make a cycle (the API's
        # environment names the page's origin).
        rest_url = cdk.Fn.sub("https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + API_STAGE)
        ws_url = cdk.Fn.sub("wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + API_STAGE)
        api_origins = [cdk.Fn.sub(f"{scheme}://*.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}") for scheme in ("https", "wss")]
        # It sends /s/* (share pages) to the API: so the API learns the page's origin through SSM.
        self.web = WebClient(self, "Web", config={"api_url": rest_url, "realtime_url": ws_url},
                             connect_origins=[*api_origins, self.audience.url], media_origins=[self.audience.url],
                             api_domain=cdk.Fn.sub("${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
                             api_stage_path="/" + API_STAGE)
        cors_origins = [o for o in (self.node.try_get_context("cors_origins") or "").split(",") if o]
        self.turn = TurnRelay(self, "Turn", cluster=cluster)
        prefix = f"/parlor/{stage}"
        role = iam.Role(self, "ApiRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in (
                            "service-role/AWSLambdaBasicExecutionRole",
                            # In the VPC: Lambda creates and deletes the functions' network interfaces.
                            "service-role/AWSLambdaVPCAccessExecutionRole")])
        self.api = Chalice(self, "Api", source_dir=str(ROOT), stage_config={
            "api_gateway_stage": API_STAGE,
            "manage_iam_role": False,
            "iam_role_arn": role.role_arn,
            "lambda_timeout": 30,
            "lambda_memory_size": 512,
            # Inside the VPC, so that the API reaches the workers' HTTP port at their private IPs.
            "subnet_ids": [subnet.subnet_id for subnet in vpc.private_subnets],
            "security_group_ids": [api_group.security_group_id],
            "environment_variables": Settings.environment(
                stage=stage, table_prefix=f"parlor-{stage}", secrets_arn=self.secret.secret_arn,
                generated_secret_arns=[secret.secret_arn for secret in self.generated_secrets.values()],
                ws_management_url_param=f"{prefix}/ws-management-url", api_url_param=f"{prefix}/api-url",
                web_url_param=f"{prefix}/web-url",
                media_launcher="ecs", ecs_cluster=cluster.cluster_name, ecs_task_definition=task.task_definition_arn,
                ecs_container=WORKER_CONTAINER, ecs_subnets=[s.subnet_id for s in subnets],
                ecs_security_groups=[group.security_group_id], sns_apns_arn=apns_arn, sns_fcm_arn=fcm_arn,
                turn_urls=self.turn.urls, turn_secret_arn=self.turn.secret.secret_arn, email_sender=email_sender,
                # Web origins allowed to call the API from a browser: the web client's (web_url, read
                # through SSM), and more with `cdk deploy -c cors_origins=https://a,https://b`. Stripe
                # sends web buyers back to web_url.
                cors_origins=cors_origins,
                media_bucket=self.audience.bucket.bucket_name, cdn_url=self.audience.url,
                cdn_key_pair_id=self.audience.key_pair_id,
                webrtc_listener_cap=derive.webrtc_listener_cap(self.media_vcpu)),
        })
        # Password-reset emails: SES sends only from a verified identity (an address, or a whole
        # domain: SES then gives DKIM records to publish). Without one, no email is sent.
        if email_sender:
            sender = ses.Identity.email(email_sender) if "@" in email_sender else ses.Identity.domain(email_sender)
            identity = ses.EmailIdentity(self, "EmailSender", identity=sender)
            identity.grant_send_email(role)
        # The Lambdas cannot reference their own APIs in their environment (a cycle), so the
        # URLs go through SSM and are read once at cold start (chalicelib.settings).
        ws_url = ssm.StringParameter(self, "WebsocketManagementUrl", parameter_name=f"{prefix}/ws-management-url",
                                     string_value=cdk.Fn.sub("https://${WebsocketAPI}.execute-api.${AWS::Region}."
                                                             "${AWS::URLSuffix}/" + API_STAGE))
        api_url = ssm.StringParameter(self, "RestApiUrl", parameter_name=f"{prefix}/api-url",
                                      string_value=cdk.Fn.sub("https://${RestAPI}.execute-api.${AWS::Region}."
                                                              "${AWS::URLSuffix}/" + API_STAGE))
        web_url = ssm.StringParameter(self, "WebUrlParameter", parameter_name=f"{prefix}/web-url", string_value=self.web.url)
        self._grant_api(role, task, cluster, [ws_url, api_url, web_url], [a for a in (apns_arn, fcm_arn) if a])
        self._report_batch_item_failures()
        self._gateway_responses()
        self._watch_worker_tasks(cluster)
        cdk.CfnOutput(self, "RestApiUrlOutput", value=api_url.string_value)
        cdk.CfnOutput(self, "WebsocketUrlOutput", value=cdk.Fn.sub("wss://${WebsocketAPI}.execute-api.${AWS::Region}."
                                                                   "${AWS::URLSuffix}/" + API_STAGE))
        cdk.CfnOutput(self, "SecretArn", value=self.secret.secret_arn,
                      description=f"Set {' and '.join(to_set)} in this secret, and {Settings.env_name(CDN_SECRET_TO_SET)} "
                                  "(make cdn-keys; README: Deploying to AWS)")
        cdk.CfnOutput(self, "CdnDomain", value=self.audience.distribution.distribution_domain_name,
                      description="CloudFront distribution serving the HLS streams (signed access)")
        cdk.CfnOutput(self, "MediaBucketName", value=self.audience.bucket.bucket_name,
                      description="S3 bucket of HLS streams, recordings and clips")
        cdk.CfnOutput(self, "TurnUrls", value=",".join(self.turn.urls))
        cdk.CfnOutput(self, "WebUrl", value=self.web.url, description="The web client (its config.json names the API)")

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

    def _gateway_responses(self) -> None:
        """API Gateway answers some requests itself, without calling the API: a path or method no
        route has (by default 403 "Missing Authentication Token"), a body it will not take,
        throttling, a failed integration. Each is given the API's error envelope
        (chalicelib/api/edge.py) with the request id, and a status that says what happened.
        They go into the API's definition (``x-amazon-apigateway-gateway-responses``) rather
        than as separate AWS::ApiGateway::GatewayResponse resources: a change to the definition
        redeploys the stage, a separate resource would only take effect at the next deployment.

        Their headers can only be constant or copied from the request: these answers allow any
        origin to read them (they say nothing about the caller), and carry the request id in
        the body and in API Gateway's own ``x-amzn-RequestId`` header."""
        self.api.get_resource("RestAPI").add_property_override(
            "DefinitionBody.x-amazon-apigateway-gateway-responses", gateway_responses())

    def _generated_secret(self, name: str) -> secretsmanager.Secret:
        variable = Settings.env_name(name)
        return secretsmanager.Secret(
            self, f"Generated-{name}", description=f"Parlor {variable}, generated at deploy (rotate by regenerating it)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}", generate_string_key=variable, exclude_punctuation=True, password_length=64))

    # -- network ---------------------------------------------------------------------------------

    def _network(self) -> tuple[ec2.Vpc, ec2.SecurityGroup]:
        """The VPC (public subnets for the workers, private ones with egress for the API's
        Lambdas) and the Lambdas' security group, the only source the workers' HTTP port admits."""
        # One NAT gateway (README: its hourly and per-GB cost): the Lambdas call Stripe and the AWS APIs.
        vpc = ec2.Vpc(self, "Vpc", max_azs=2, nat_gateways=1, subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
            ec2.SubnetConfiguration(name="api", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)])
        # DynamoDB, the API's busiest dependency, without the NAT gateway's per-GB charge.
        vpc.add_gateway_endpoint("DynamoDb", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                                 subnets=[ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)])
        # S3 likewise: the API reads segments and writes clips, the workers (public subnets,
        # no NAT) write every segment. No endpoint policy: image pulls from ECR fetch their
        # layers from S3 buckets of AWS's through the same route.
        vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[
            ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)])
        api_group = ec2.SecurityGroup(self, "ApiLambdas", vpc=vpc, allow_all_outbound=True,
                                      description="The API Lambdas: they call the media workers HTTP port")
        return vpc, api_group

    # -- media workers -------------------------------------------------------------------------

    def _media_workers(self, stage: str, vpc: ec2.Vpc, api_group: ec2.SecurityGroup
                       ) -> tuple[ecs.Cluster, ecs.FargateTaskDefinition, list[ec2.ISubnet], ec2.SecurityGroup]:
        # Public subnets: workers need a public IP for WebRTC.
        cluster = ecs.Cluster(self, "MediaCluster", vpc=vpc)
        group = ec2.SecurityGroup(self, "MediaWorkers", vpc=vpc, allow_all_outbound=True,
                                  description="Media workers: their HTTP port for the API, the UDP range WebRTC uses")
        # Media tokens, SDP and control calls never cross the internet in clear: only the API,
        # inside the VPC, reaches the HTTP port.
        group.add_ingress_rule(api_group, ec2.Port.tcp(derive.WORKER_PORT), "offers relayed and control calls, from the API")
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.udp_range(*derive.WORKER_UDP_PORTS), "WebRTC media")
        # A fixed family: the app's ECS task-state rule matches it (chalicelib/api/media_tasks.py).
        # Its size is a setting (`cdk deploy -c media_task_vcpu=2`): 1 vCPU by default; 2 or 4 for
        # rooms with thousands of WebRTC listeners (one sender process per vCPU).
        task = ecs.FargateTaskDefinition(self, "MediaWorkerTask", cpu=int(self.media_vcpu * 1024),
                                         memory_limit_mib=derive.MEDIA_TASK_MEMORY_MIB[self.media_vcpu],
                                         family=task_family(f"parlor-{stage}"))
        workers_table = self.tables[f"parlor-{stage}-media_workers"]
        workers_table.grant_read_write_data(task.task_role)
        pool_table = self.tables[f"parlor-{stage}-media_pool"]
        pool_table.grant_read_write_data(task.task_role)  # a warm-pool worker heartbeats its slot
        # A worker learns its task's public IP from its network interface (media_worker/address.py);
        # DescribeNetworkInterfaces has no resource-level permissions, hence "*".
        task.add_to_task_role_policy(iam.PolicyStatement(actions=["ec2:DescribeNetworkInterfaces"], resources=["*"]))
        # The room's HLS stream (parlor_contract.hls): segments and playlists written with their
        # retention tag, a live-only stream's deleted at the end; listed (under spaces/ only) by a
        # replacement worker, which goes on after the segments already there. No reads.
        task.add_to_task_role_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"], resources=[self.audience.objects_arn]))
        task.add_to_task_role_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[self.audience.bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{SPACES_PREFIX}*"]}}))
        task.add_container(
            WORKER_CONTAINER,
            # Built from the repository root so the image carries parlor_contract; the root's
            # .dockerignore admits only media_worker/ and parlor_contract/.
            image=ecs.ContainerImage.from_asset(str(ROOT), file="media_worker/Dockerfile", ignore_mode=cdk.IgnoreMode.DOCKER),
            command=derive.WORKER_COMMAND,
            port_mappings=[ecs.PortMapping(container_port=derive.WORKER_PORT, protocol=ecs.Protocol.TCP)],
            environment={WorkerEnv.PORT: str(derive.WORKER_PORT), WorkerEnv.BIND_HOST: "0.0.0.0",
                         # No public or private host, nor URL: each task learns its own IPs at start
                         # (media_worker/address.py). No media token public key: the API passes it with each task.
                         # A STUN server (optional, from context) adds server-reflexive candidates.
                         WorkerEnv.STUN_URL: self.node.try_get_context("media_stun_url") or "",
                         WorkerEnv.WORKERS_TABLE: workers_table.table_name, WorkerEnv.POOL_TABLE: pool_table.table_name,
                         WorkerEnv.HEARTBEAT_SECONDS: "5",
                         WorkerEnv.EMPTY_GRACE_SECONDS: "120", WorkerEnv.JITTER_FRAMES: "3", WorkerEnv.SEND_PATH: "batch",
                         WorkerEnv.JITTER_PREFETCH: "0", WorkerEnv.CONNECT_TIMEOUT_SECONDS: "20",
                         WorkerEnv.CONSENT_TIMEOUT_SECONDS: "30",
                         WorkerEnv.PROCESSES: str(derive.media_processes(self.media_vcpu)),
                         # The compiled batch path, or its logged fallback should an image lack it.
                         WorkerEnv.BATCH_IMPL: "auto", WorkerEnv.MIX_ON_ARRIVAL: "1",
                         WorkerEnv.UDP_PORT: "0",  # ephemeral, within derive.WORKER_UDP_PORTS
                         # Whether a space records is the API's per-task override (WorkerEnv.RECORDING).
                         WorkerEnv.MEDIA_BUCKET: self.audience.bucket.bucket_name},
            # By reference, from the key the API reads the same secret under.
            secrets={WorkerEnv.SERVICE_SECRET: ecs.Secret.from_secrets_manager(
                self.generated_secrets["service_secret"], Settings.env_name("service_secret"))},
            logging=ecs.LogDrivers.aws_logs(stream_prefix="media-worker", log_retention=logs.RetentionDays.ONE_MONTH),
            # On StopTask the worker closes its HLS stream (last segment, ENDLIST, replay playlist)
            # within CLOSE_SECONDS before SIGKILL; Fargate's most is 120.
            stop_timeout=cdk.Duration.seconds(int(CLOSE_SECONDS) + 10),
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
                   url_parameters: list[ssm.StringParameter], platform_arns: list[str]) -> None:
        for table in self.tables.values():
            table.grant_read_write_data(role)
        for queue in self.queues.values():
            queue.grant_send_messages(role)
            queue.grant_consume_messages(role)
        self.secret.grant_read(role)
        for secret in self.generated_secrets.values():
            secret.grant_read(role)
        self.turn.secret.grant_read(role)
        for parameter in url_parameters:
            parameter.grant_read(role)
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
            # Recordings and clips (parlor_contract.hls): read segments, write clips with their
            # retention tag, delete a recording; list only under spaces/ (to find what to delete).
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject"],
                                resources=[self.audience.objects_arn]),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.audience.bucket.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{SPACES_PREFIX}*"]}}),
        )
        if platform_arns:
            policy.add_statements(
                iam.PolicyStatement(actions=["sns:CreatePlatformEndpoint"], resources=platform_arns),
                iam.PolicyStatement(actions=["sns:Publish", "sns:DeleteEndpoint", "sns:GetEndpointAttributes"],
                                    resources=[f"{arn.replace(':app/', ':endpoint/')}/*" for arn in platform_arns]),
            )
