"""The CDK app synthesizes offline, and what it declares matches the code it deploys.

Runs in the infra virtualenv (``make test-infra``); skipped where aws_cdk is not installed
(the main test venv stays small).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

cdk = pytest.importorskip("aws_cdk")
from aws_cdk.assertions import Match, Template  # noqa: E402

from parlor_contract import hls  # noqa: E402
from parlor_contract.worker import WorkerEnv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EMAIL_SENDER = "no-reply@parlor.example"


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk.out")


def _public_key_pem(key: object) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def cdn_public_key() -> str:
    """What `make cdn-keys` makes: an RSA 2048 key pair (only its public half reaches the stack)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return _public_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def template(outdir: Path, cdn_public_key: str) -> Template:
    from infra.app import build

    app = build(outdir=str(outdir), context={"email_sender": EMAIL_SENDER, "cdnPublicKey": cdn_public_key})
    stack = app.node.find_child("Parlor-prod")
    return Template.from_stack(stack)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def resources(template: Template) -> dict:
    return template.to_json()["Resources"]


def test_a_table_per_model_with_its_keys_indexes_ttl_and_pitr(template: Template):
    from infra.derive import table_specs

    specs = table_specs()
    template.resource_count_is("AWS::DynamoDB::Table", len(specs))
    for spec in specs:
        keys = [{"AttributeName": spec.hash_key[0], "KeyType": "HASH"}]
        if spec.range_key:
            keys.append({"AttributeName": spec.range_key[0], "KeyType": "RANGE"})
        props: dict = {"TableName": spec.name, "KeySchema": keys, "BillingMode": "PAY_PER_REQUEST",
                       "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
        if spec.ttl_attribute:
            props["TimeToLiveSpecification"] = {"AttributeName": spec.ttl_attribute, "Enabled": True}
        if spec.global_indexes:
            props["GlobalSecondaryIndexes"] = [Match.object_like({"IndexName": i.name}) for i in spec.global_indexes]
        if spec.local_indexes:
            props["LocalSecondaryIndexes"] = [Match.object_like({"IndexName": i.name}) for i in spec.local_indexes]
        template.has_resource_properties("AWS::DynamoDB::Table", props)


def test_the_followers_index_is_there(template: Template):
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "TableName": "parlor-prod-follows",
        "GlobalSecondaryIndexes": [{"IndexName": "followers", "KeySchema": [
            {"AttributeName": "followee_id", "KeyType": "HASH"}, {"AttributeName": "follower_id", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}]})


def test_every_queue_has_a_dead_letter_queue_and_alarms(template: Template, resources: dict):
    from infra.derive import queue_names

    names = queue_names()
    assert {"parlor-prod-notifications", "parlor-prod-realtime"} <= set(names)
    for name in names:
        template.has_resource_properties("AWS::SQS::Queue", {
            "QueueName": name, "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": 3}})
        template.has_resource_properties("AWS::SQS::Queue", {"QueueName": f"{name}-dlq"})
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 2 * len(names)


def test_the_worker_task_runs_what_python_m_media_worker_expects(template: Template, resources: dict):
    from infra.derive import WORKER_COMMAND, WORKER_PORT

    task = _task_running(resources, "media-worker")
    container = task["Properties"]["ContainerDefinitions"][0]
    assert container["Command"] == WORKER_COMMAND == ["python", "-m", "media_worker"]
    assert container["PortMappings"] == [{"ContainerPort": WORKER_PORT, "Protocol": "tcp"}]
    assert task["Properties"]["RequiresCompatibilities"] == ["FARGATE"]
    configured = {e["Name"] for e in container["Environment"]} | {s["Name"] for s in container["Secrets"]}
    read_by_worker = set(WorkerEnv)  # exactly the worker's settings (tests/media_worker/test_config.py)
    # Everything the stack sets is read by the worker; what it leaves out is the per-task
    # override (space and worker id or pool slot, API URL, media token public key, whether the space records: set by
    # the API's EcsLauncher) or the addresses (each task learns its own at start: media_worker/address.py).
    assert configured <= read_by_worker
    assert read_by_worker - configured == {WorkerEnv.SPACE_ID, WorkerEnv.WORKER_ID, WorkerEnv.POOL_SLOT, WorkerEnv.POOL_WORKER_ID,
                                           WorkerEnv.API_URL, WorkerEnv.TOKEN_PUBLIC_KEY, WorkerEnv.PUBLIC_HOST,
                                           WorkerEnv.PRIVATE_HOST, WorkerEnv.PUBLIC_URL, WorkerEnv.RECORDING}
    dockerfile = (ROOT / "media_worker" / "Dockerfile").read_text()
    assert f'CMD {json.dumps(WORKER_COMMAND)}' in dockerfile and f"EXPOSE {WORKER_PORT}/tcp" in dockerfile
    assert set(re.findall(r"\b(PARLOR_[A-Z_]+)", dockerfile)) <= read_by_worker


def test_a_worker_task_may_look_up_its_network_interface_for_its_public_ip(resources: dict):
    """media_worker/address.py: DescribeNetworkInterfaces (no resource-level permissions: "*")."""
    role = _task_running(resources, "media-worker")["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    statements = [statement for r in resources.values() if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
                  for statement in r["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Action": "ec2:DescribeNetworkInterfaces", "Effect": "Allow", "Resource": "*"} in statements


def test_a_stopped_worker_task_of_this_cluster_calls_the_apps_handler(resources: dict):
    """EventBridge "ECS Task State Change" (STOPPED) for the worker's family on the worker's cluster."""
    from chalicelib.gateways.launchers import task_family

    function = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"
                    and r["Properties"]["Handler"] == "app.media_task_stopped")
    (event,) = function["Properties"]["Events"].values()
    assert event["Type"] == "CloudWatchEvent"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.ecs"] and pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["lastStatus"] == ["STOPPED"]
    task_name, task = next((n, r) for n, r in resources.items() if r["Type"] == "AWS::ECS::TaskDefinition")
    assert task["Properties"]["Family"] == task_family("parlor-prod")
    assert pattern["detail"]["group"] == [f"family:{task_family('parlor-prod')}"]
    cluster = next(n for n, r in resources.items() if r["Type"] == "AWS::ECS::Cluster")
    assert pattern["detail"]["clusterArn"] == [{"Fn::GetAtt": [cluster, "Arn"]}]


def test_the_lambda_package_carries_the_contract_at_its_top_level(resources: dict, outdir: Path):
    """Chalice ships app.py, chalicelib/ and what vendor/ holds: vendor/parlor_contract links the package in."""
    function = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::Function")
    with zipfile.ZipFile(outdir / f"asset.{function['Properties']['CodeUri']['Key']}") as package:
        names = set(package.namelist())
    assert {f"parlor_contract/{p.name}" for p in (ROOT / "parlor_contract").glob("*.py")} <= names
    assert {"app.py", "chalicelib/__init__.py", "chalicelib/gateways/media.py"} <= names
    assert not [n for n in names if n.split("/")[0] in ("media_worker", "local", "tests", "infra", "vendor")]


def test_the_lambda_package_holds_every_runtime_requirement(resources: dict, outdir: Path):
    """Chalice packages each requirement only if it finds a wheel Lambda's runtime can load, and
    otherwise warns and goes on: the API would then fail to import at its first cold start
    (PyAV's manylinux_2_28 wheels, for one, do not load on the Python 3.11 runtime)."""
    from importlib.metadata import distribution

    function = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::Function")
    with zipfile.ZipFile(outdir / f"asset.{function['Properties']['CodeUri']['Key']}") as package:
        top_levels = {n.split("/")[0].removesuffix(".py") for n in package.namelist()}
    missing = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = line.split("#")[0].split("==")[0].strip()
        if not name:
            continue
        tops = {str(f).split("/")[0] for f in distribution(name).files or []}
        modules = {t.removesuffix(".py") for t in tops if t != ".." and not t.endswith((".dist-info", ".libs", ".data"))}
        if not modules & top_levels:
            missing.append(name)
    assert missing == []


def test_the_worker_image_is_built_from_the_worker_and_the_contract_only(outdir: Path):
    (image,) = json.loads((outdir / "Parlor-prod.assets.json").read_text())["dockerImages"].values()
    assert image["source"]["dockerFile"] == "media_worker/Dockerfile"
    context = outdir / image["source"]["directory"]  # the build context, as CDK staged it from the root
    assert {p.name for p in context.iterdir()} == {"media_worker", "parlor_contract", ".dockerignore"}
    assert {p.name for p in (context / "parlor_contract").iterdir()} == {p.name for p in (ROOT / "parlor_contract").glob("*.py")}
    assert (context / "media_worker" / "__main__.py").is_file()


def _group(resources: dict, description_start: str) -> tuple[str, dict]:
    return next((n, r) for n, r in resources.items() if r["Type"] == "AWS::EC2::SecurityGroup"
                and r["Properties"]["GroupDescription"].startswith(description_start))


def _ingress(resources: dict, group_name: str) -> list[dict]:
    """The group's ingress rules, inline or as separate resources (CDK writes a rule from another group so)."""
    inline = resources[group_name]["Properties"].get("SecurityGroupIngress", [])
    separate = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"
                and r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_name, "GroupId"]}]
    return inline + separate


def test_only_the_apis_lambdas_reach_a_workers_http_port_and_media_is_open_to_all(resources: dict):
    """Issue 15: media tokens, SDP and control calls crossed the internet in clear to a port open
    to 0.0.0.0/0. Now the HTTP port admits the API's security group alone; UDP stays open."""
    from infra.derive import WORKER_PORT, WORKER_UDP_PORTS

    workers, _ = _group(resources, "Media workers")
    api, _ = _group(resources, "The API Lambdas")
    rules = _ingress(resources, workers)
    (tcp,) = [r for r in rules if r["IpProtocol"] == "tcp"]
    assert tcp["SourceSecurityGroupId"] == {"Fn::GetAtt": [api, "GroupId"]}
    assert (tcp["FromPort"], tcp["ToPort"]) == (WORKER_PORT, WORKER_PORT)
    assert not [r for r in rules if r["IpProtocol"] in ("tcp", "-1") and ("CidrIp" in r or "CidrIpv6" in r)]
    (udp,) = [r for r in rules if r["IpProtocol"] == "udp"]
    assert (udp["CidrIp"], udp["FromPort"], udp["ToPort"]) == ("0.0.0.0/0", *WORKER_UDP_PORTS)


def test_the_lambdas_run_in_private_subnets_with_egress_and_the_workers_in_public_ones(resources: dict, template: Template):
    api, _ = _group(resources, "The API Lambdas")
    private = {n for n, r in resources.items() if r["Type"] == "AWS::EC2::Subnet"
               and not r["Properties"].get("MapPublicIpOnLaunch")}
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    for function in functions:
        vpc_config = function["Properties"]["VpcConfig"]
        assert vpc_config["SecurityGroupIds"] == [{"Fn::GetAtt": [api, "GroupId"]}]
        assert {ref["Ref"] for ref in vpc_config["SubnetIds"]} == private and len(private) == 2
    # Their way out (Stripe, the AWS APIs): one NAT gateway; DynamoDB through a gateway endpoint.
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    template.has_resource_properties("AWS::EC2::VPCEndpoint", {
        "VpcEndpointType": "Gateway", "ServiceName": Match.object_like({"Fn::Join": ["", Match.array_with([".dynamodb"])]})})
    role = functions[0]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = json.dumps(resources[role]["Properties"]["ManagedPolicyArns"])
    assert "service-role/AWSLambdaVPCAccessExecutionRole" in policies
    # The workers keep their public IPs (WebRTC): RunTask puts them in the public subnets.
    env = functions[0]["Properties"]["Environment"]["Variables"]
    public = {n for n, r in resources.items() if r["Type"] == "AWS::EC2::Subnet" and r["Properties"].get("MapPublicIpOnLaunch")}
    assert set(re.findall(r'"Ref": "([^"]+)"', json.dumps(env["PARLOR_ECS_SUBNETS"]))) == public


# -- secrets (issue 15: they fail closed) ------------------------------------------------------------


def test_the_template_seeds_no_placeholder_or_published_secret(template: Template, resources: dict):
    from parlor_contract.secret_rules import KNOWN_DEFAULTS, PLACEHOLDER_MARKS

    text = json.dumps(template.to_json()).lower()
    assert not [value for value in KNOWN_DEFAULTS if value.lower() in text]  # "set-me" was the stack's own
    # Where values are (an IAM action may well say "ChangeMessageVisibility"): secrets, environments.
    values = json.dumps([r["Properties"] for r in resources.values() if r["Type"] == "AWS::SecretsManager::Secret"]
                        + [r["Properties"]["Environment"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
                        + [c.get("Environment") for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"
                           for c in r["Properties"]["ContainerDefinitions"]]).lower()
    assert not [mark for mark in PLACEHOLDER_MARKS if mark in values]


def test_the_stack_generates_the_session_and_service_secrets_and_the_media_token_seed(resources: dict):
    generated = {r["Properties"]["GenerateSecretString"]["GenerateStringKey"]: r["Properties"]
                 for r in resources.values() if r["Type"] == "AWS::SecretsManager::Secret"
                 and "GenerateSecretString" in r["Properties"]}
    assert {"PARLOR_JWT_SECRET", "PARLOR_SERVICE_SECRET", "PARLOR_MEDIA_TOKEN_SEED", "PARLOR_TURN_SECRET"} == set(generated)
    for properties in generated.values():
        assert properties["GenerateSecretString"]["PasswordLength"] >= 32 and "SecretString" not in properties


def test_a_person_sets_only_stripes_two_secrets_and_the_stack_names_them(resources: dict, template: Template):
    (to_set,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SecretsManager::Secret"
                 and "SecretString" in r["Properties"]]
    assert json.loads(to_set["SecretString"]) == {"PARLOR_STRIPE_API_KEY": "", "PARLOR_STRIPE_WEBHOOK_SECRET": ""}
    assert "PARLOR_STRIPE_API_KEY" in to_set["Description"] and "PARLOR_STRIPE_WEBHOOK_SECRET" in to_set["Description"]
    output = template.to_json()["Outputs"]["SecretArn"]
    assert "PARLOR_STRIPE_API_KEY" in output["Description"] and "PARLOR_STRIPE_WEBHOOK_SECRET" in output["Description"]
    readme = (ROOT / "README.md").read_text()
    assert "PARLOR_STRIPE_API_KEY" in readme and "PARLOR_STRIPE_WEBHOOK_SECRET" in readme
    # The CloudFront private key goes into the same secret, by hand (`make cdn-keys`): named, never seeded.
    assert "PARLOR_CDN_PRIVATE_KEY" in output["Description"] and "make cdn-keys" in output["Description"]
    assert "PARLOR_CDN_PRIVATE_KEY" in readme and "make cdn-keys" in readme


def test_the_api_reads_every_secret_by_reference(resources: dict):
    secrets = {n for n, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"}
    for function in (r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"):
        env = function["Properties"]["Environment"]["Variables"]
        referenced = set(re.findall(r'"Ref": "([^"]+)"', json.dumps([env["PARLOR_SECRETS_ARN"], env["PARLOR_GENERATED_SECRET_ARNS"],
                                                                    env["PARLOR_TURN_SECRET_ARN"]])))
        assert referenced == secrets
        assert not {"PARLOR_JWT_SECRET", "PARLOR_SERVICE_SECRET", "PARLOR_MEDIA_TOKEN_SEED", "PARLOR_STRIPE_API_KEY",
                    "PARLOR_STRIPE_WEBHOOK_SECRET", "PARLOR_MEDIA_TOKEN_PRIVATE_KEY"} & set(env)


def test_the_worker_task_gets_the_generated_service_secret_by_reference_and_no_key(resources: dict):
    (container,) = _task_running(resources, "media-worker")["Properties"]["ContainerDefinitions"]
    (secret,) = container["Secrets"]
    assert secret["Name"] == WorkerEnv.SERVICE_SECRET
    value_from = json.dumps(secret["ValueFrom"])
    service_secret = next(n for n, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"
                          and r["Properties"].get("GenerateSecretString", {}).get("GenerateStringKey") == "PARLOR_SERVICE_SECRET")
    assert f'"Ref": "{service_secret}"' in value_from and ":PARLOR_SERVICE_SECRET::" in value_from
    assert WorkerEnv.TOKEN_PUBLIC_KEY not in {e["Name"] for e in container["Environment"]}


def test_the_lambdas_get_their_settings_from_the_stack(resources: dict):
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        env = function["Properties"]["Environment"]["Variables"]
        assert env["PARLOR_TABLE_PREFIX"] == "parlor-prod" and env["PARLOR_MEDIA_LAUNCHER"] == "ecs"
        assert {"PARLOR_SECRETS_ARN", "PARLOR_WS_MANAGEMENT_URL_PARAM", "PARLOR_API_URL_PARAM", "PARLOR_ECS_CLUSTER",
                "PARLOR_ECS_TASK_DEFINITION", "PARLOR_ECS_SUBNETS", "PARLOR_ECS_SECURITY_GROUPS"} <= set(env)
    handlers = {f["Properties"]["Handler"] for f in functions}
    assert "app.app" in handlers and "app.websocket_connect" in handlers


def test_the_worker_task_is_one_vcpu_by_default_with_one_sender_process_and_the_cap_that_follows(resources: dict):
    from infra import derive

    task = _task_running(resources, "media-worker")
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("1024", "2048")
    env = {e["Name"]: e["Value"] for e in task["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert env[WorkerEnv.PROCESSES] == "1"
    api = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"][0]
    assert api["Properties"]["Environment"]["Variables"]["PARLOR_WEBRTC_LISTENER_CAP"] == str(derive.webrtc_listener_cap(1))


@pytest.mark.parametrize(("vcpu", "cpu", "memory", "processes"), [("2", "2048", "4096", "2"), ("4", "4096", "8192", "4")])
def test_the_worker_task_size_is_a_setting_and_the_processes_and_cap_follow_it(tmp_path: Path, cdn_public_key: str,
                                                                                vcpu, cpu, memory, processes):
    from infra import derive
    from infra.app import build

    app = build(outdir=str(tmp_path), context={"cdnPublicKey": cdn_public_key, "media_task_vcpu": vcpu})
    resources = Template.from_stack(app.node.find_child("Parlor-prod")).to_json()["Resources"]  # type: ignore[arg-type]
    task = _task_running(resources, "media-worker")
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == (cpu, memory)
    env = {e["Name"]: e["Value"] for e in task["Properties"]["ContainerDefinitions"][0]["Environment"]}
    assert env[WorkerEnv.PROCESSES] == processes
    caps = {r["Properties"]["Environment"]["Variables"]["PARLOR_WEBRTC_LISTENER_CAP"]
            for r in resources.values() if r["Type"] == "AWS::Serverless::Function"}
    assert caps == {str(derive.webrtc_listener_cap(float(vcpu)))}
    assert derive.webrtc_listener_cap(float(vcpu)) > derive.webrtc_listener_cap(1) or float(vcpu) < 1


def test_the_apis_own_default_cap_is_a_default_tasks():
    from chalicelib.settings import Settings
    from infra import derive

    assert Settings.model_fields["webrtc_listener_cap"].default == derive.webrtc_listener_cap(derive.DEFAULT_MEDIA_TASK_VCPU)
    assert [derive.webrtc_listener_cap(v) for v in (1, 2, 4)] == [900, 1900, 3950]


def test_a_task_size_fargate_does_not_offer_is_refused_at_synth(tmp_path: Path):
    from infra.app import build

    with pytest.raises(ValueError, match="media_task_vcpu must be one of 0.25, 0.5, 1, 2, 4"):
        build(outdir=str(tmp_path), context={"media_task_vcpu": "3"})


# Actions AWS only grants on "*" (no resource-level permissions).
_STAR_ONLY = {"ecr:GetAuthorizationToken", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
              "ec2:DescribeNetworkInterfaces"}


def test_no_policy_grants_star_where_a_resource_is_known(resources: dict):
    offenders = []
    for name, resource in resources.items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "*" in targets and not set(actions) <= _STAR_ONLY:
                offenders.append((name, actions))
    assert not offenders


def test_the_api_may_run_only_the_media_task(resources: dict):
    policy = next(r for n, r in resources.items() if n.startswith("ApiRuntimePolicy"))
    statements = {s["Action"] if isinstance(s["Action"], str) else tuple(s["Action"]): s
                  for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    run = statements["ecs:RunTask"]
    worker_task = next(n for n, r in resources.items() if r is _task_running(resources, "media-worker"))
    assert run["Resource"] == {"Ref": worker_task}
    assert "ecs:cluster" in run["Condition"]["ArnEquals"]


def test_queue_handlers_report_their_failed_messages_alone(resources: dict):
    """Without ReportBatchItemFailures Lambda ignores the handlers' batchItemFailures and deletes every message."""
    from infra.derive import queue_names

    sqs_events = {(name, event_name): event for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
                  for event_name, event in (r["Properties"].get("Events") or {}).items() if event["Type"] == "SQS"}
    assert len(sqs_events) == len(queue_names())
    assert all(e["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for e in sqs_events.values())


def _task_running(resources: dict, container: str) -> dict:
    return next(r for r in resources.values() if r["Type"] == "AWS::ECS::TaskDefinition"
                and [c["Name"] for c in r["Properties"]["ContainerDefinitions"]] == [container])


def test_the_turn_relay_runs_pinned_coturn_with_short_lived_credentials_and_its_secret_from_secrets_manager(resources: dict):
    from infra.turn import COTURN_IMAGE

    (coturn,) = _task_running(resources, "coturn")["Properties"]["ContainerDefinitions"]
    image, tag = COTURN_IMAGE.split(":")
    assert coturn["Image"] == COTURN_IMAGE and image == "coturn/coturn" and tag not in ("latest", "edge")
    command = coturn["Command"]
    assert {"--use-auth-secret", "--static-auth-secret=$TURN_SECRET", "--external-ip=$(detect-external-ip)"} <= set(command)
    assert "--denied-peer-ip=10.0.0.0-10.255.255.255" in command and "--denied-peer-ip=169.254.0.0-169.254.255.255" in command
    assert "--allow-loopback-peers" not in command
    # The secret reaches the container from Secrets Manager, by reference; it is generated there.
    (secret,) = coturn["Secrets"]
    assert secret["Name"] == "TURN_SECRET" and ":PARLOR_TURN_SECRET::" in json.dumps(secret["ValueFrom"])
    assert "Environment" not in coturn
    turn_secrets = [r for r in resources.values() if r["Type"] == "AWS::SecretsManager::Secret"
                    and r["Properties"].get("GenerateSecretString", {}).get("GenerateStringKey") == "PARLOR_TURN_SECRET"]
    assert len(turn_secrets) == 1 and "SecretString" not in turn_secrets[0]["Properties"]


def test_the_turn_relay_listens_on_3478_udp_and_tcp_behind_a_load_balancer_and_relays_from_a_public_ip(template: Template,
                                                                                                       resources: dict):
    from infra.turn import RELAY_PORTS, TURN_PORT

    template.has_resource_properties("AWS::EC2::SecurityGroup", {"SecurityGroupIngress": Match.array_with([
        Match.object_like({"IpProtocol": "udp", "FromPort": TURN_PORT, "ToPort": TURN_PORT, "CidrIp": "0.0.0.0/0"}),
        Match.object_like({"IpProtocol": "tcp", "FromPort": TURN_PORT, "ToPort": TURN_PORT, "CidrIp": "0.0.0.0/0"}),
        Match.object_like({"IpProtocol": "udp", "FromPort": RELAY_PORTS[0], "ToPort": RELAY_PORTS[1], "CidrIp": "0.0.0.0/0"})])})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Type": "network", "Scheme": "internet-facing"})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::Listener", {"Port": TURN_PORT, "Protocol": "TCP_UDP"})
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {
        "Port": TURN_PORT, "Protocol": "TCP_UDP", "TargetType": "ip", "HealthCheckProtocol": "TCP"})
    template.has_resource_properties("AWS::ECS::Service", {
        "LaunchType": "FARGATE", "DesiredCount": 1,
        "LoadBalancers": [Match.object_like({"ContainerName": "coturn", "ContainerPort": TURN_PORT})],
        "NetworkConfiguration": {"AwsvpcConfiguration": Match.object_like({"AssignPublicIp": "ENABLED"})}})


def test_the_api_hands_out_the_relay_and_reads_its_secret_by_reference(resources: dict):
    for function in (r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"):
        env = function["Properties"]["Environment"]["Variables"]
        urls = json.dumps(env["PARLOR_TURN_URLS"])
        assert "turn:" in urls and "3478?transport=udp" in urls and "3478?transport=tcp" in urls and "DNSName" in urls
        assert "PARLOR_TURN_SECRET_ARN" in env and "PARLOR_TURN_SECRET" not in env


def test_api_gateways_own_errors_use_the_api_envelope_and_an_unknown_route_is_404(resources: dict):
    """API Gateway answers an unknown path or method (403 "Missing Authentication Token", echoing
    the caller's Authorization header), a refused content type, throttling and its own failures
    without calling the API: the Gateway Responses put them in ``{"error": {code, message,
    request_id}}`` with the request id, and let a browser read them."""
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Api"]
    responses = api["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    expected = {"MISSING_AUTHENTICATION_TOKEN": ("404", "route_not_found"), "UNSUPPORTED_MEDIA_TYPE": ("415", "unsupported_media_type"),
                "THROTTLED": ("429", "rate_limited"), "DEFAULT_4XX": (None, "request_refused"), "DEFAULT_5XX": (None, "internal_error")}
    assert set(responses) == set(expected)
    for kind, (status, code) in expected.items():
        response = responses[kind]
        assert response.get("statusCode") == status, kind
        body = json.loads(response["responseTemplates"]["application/json"])
        assert body["error"]["code"] == code and body["error"]["request_id"] == "$context.requestId", kind
        assert body["error"]["message"] and "Authentication Token" not in body["error"]["message"], kind
        assert response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"] == "'*'", kind
        assert "X-Request-Id" in response["responseParameters"]["gatewayresponse.header.Access-Control-Expose-Headers"]



def test_the_api_allows_the_web_clients_origin_only_and_sends_web_buyers_back_to_it(resources: dict):
    """The web client's distribution is the one browser origin allowed by default (``cdk deploy
    -c cors_origins=...`` adds more); Stripe's pages return web buyers there. The Lambdas read it
    from SSM (chalicelib.settings adds it to the allowed origins): the distribution routes share
    pages to the API, so naming it in their environment would be a cycle."""
    distribution, _ = _one(resources, "AWS::CloudFront::Distribution", under="Web")
    web_url = {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]}
    [parameter] = [r for r in resources.values()
                   if r["Type"] == "AWS::SSM::Parameter" and r["Properties"]["Name"].endswith("/web-url")]
    assert parameter["Properties"]["Value"] == web_url
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        env = function["Properties"]["Environment"]["Variables"]
        assert env["PARLOR_WEB_URL_PARAM"] == parameter["Properties"]["Name"]
        assert "PARLOR_WEB_URL" not in env and env.get("PARLOR_CORS_ORIGINS", "") == ""  # empty: unset


def test_the_web_origin_sends_share_pages_to_the_api(resources: dict):
    """``/s/*`` on the web origin is the API's page (chalicelib/api/share.py), over HTTPS, with
    nothing of the viewer's (headers, cookies, query) forwarded: API Gateway needs its own Host."""
    _, distribution = _one(resources, "AWS::CloudFront::Distribution", under="Web")
    config = distribution["Properties"]["DistributionConfig"]
    [behaviour] = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/s/*"]
    origin = next(o for o in config["Origins"] if o["Id"] == behaviour["TargetOriginId"])
    assert origin["DomainName"] == {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert origin["OriginPath"] == "/api" and origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"] and behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert "OriginRequestPolicyId" not in behaviour
    cache = next(r for r in resources.values() if r["Type"] == "AWS::CloudFront::CachePolicy"
                 and r["Properties"]["CachePolicyConfig"]["Comment"].startswith("Parlor share pages"))
    key = cache["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["HeadersConfig"]["HeaderBehavior"] == "none" and key["CookiesConfig"]["CookieBehavior"] == "none"
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "none"


def test_every_path_of_the_api_answers_its_preflight_through_the_app(resources: dict):
    """API Gateway calls the API only for declared methods: each path declares OPTIONS, so a
    browser's preflight reaches the app, which answers it for the allowed origins."""
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Api"]
    paths = api["Properties"]["DefinitionBody"]["paths"]
    assert paths and all("x-amazon-apigateway-integration" in methods.get("options", {}) for methods in paths.values())


def test_the_stack_declares_the_email_sender_and_lets_only_the_api_send_from_it(resources: dict):
    identity_id, identity = next((n, r) for n, r in resources.items() if r["Type"] == "AWS::SES::EmailIdentity")
    assert identity["Properties"]["EmailIdentity"] == EMAIL_SENDER
    grants = [s for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
              for s in r["Properties"]["PolicyDocument"]["Statement"]
              if "ses:SendEmail" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert len(grants) == 1 and identity_id in json.dumps(grants[0]["Resource"])
    policy = next(r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                  and grants[0] in r["Properties"]["PolicyDocument"]["Statement"])
    api_role = next(n for n, r in resources.items() if r["Type"] == "AWS::IAM::Role" and n.startswith("ApiRole"))
    assert [role["Ref"] for role in policy["Properties"]["Roles"]] == [api_role]
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert all(f["Properties"]["Environment"]["Variables"]["PARLOR_EMAIL_SENDER"] == EMAIL_SENDER for f in functions)


# -- the audience tier (issue 17): media bucket, CloudFront with signed access ---------------------


def _one(resources: dict, kind: str, under: str = "Audience") -> tuple[str, dict]:
    """The one resource of ``kind`` in a construct (``Audience``: the media tier; ``Web``: the web client)."""
    (found,) = [(n, r) for n, r in resources.items() if r["Type"] == kind and n.startswith(under)]
    return found


def _statements_of_role(resources: dict, role: str) -> list[dict]:
    return [statement for r in resources.values() if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
            for statement in r["Properties"]["PolicyDocument"]["Statement"]]


def _s3_statements(statements: list[dict]) -> list[dict]:
    def actions(s: dict) -> list[str]:
        return s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
    return [s for s in statements if any(a.startswith("s3:") for a in actions(s))]


def _objects_under_spaces(bucket: str) -> dict:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/spaces/*"]]}


def _max_age(cache_control: str) -> int:
    return int(re.search(r"max-age=(\d+)", cache_control).group(1))  # type: ignore[union-attr]


def test_the_media_bucket_is_private_encrypted_and_refuses_plain_http(resources: dict):
    bucket, props = _one(resources, "AWS::S3::Bucket")
    assert props["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["Properties"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = props["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["DeletionPolicy"] == "Retain"  # recordings outlive a `cdk destroy`
    _, policy = _one(resources, "AWS::S3::BucketPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert {"Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Effect": "Deny",
            "Principal": {"AWS": "*"}, "Resource": [{"Fn::GetAtt": [bucket, "Arn"]},
                                                    {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]}]} in statements


def test_objects_expire_by_their_retention_tag_and_no_other_rule_expires_anything(resources: dict):
    from parlor_contract.hls import LIVE_ONLY_DAYS, RECORDING_DAYS, RETENTION_TAG, Retention

    _, bucket = _one(resources, "AWS::S3::Bucket")
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert all(r["Status"] == "Enabled" for r in rules)
    expiring = {(r["TagFilters"][0]["Key"], r["TagFilters"][0]["Value"]): r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r}
    assert expiring == {(RETENTION_TAG, Retention.RECORDING): RECORDING_DAYS, (RETENTION_TAG, Retention.LIVE): LIVE_ONLY_DAYS}
    assert (RECORDING_DAYS, LIVE_ONLY_DAYS) == (30, 1)
    # A rule that expires by tag filters on that tag alone (a prefix too would spare objects outside it).
    assert all(len(r["TagFilters"]) == 1 and "Prefix" not in r for r in rules if "ExpirationInDays" in r)
    (abort,) = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1} and "ExpirationInDays" not in abort


def test_only_this_distribution_reads_the_bucket_through_origin_access_control(resources: dict):
    bucket, _ = _one(resources, "AWS::S3::Bucket")
    distribution, props = _one(resources, "AWS::CloudFront::Distribution")
    oac, access_control = _one(resources, "AWS::CloudFront::OriginAccessControl")
    assert access_control["Properties"]["OriginAccessControlConfig"] | {"Name": ""} == {
        "Name": "", "OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"}
    (origin,) = props["Properties"]["DistributionConfig"]["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": [bucket, "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac, "Id"]}
    assert not origin["S3OriginConfig"].get("OriginAccessIdentity")  # no legacy OAI beside it
    _, policy = _one(resources, "AWS::S3::BucketPolicy")
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == [{"Action": "s3:GetObject", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
                       "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]}, "/*"]]},
                       "Condition": {"StringEquals": {"AWS:SourceArn": {"Fn::Join": ["", [
                           "arn:", {"Ref": "AWS::Partition"}, ":cloudfront::", {"Ref": "AWS::AccountId"},
                           ":distribution/", {"Ref": distribution}]]}}}}]


def test_every_behaviour_is_https_get_only_and_needs_a_signature_of_the_stacks_key(resources: dict, cdn_public_key: str):
    public_key, key = _one(resources, "AWS::CloudFront::PublicKey")
    assert key["Properties"]["PublicKeyConfig"]["EncodedKey"] == cdn_public_key
    key_group, group = _one(resources, "AWS::CloudFront::KeyGroup")
    assert group["Properties"]["KeyGroupConfig"]["Items"] == [{"Ref": public_key}]
    _, distribution = _one(resources, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert len(behaviours) == 2
    for behaviour in behaviours:
        assert behaviour["TrustedKeyGroups"] == [{"Ref": key_group}]
        assert "TrustedSigners" not in behaviour  # the root account's legacy key pairs
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
        assert behaviour["AllowedMethods"] == ["GET", "HEAD"]


def test_segments_are_cached_as_immutable_and_playlists_for_a_second_whatever_the_signature(resources: dict):
    from parlor_contract.hls import PLAYLIST_CACHE_CONTROL, SEGMENT_CACHE_CONTROL

    _, distribution = _one(resources, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    (playlists,) = config["CacheBehaviors"]
    assert playlists["PathPattern"] == "*.m3u8"
    policies = {name: r["Properties"]["CachePolicyConfig"] for name, r in resources.items() if r["Type"] == "AWS::CloudFront::CachePolicy"}
    segment_policy = policies[config["DefaultCacheBehavior"]["CachePolicyId"]["Ref"]]
    playlist_policy = policies[playlists["CachePolicyId"]["Ref"]]
    assert segment_policy["MaxTTL"] == segment_policy["DefaultTTL"] == _max_age(SEGMENT_CACHE_CONTROL) == 365 * 24 * 3600
    assert playlist_policy["MaxTTL"] == playlist_policy["DefaultTTL"] == _max_age(PLAYLIST_CACHE_CONTROL) == 1
    # The signature's query string (Policy, Signature, Key-Pair-Id) or cookies would make every
    # listener's request a cache miss: CloudFront checks them before its cache, the key leaves them out.
    for policy in (segment_policy, playlist_policy):
        assert policy["MinTTL"] == 0
        assert policy["ParametersInCacheKeyAndForwardedToOrigin"] | {"EnableAcceptEncodingBrotli": False,
                                                                     "EnableAcceptEncodingGzip": False} == {
            "CookiesConfig": {"CookieBehavior": "none"}, "HeadersConfig": {"HeaderBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": "none"},
            "EnableAcceptEncodingBrotli": False, "EnableAcceptEncodingGzip": False}
    # A playlist asked for before the worker wrote it is not refused for CloudFront's default 10 s.
    assert {(e["ErrorCode"], e["ErrorCachingMinTTL"]) for e in config["CustomErrorResponses"]} == {(403, 1), (404, 1)}


def test_a_browser_player_on_any_origin_may_read_the_stream_without_credentials(resources: dict):
    """hls.js fetches with XHR: CORS on every behaviour; "*" since access is the signature in
    the URL, never a cookie the browser would add by itself."""
    headers_policy, policy = _one(resources, "AWS::CloudFront::ResponseHeadersPolicy")
    cors = policy["Properties"]["ResponseHeadersPolicyConfig"]["CorsConfig"]
    assert cors["AccessControlAllowOrigins"] == {"Items": ["*"]} and cors["AccessControlAllowCredentials"] is False
    assert cors["AccessControlAllowMethods"] == {"Items": ["GET", "HEAD"]} and cors["OriginOverride"] is True
    _, distribution = _one(resources, "AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    for behaviour in (config["DefaultCacheBehavior"], *config["CacheBehaviors"]):
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": headers_policy}


def test_a_worker_may_only_write_tag_delete_and_list_objects_under_spaces(resources: dict):
    bucket, _ = _one(resources, "AWS::S3::Bucket")
    role = _task_running(resources, "media-worker")["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
    writes, listing = sorted(_s3_statements(_statements_of_role(resources, role)), key=lambda s: s["Action"] == "s3:ListBucket")
    assert writes["Effect"] == "Allow" and "Condition" not in writes
    assert sorted(writes["Action"]) == ["s3:DeleteObject", "s3:PutObject", "s3:PutObjectTagging"]
    assert writes["Resource"] == _objects_under_spaces(bucket)
    assert listing["Action"] == "s3:ListBucket" and listing["Resource"] == {"Fn::GetAtt": [bucket, "Arn"]}
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["spaces/*"]}}


def test_a_stopped_worker_has_time_to_close_its_stream(resources: dict):
    container = _task_running(resources, "media-worker")["Properties"]["ContainerDefinitions"][0]
    assert container["StopTimeout"] > hls.CLOSE_SECONDS + 5


def test_the_api_may_read_write_and_delete_under_spaces_and_list_that_prefix_only(resources: dict):
    bucket, _ = _one(resources, "AWS::S3::Bucket")
    api_role = next(n for n, r in resources.items() if r["Type"] == "AWS::IAM::Role" and n.startswith("ApiRole"))
    statements = _s3_statements(_statements_of_role(resources, api_role))
    by_resource = {json.dumps(s["Resource"], sort_keys=True): s for s in statements}
    assert len(by_resource) == len(statements) == 2
    objects = by_resource[json.dumps(_objects_under_spaces(bucket), sort_keys=True)]
    assert sorted(objects["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"]
    assert "Condition" not in objects
    listing = by_resource[json.dumps({"Fn::GetAtt": [bucket, "Arn"]}, sort_keys=True)]
    assert listing["Action"] == "s3:ListBucket" and listing["Condition"] == {"StringLike": {"s3:prefix": ["spaces/*"]}}


def test_the_lambdas_and_the_workers_reach_s3_through_a_gateway_endpoint(resources: dict):
    endpoints = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::VPCEndpoint"
                 and r["Properties"]["ServiceName"] == {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}]
    (endpoint,) = endpoints
    assert endpoint["VpcEndpointType"] == "Gateway" and "PolicyDocument" not in endpoint  # ECR's layers come from S3 too
    routes = {n for n, r in resources.items() if r["Type"] == "AWS::EC2::RouteTable"}
    assert {ref["Ref"] for ref in endpoint["RouteTableIds"]} == routes and len(routes) == 4  # private and public


def test_the_api_and_the_worker_are_told_the_bucket_and_the_api_the_cdn_and_its_key(resources: dict):
    bucket, _ = _one(resources, "AWS::S3::Bucket")
    distribution, _ = _one(resources, "AWS::CloudFront::Distribution")
    public_key, _ = _one(resources, "AWS::CloudFront::PublicKey")
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        env = function["Properties"]["Environment"]["Variables"]
        assert env["PARLOR_MEDIA_BUCKET"] == {"Ref": bucket}
        assert env["PARLOR_CDN_URL"] == {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]}
        assert env["PARLOR_CDN_KEY_PAIR_ID"] == {"Ref": public_key}
        assert "PARLOR_CDN_PRIVATE_KEY" not in env  # from the secret, by reference
    (container,) = _task_running(resources, "media-worker")["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env[WorkerEnv.MEDIA_BUCKET] == {"Ref": bucket} and WorkerEnv.RECORDING not in env


def test_the_outputs_name_the_cdn_and_the_bucket(template: Template, resources: dict):
    bucket, _ = _one(resources, "AWS::S3::Bucket")
    distribution, _ = _one(resources, "AWS::CloudFront::Distribution")
    outputs = template.to_json()["Outputs"]
    assert outputs["CdnDomain"]["Value"] == {"Fn::GetAtt": [distribution, "DomainName"]}
    assert outputs["MediaBucketName"]["Value"] == {"Ref": bucket}


# -- the web client (infra/web.py) ------------------------------------------------------------------


def test_the_web_client_is_a_private_bucket_read_only_by_its_own_public_distribution(resources: dict):
    bucket, props = _one(resources, "AWS::S3::Bucket", under="Web")
    assert props["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    distribution, dist = _one(resources, "AWS::CloudFront::Distribution", under="Web")
    oac, _ = _one(resources, "AWS::CloudFront::OriginAccessControl", under="Web")
    config = dist["Properties"]["DistributionConfig"]
    behaviour = config["DefaultCacheBehavior"]
    # The bucket serves everything but the share pages (/s/*: the API's, see the test above).
    origin = next(o for o in config["Origins"] if o["Id"] == behaviour["TargetOriginId"])
    assert origin["DomainName"] == {"Fn::GetAtt": [bucket, "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac, "Id"]}
    assert config["DefaultRootObject"] == "index.html"
    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == ["/s/*"] and len(config["Origins"]) == 2
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https" and behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert "TrustedKeyGroups" not in behaviour  # the page is public; the media tier's signatures stay there
    _, policy = _one(resources, "AWS::S3::BucketPolicy", under="Web")
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert [(a["Action"], a["Principal"]) for a in allows] == [("s3:GetObject", {"Service": "cloudfront.amazonaws.com"})]
    assert {"Ref": distribution} in allows[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Join"][1]


def test_the_web_deployment_ships_the_page_and_hls_js_and_a_config_naming_the_api(resources: dict, outdir: Path):
    bucket, _ = _one(resources, "AWS::S3::Bucket", under="Web")
    (deployment,) = [r for r in resources.values() if r["Type"] == "Custom::CDKBucketDeployment"]
    props = deployment["Properties"]
    assert props["DestinationBucketName"] == {"Ref": bucket} and props["Prune"] is True
    # Module names carry no hash: browsers revalidate, and CloudFront (minimum TTL 0) does not keep an old page.
    assert props["SystemMetadata"] == {"cache-control": "no-cache"}
    _, web = _one(resources, "AWS::CloudFront::Distribution", under="Web")
    cache_ref = web["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]["CachePolicyId"]["Ref"]
    assert resources[cache_ref]["Properties"]["CachePolicyConfig"]["MinTTL"] == 0
    files_key, config_key = props["SourceObjectKeys"]
    files = outdir / f"asset.{files_key.removesuffix('.zip')}"
    shipped = {p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file()}
    assert {"index.html", "style.css", "js/main.js", "js/room.js", "vendor/hls.min.js"} <= shipped
    assert not {"package.json", "package-lock.json", "config.example.json"} & shipped
    assert not any(p.startswith("node_modules/") for p in shipped)
    markers = json.dumps(props["SourceMarkers"][1])
    assert "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api" in markers
    assert "wss://${WebsocketAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api" in markers
    config = (outdir / f"asset.{config_key.removesuffix('.zip')}" / "config.json").read_text()
    assert re.fullmatch(r'\{"api_url":<<marker:\w+:0>>,"realtime_url":<<marker:\w+:1>>\}', config), config


def test_the_web_client_s_policy_allows_its_own_scripts_and_the_api_and_media_cdn_only(resources: dict):
    headers, policy = _one(resources, "AWS::CloudFront::ResponseHeadersPolicy", under="Web")
    media, _ = _one(resources, "AWS::CloudFront::Distribution")
    _, web = _one(resources, "AWS::CloudFront::Distribution", under="Web")
    assert web["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]["ResponseHeadersPolicyId"] == {"Ref": headers}
    security = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert security["FrameOptions"]["FrameOption"] == "DENY" and security["ContentTypeOptions"]["Override"] is True
    parts = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Join"][1]
    # Tokens as text: a Fn::Sub as its template, a Fn::GetAtt of a domain name as <resource>.
    text = "".join(p if isinstance(p, str) else p.get("Fn::Sub") or f"<{p['Fn::GetAtt'][0]}>" for p in parts)
    directives = {d.split()[0]: d.split()[1:] for d in text.split("; ")}
    assert directives["script-src"] == ["'self'"] and directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"] and "'unsafe-inline'" not in text and "'unsafe-eval'" not in text
    assert directives["connect-src"] == ["'self'", "https://*.execute-api.${AWS::Region}.${AWS::URLSuffix}",
                                         "wss://*.execute-api.${AWS::Region}.${AWS::URLSuffix}", f"https://<{media}>"]
    assert directives["media-src"] == ["'self'", "blob:", f"https://<{media}>"]


def test_the_outputs_name_the_web_client(template: Template, resources: dict):
    distribution, _ = _one(resources, "AWS::CloudFront::Distribution", under="Web")
    assert template.to_json()["Outputs"]["WebUrl"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution, "DomainName"]}]]}


def test_synthesis_refuses_a_web_client_without_hls_js(tmp_path: Path):
    from infra.web import WebBuildMissing, WebClient

    (tmp_path / "index.html").write_text("<!doctype html>")
    stack = cdk.Stack(cdk.App(), "Bare")
    with pytest.raises(WebBuildMissing, match="make web"):
        WebClient(stack, "Web", config={"api_url": "https://api.example"}, connect_origins=[], media_origins=[],
                  web_dir=tmp_path)


# -- the CloudFront public key: given by the deployer, checked before it reaches a template ------------


def _key_of(context: dict) -> str:
    from infra.audience import cdn_public_key

    return cdn_public_key(cdk.App(context=context).node)


def test_the_public_key_comes_from_context_or_from_a_file(cdn_public_key: str, tmp_path: Path):
    assert _key_of({"cdnPublicKey": cdn_public_key}) == cdn_public_key
    (tmp_path / "cdn-public.pem").write_text(cdn_public_key)
    assert _key_of({"cdnPublicKeyFile": str(tmp_path / "cdn-public.pem")}) == cdn_public_key


def test_without_a_public_key_the_stack_refuses_and_says_how_to_make_one(outdir: Path, tmp_path: Path):
    from infra.app import build
    from infra.audience import CdnKeyError

    with pytest.raises(CdnKeyError, match="make cdn-keys"):
        build(outdir=str(outdir / "no-key"), context={})
    with pytest.raises(CdnKeyError, match="make cdn-keys"):
        _key_of({"cdnPublicKeyFile": str(tmp_path / "absent.pem")})


def test_a_private_key_is_refused_so_it_never_lands_in_a_template():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from infra.audience import CdnKeyError

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(CdnKeyError, match="private key"):
        _key_of({"cdnPublicKey": private})


@pytest.mark.parametrize("kind", ["rsa-1024", "ec", "garbage"])
def test_only_an_rsa_2048_public_key_is_taken(kind: str):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from infra.audience import CdnKeyError

    pem = {"rsa-1024": lambda: _public_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
           "ec": lambda: _public_key_pem(ec.generate_private_key(ec.SECP256R1())),
           "garbage": lambda: "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"}[kind]()
    with pytest.raises(CdnKeyError):
        _key_of({"cdnPublicKey": pem})


def test_the_generated_keys_stay_out_of_git():
    makefile = (ROOT / "Makefile").read_text()
    assert "CDN_KEYS := .cdn-keys" in makefile and "umask 077" in makefile
    assert ".cdn-keys/" in (ROOT / ".gitignore").read_text().splitlines()
