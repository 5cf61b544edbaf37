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

from parlor_contract.worker import WorkerEnv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EMAIL_SENDER = "no-reply@parlor.example"


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cdk.out")


@pytest.fixture(scope="module")
def template(outdir: Path) -> Template:
    from infra.app import build

    app = build(outdir=str(outdir), context={"email_sender": EMAIL_SENDER})
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
    # override (space and worker id or pool slot, API URL, media token public key: set by the API's EcsLauncher) or the
    # addresses (each task learns its own at start: media_worker/address.py).
    assert configured <= read_by_worker
    assert read_by_worker - configured == {WorkerEnv.SPACE_ID, WorkerEnv.WORKER_ID, WorkerEnv.POOL_SLOT, WorkerEnv.POOL_WORKER_ID,
                                           WorkerEnv.API_URL, WorkerEnv.TOKEN_PUBLIC_KEY, WorkerEnv.PUBLIC_HOST,
                                           WorkerEnv.PRIVATE_HOST, WorkerEnv.PUBLIC_URL}
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



def test_the_allowed_web_origins_are_a_deploy_setting(resources: dict):
    """``cdk deploy -c cors_origins=...`` sets them; none by default (no browser origin may call)."""
    functions = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Function"]
    assert functions
    for function in functions:
        assert function["Properties"]["Environment"]["Variables"]["PARLOR_CORS_ORIGINS"] == ""


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
