"""The AWS template, deploy/aws/cloudformation.yaml: linted, scanned, and read claim by claim.

cfn-lint and checkov run from their own virtualenv (tools/install_deploy_linters.sh, from the
hash-pinned deploy/requirements-lint.txt); both must be clean, checkov's only exceptions being
the skips written in the template, each with its reason, and repeated in deploy/README.md.
Then the template is parsed (a YAML loader that knows CloudFormation's short intrinsic tags) and
each seed claim it makes true (shared/design/seed-claims.md) is checked by a test named after it.
The migration task's database bootstrap, the one piece of code in the template, is run against
a real PostgreSQL with an Aurora-like, non-superuser master.

Nothing here talks to AWS: the deploy itself is the runbook's (deploy/README.md).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from tests.deploy.conftest import (
    PYTHON_IMAGES,
    core_answers,
    core_check_deploy,
    core_example_values,
    core_internal_calls,
    core_rate_limiting,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy/aws/cloudformation.yaml"
README = ROOT / "deploy/README.md"
INSTALLER = ROOT / "tools/install_deploy_linters.sh"
LINTERS = ROOT / ".tools/deploy-lint/bin"
SERVER_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk")

# The platform's services as ECS services: name -> (task definition, container port or None).
SERVICES = {
    "CoreService": ("CoreTaskDefinition", 8000),
    "RelayService": ("RelayTaskDefinition", None),
    "SlaSchedulerService": ("SlaSchedulerTaskDefinition", None),
    "WebhookWorkerService": ("WebhookWorkerTaskDefinition", None),
    "AiService": ("AiTaskDefinition", 8001),
    "AiWorkerService": ("AiWorkerTaskDefinition", None),
    "RealtimeService": ("RealtimeTaskDefinition", 3000),
}
WEB_SERVICES = ("CoreService", "AiService", "RealtimeService")
# The workers: no port, no inbound traffic, their own desired-count parameter.
WORKER_SERVICES = {
    "RelayService": ("RelayDesiredCount", "WorkerSecurityGroup"),
    "SlaSchedulerService": ("SlaSchedulerDesiredCount", "WorkerSecurityGroup"),
    "WebhookWorkerService": ("WebhookWorkerDesiredCount", "WorkerSecurityGroup"),
    "AiWorkerService": ("AiWorkerDesiredCount", "AiWorkerSecurityGroup"),
}
IMAGE_TAG_OF = {
    "CoreTaskDefinition": "CoreImageTag",
    "RelayTaskDefinition": "CoreImageTag",
    "SlaSchedulerTaskDefinition": "CoreImageTag",
    "WebhookWorkerTaskDefinition": "CoreImageTag",
    "MigrationTaskDefinition": "CoreImageTag",
    "AiTaskDefinition": "AiImageTag",
    "AiWorkerTaskDefinition": "AiImageTag",
    "RealtimeTaskDefinition": "RealtimeImageTag",
}
WORKER_COMMANDS = {
    "RelayTaskDefinition": ["python", "manage.py", "run_outbox_relay"],
    "SlaSchedulerTaskDefinition": ["python", "manage.py", "run_sla_scheduler"],
    "WebhookWorkerTaskDefinition": ["python", "manage.py", "run_webhook_worker"],
    "AiWorkerTaskDefinition": ["python", "-m", "app.worker"],
}
# Who calls core's internal endpoints, and so holds the service credential and CORE_URL.
CORE_CALLERS = ("AiTaskDefinition", "AiWorkerTaskDefinition", "RealtimeTaskDefinition")
CORE_CALLER_GROUPS = ("AiSecurityGroup", "AiWorkerSecurityGroup", "RealtimeSecurityGroup")
CORE_INTERNAL_URL = "http://core.${AWS::StackName}.internal:8000"
AI_MODEL_DIR = "/var/lib/helpdesk-ai/models"
CORE_WORKER_SECRETS = {"DJANGO_SECRET_KEY", "REALTIME_TOKEN_SECRET", "DATABASE_URL", "REDIS_URL"}
# The environment each container needs (platform brief), and which of it is secret.
SECRET_VARS = {
    "CoreTaskDefinition": CORE_WORKER_SECRETS | {"HELPDESK_SERVICE_TOKEN"},
    "RelayTaskDefinition": CORE_WORKER_SECRETS,
    "SlaSchedulerTaskDefinition": CORE_WORKER_SECRETS,
    "WebhookWorkerTaskDefinition": CORE_WORKER_SECRETS,
    "AiTaskDefinition": {"REDIS_URL", "HELPDESK_SERVICE_TOKEN"},
    "AiWorkerTaskDefinition": {"REDIS_URL", "HELPDESK_SERVICE_TOKEN"},
    "RealtimeTaskDefinition": {"REDIS_URL", "REALTIME_TOKEN_SECRET", "HELPDESK_SERVICE_TOKEN"},
    "MigrationTaskDefinition": {
        "DJANGO_SECRET_KEY",
        "REALTIME_TOKEN_SECRET",
        "DATABASE_URL",
        "REDIS_URL",
        "DB_MASTER_USERNAME",
        "DB_MASTER_PASSWORD",
    },
}
PLAIN_VARS = {
    "CoreTaskDefinition": {
        "ENVIRONMENT",
        "DJANGO_ALLOWED_HOSTS",
        "DJANGO_CSRF_TRUSTED_ORIGINS",
        "DJANGO_MEDIA_S3_BUCKET",
        "API_RATE_LIMIT",
        "RATE_LIMITS_ENABLED",
        "RATE_LIMIT_TRUSTED_PROXIES",
        "ATTACHMENT_MAX_BYTES",
        "WEBHOOKS_ALLOW_HTTP",
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS",
    },
    "RelayTaskDefinition": {"ENVIRONMENT", "DJANGO_ALLOWED_HOSTS"},
    "SlaSchedulerTaskDefinition": {"ENVIRONMENT", "DJANGO_ALLOWED_HOSTS"},
    "WebhookWorkerTaskDefinition": {
        "ENVIRONMENT",
        "DJANGO_ALLOWED_HOSTS",
        "WEBHOOKS_ALLOW_HTTP",
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS",
    },
    "AiTaskDefinition": {"ENVIRONMENT", "AI_MODEL_DIR", "CORE_URL"},
    "AiWorkerTaskDefinition": {"ENVIRONMENT", "AI_MODEL_DIR", "CORE_URL"},
    "RealtimeTaskDefinition": {"ENVIRONMENT", "CORE_URL"},
    "MigrationTaskDefinition": {"ENVIRONMENT"},
}


# --- reading the template ------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus CloudFormation's short tags (!Ref, !Sub, !GetAtt, ...)."""


def _intrinsic(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    key = name if name in {"Ref", "Condition"} else f"Fn::{name}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "GetAtt":  # !GetAtt Resource.Attribute[.Sub] -> [Resource, Attribute[.Sub]]
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


SHORT_TAGS = [
    *("Ref", "Condition", "Sub", "GetAtt", "If", "Equals", "Not", "Or", "And", "Select"),
    *("GetAZs", "Cidr", "FindInMap", "Join", "Split", "Base64", "ImportValue"),
]
for _tag in SHORT_TAGS:
    _CfnLoader.add_constructor(f"!{_tag}", _intrinsic(_tag))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = template["Resources"]
    assert isinstance(found, dict)
    return found


def props(resources: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    found = resources[name].get("Properties", {})
    assert isinstance(found, dict)
    return found


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def getatt(resource: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, attribute]}


def container(resources: dict[str, dict[str, Any]], task_definition: str) -> dict[str, Any]:
    definitions = props(resources, task_definition)["ContainerDefinitions"]
    assert len(definitions) == 1, f"{task_definition}: one container per task"
    found = definitions[0]
    assert isinstance(found, dict)
    return found


def sub_text(value: Any) -> str:
    """The text of a !Sub (either form), or the plain string."""
    if isinstance(value, str):
        return value
    assert isinstance(value, dict), value
    assert "Fn::Sub" in value, value
    inner = value["Fn::Sub"]
    return str(inner[0] if isinstance(inner, list) else inner)


def inline_skips(resources: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(resource, check id) -> comment, for every checkov skip written in the template."""
    skips = {}
    for name, resource in resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            skips[(name, skip["id"])] = skip.get("comment", "")
    return skips


# --- the linters ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def linters() -> Path:
    """cfn-lint and checkov, installed (or found up to date) by the project's own script."""
    subprocess.run([str(INSTALLER)], cwd=ROOT, check=True, timeout=900)
    return LINTERS


def run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # No telemetry, no update checks: the scan reads only the template.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_c56_cfn_lint_reports_nothing(linters: Path) -> None:
    result = run([str(linters / "cfn-lint"), str(TEMPLATE.relative_to(ROOT))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_c55_checkov_passes_with_only_justified_inline_skips(
    linters: Path, resources: dict[str, dict[str, Any]]
) -> None:
    checkov = [str(linters / "checkov"), "-f", str(TEMPLATE.relative_to(ROOT))]
    # deploy/README.md's command, with JSON output and without --quiet (which would leave the
    # skipped checks out of the report); the exit code is the same.
    checkov += ["--framework", "cloudformation", "--compact", "--skip-download", "-o", "json"]
    report = run(checkov)
    assert report.returncode == 0, report.stdout + report.stderr
    results = json.loads(report.stdout)
    assert results["summary"]["failed"] == 0, results["results"]["failed_checks"]
    assert results["summary"]["parsing_errors"] == 0
    assert results["summary"]["passed"] > 100, "checkov read far fewer checks than expected"

    declared = inline_skips(resources)
    applied = {
        (check["resource"].split(".", 1)[1], check["check_id"])
        for check in results["results"]["skipped_checks"]
    }
    # Every skip is written in the template, and none is stale (a skip of a check that does
    # not run would hide nothing and explain nothing).
    assert applied == set(declared), (applied, set(declared))
    readme = README.read_text()
    for (resource, check_id), comment in declared.items():
        assert len(comment) >= 40, f"{resource} {check_id}: the skip needs a real reason"
        row = next((line for line in readme.splitlines() if check_id in line), "")
        assert resource in row, f"deploy/README.md must list {check_id} on {resource} and why"


# --- C56: the seed's deploy command ----------------------------------------------------------


def test_c56_deploy_command_needs_only_environment_and_domain_name(
    template: dict[str, Any],
) -> None:
    parameters = template["Parameters"]
    without_default = {name for name, p in parameters.items() if "Default" not in p}
    assert without_default == {"DomainName"}
    assert {"staging", "production"} <= set(parameters["Environment"]["AllowedValues"])
    assert not any("password" in name.lower() for name in parameters), "no password parameter"
    for tag in ("CoreImageTag", "AiImageTag", "RealtimeImageTag"):
        assert parameters[tag]["Type"] == "String"
    readme = " ".join(README.read_text().split()).replace("\\ ", "")
    assert "aws cloudformation deploy --template-file deploy/aws/cloudformation.yaml" in readme
    assert "--stack-name helpdesk-platform" in readme
    assert "Environment=production DomainName=" in readme


def test_c56_each_service_has_its_own_image_tag_parameter(
    resources: dict[str, dict[str, Any]],
) -> None:
    for task_definition, tag in IMAGE_TAG_OF.items():
        image = container(resources, task_definition)["Image"]
        text, variables = image["Fn::Sub"]
        assert set(variables) <= {"Registry", "Tag"}, task_definition
        if task_definition == "MigrationTaskDefinition":
            # Its own tag when given (migrate before the new code serves), else the core's.
            assert text == "${Registry}/${CoreImageRepository}:${Tag}"
            assert variables["Tag"] == {
                "Fn::If": ["HasMigrationImageTag", ref("MigrationImageTag"), ref(tag)]
            }
        else:
            repository = tag.replace("ImageTag", "ImageRepository")
            assert text == f"${{Registry}}/${{{repository}}}:${{{tag}}}", task_definition


# --- C40: network -------------------------------------------------------------------------


def test_c40_vpc_has_two_public_and_two_private_subnets_in_two_zones_with_nat(
    resources: dict[str, dict[str, Any]],
) -> None:
    subnets = of_type(resources, "AWS::EC2::Subnet")
    assert set(subnets) == {"PublicSubnetA", "PublicSubnetB", "PrivateSubnetA", "PrivateSubnetB"}
    for name in subnets:
        p = props(resources, name)
        assert p["VpcId"] == ref("Vpc")
        assert p["MapPublicIpOnLaunch"] is False
        zone = 0 if name.endswith("A") else 1
        assert p["AvailabilityZone"] == {"Fn::Select": [zone, {"Fn::GetAZs": ""}]}

    routes = of_type(resources, "AWS::EC2::Route")
    associations = of_type(resources, "AWS::EC2::SubnetRouteTableAssociation")
    table_of = {
        props(resources, a)["SubnetId"]["Ref"]: props(resources, a)["RouteTableId"]["Ref"]
        for a in associations
    }
    default_route = {
        props(resources, r)["RouteTableId"]["Ref"]: props(resources, r)
        for r in routes
        if props(resources, r)["DestinationCidrBlock"] == "0.0.0.0/0"
    }
    for public in ("PublicSubnetA", "PublicSubnetB"):
        assert default_route[table_of[public]]["GatewayId"] == ref("InternetGateway")
    assert default_route[table_of["PrivateSubnetA"]]["NatGatewayId"] == ref("NatGatewayA")
    assert default_route[table_of["PrivateSubnetB"]]["NatGatewayId"] == {
        "Fn::If": ["NatGatewayPerZone", ref("NatGatewayB"), ref("NatGatewayA")]
    }
    assert props(resources, "NatGatewayA")["SubnetId"] == ref("PublicSubnetA")
    assert props(resources, "NatGatewayB")["SubnetId"] == ref("PublicSubnetB")


def test_c40_security_groups_are_least_privilege(resources: dict[str, dict[str, Any]]) -> None:
    groups = of_type(resources, "AWS::EC2::SecurityGroup")
    # Every rule inline: a standalone rule would sit beside AWS's default allow-all egress.
    assert not of_type(resources, "AWS::EC2::SecurityGroupIngress")
    assert not of_type(resources, "AWS::EC2::SecurityGroupEgress")
    ingress = {name: props(resources, name).get("SecurityGroupIngress", []) for name in groups}
    egress = {name: props(resources, name)["SecurityGroupEgress"] for name in groups}
    for rule in [r for rules in (*ingress.values(), *egress.values()) for r in rules]:
        assert rule["Description"], rule
        if rule["IpProtocol"] != "-1":
            assert rule["IpProtocol"] == "tcp", rule
            assert rule["FromPort"] == rule["ToPort"], rule

    def peers(rules: list[dict[str, Any]]) -> set[tuple[int, str]]:
        return {
            (
                rule["FromPort"],
                rule["SourceSecurityGroupId"]["Ref"]
                if "SourceSecurityGroupId" in rule
                else ("VPC" if rule["CidrIp"] == ref("VpcCidr") else rule["CidrIp"]),
            )
            for rule in rules
        }

    # Only the load balancer is open to the internet, on 443 and 80 (which redirects).
    assert peers(ingress["LoadBalancerSecurityGroup"]) == {(443, "0.0.0.0/0"), (80, "0.0.0.0/0")}
    # Each web service: its own port, from the load balancer only (core also from the services
    # that call its internal endpoints); the workers: nothing.
    assert peers(ingress["CoreSecurityGroup"]) == {
        (8000, "LoadBalancerSecurityGroup"),
        *((8000, group) for group in CORE_CALLER_GROUPS),
    }
    assert peers(ingress["AiSecurityGroup"]) == {(8001, "LoadBalancerSecurityGroup")}
    assert peers(ingress["RealtimeSecurityGroup"]) == {(3000, "LoadBalancerSecurityGroup")}
    assert peers(ingress["WorkerSecurityGroup"]) == set()
    assert peers(ingress["AiWorkerSecurityGroup"]) == set()
    # Aurora: 5432 from the core and its workers; Redis: 6379 from the tasks; the model file
    # system: NFS from the ai tasks.
    assert peers(ingress["DatabaseSecurityGroup"]) == {
        (5432, "CoreSecurityGroup"),
        (5432, "WorkerSecurityGroup"),
    }
    tasks = (
        "CoreSecurityGroup",
        "WorkerSecurityGroup",
        "AiSecurityGroup",
        "AiWorkerSecurityGroup",
        "RealtimeSecurityGroup",
    )
    assert peers(ingress["RedisSecurityGroup"]) == {(6379, group) for group in tasks}
    assert peers(ingress["ModelFileSystemSecurityGroup"]) == {
        (2049, "AiSecurityGroup"),
        (2049, "AiWorkerSecurityGroup"),
    }
    # Outbound: the data stores send nothing; the load balancer reaches only the services'
    # ports; the tasks HTTPS, plus what they use inside the VPC.
    for store in ("DatabaseSecurityGroup", "RedisSecurityGroup", "ModelFileSystemSecurityGroup"):
        assert egress[store] == [
            {"IpProtocol": "-1", "CidrIp": "127.0.0.1/32", "Description": "no outbound traffic"}
        ]
    assert peers(egress["LoadBalancerSecurityGroup"]) == {
        (8000, "VPC"),
        (8001, "VPC"),
        (3000, "VPC"),
    }
    https = (443, "0.0.0.0/0")
    assert peers(egress["CoreSecurityGroup"]) == {https, (5432, "VPC"), (6379, "VPC")}
    assert peers(egress["WorkerSecurityGroup"]) == {https, (5432, "VPC"), (6379, "VPC")}
    core, nfs = (8000, "VPC"), (2049, "VPC")
    assert peers(egress["AiSecurityGroup"]) == {https, (6379, "VPC"), core, nfs}
    assert peers(egress["AiWorkerSecurityGroup"]) == {https, (6379, "VPC"), core, nfs}
    assert peers(egress["RealtimeSecurityGroup"]) == {https, (6379, "VPC"), core}
    # Each worker service in its no-inbound group.
    for service, (_, group) in WORKER_SERVICES.items():
        network = props(resources, service)["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["SecurityGroups"] == [ref(group)], service


# --- C41, C53: Aurora ----------------------------------------------------------------------


def test_c41_aurora_is_encrypted_with_7_day_backups_and_a_managed_password(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    cluster = resources["AuroraCluster"]
    p = cluster["Properties"]
    assert p["Engine"] == "aurora-postgresql"
    assert p["EngineVersion"] == ref("AuroraEngineVersion")
    assert str(template["Parameters"]["AuroraEngineVersion"]["Default"]).split(".")[0] == "15"
    assert props(resources, "DatabaseClusterParameterGroup")["Family"] == "aurora-postgresql15"
    assert p["DatabaseName"] == "helpdesk"
    assert p["StorageEncrypted"] is True
    assert p["KmsKeyId"] == ref("PlatformKey")
    assert p["BackupRetentionPeriod"] == 7
    # The master password: generated and kept (and rotated) by RDS in Secrets Manager.
    assert p["ManageMasterUserPassword"] is True
    assert "MasterUserPassword" not in p
    assert p["DeletionProtection"] is True
    assert cluster["DeletionPolicy"] == "Snapshot"
    assert cluster["UpdateReplacePolicy"] == "Snapshot"
    # TLS only, whatever the client asks for.
    assert props(resources, "DatabaseClusterParameterGroup")["Parameters"]["rds.force_ssl"] == "1"
    # Two instances, one per zone, private.
    instances = of_type(resources, "AWS::RDS::DBInstance")
    assert len(instances) == 2
    zones = set()
    for name in instances:
        ip = props(resources, name)
        assert ip["DBClusterIdentifier"] == ref("AuroraCluster")
        assert ip["PubliclyAccessible"] is False
        zones.add(ip["AvailabilityZone"]["Fn::Select"][0])
    assert zones == {0, 1}
    # The services' DATABASE_URL: their own role, TLS required.
    url = sub_text(props(resources, "DatabaseUrlSecret")["SecretString"])
    assert url.startswith(
        "postgres://helpdesk_app:{{resolve:secretsmanager:${DatabaseAppPasswordSecret}}}@"
    )
    assert url.endswith("/helpdesk?sslmode=require")


def test_c53_aurora_backups_and_a_documented_point_in_time_restore(
    resources: dict[str, dict[str, Any]],
) -> None:
    p = props(resources, "AuroraCluster")
    assert p["BackupRetentionPeriod"] == 7
    assert re.fullmatch(r"\d\d:\d\d-\d\d:\d\d", p["PreferredBackupWindow"])
    # The key that encrypts the backups and the final snapshot outlives the stack.
    assert resources["PlatformKey"]["DeletionPolicy"] == "Retain"
    readme = README.read_text()
    for step in (
        "aws rds restore-db-cluster-to-point-in-time",
        "--restore-to-time",
        "aws rds create-db-instance",
        "aws rds wait db-instance-available",
        "put-secret-value",
        "--force-new-deployment",
    ):
        assert step in readme, f"the restore runbook lacks {step}"


# --- C42: Redis ------------------------------------------------------------------------------


def test_c42_redis_7_has_two_nodes_failover_tls_encryption_and_an_auth_token(
    resources: dict[str, dict[str, Any]],
) -> None:
    p = props(resources, "Redis")
    assert resources["Redis"]["Type"] == "AWS::ElastiCache::ReplicationGroup"
    assert p["Engine"] == "redis"
    assert str(p["EngineVersion"]).split(".")[0] == "7"
    assert p["NumCacheClusters"] == 2
    assert p["AutomaticFailoverEnabled"] is True
    assert p["MultiAZEnabled"] is True
    assert p["TransitEncryptionEnabled"] is True
    assert p["AtRestEncryptionEnabled"] is True
    assert sub_text(p["AuthToken"]) == "{{resolve:secretsmanager:${RedisAuthTokenSecret}}}"
    generated = props(resources, "RedisAuthTokenSecret")["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert generated["ExcludePunctuation"] is True  # AUTH forbids some characters; URLs others
    url = sub_text(props(resources, "RedisUrlSecret")["SecretString"])
    assert url.startswith("rediss://:{{resolve:secretsmanager:${RedisAuthTokenSecret}}}@")
    assert url.endswith(":${Redis.PrimaryEndPoint.Port}/0")


def test_c41_c42_secrets_are_generated_in_secrets_manager_and_injected_as_secrets(
    resources: dict[str, dict[str, Any]],
) -> None:
    secrets_ = of_type(resources, "AWS::SecretsManager::Secret")
    for name in secrets_:
        p = props(resources, name)
        assert p["KmsKeyId"] == ref("PlatformKey"), name
        if "SecretString" in p:  # derived from generated values, never a literal
            assert "{{resolve:secretsmanager:" in sub_text(p["SecretString"]), name
        else:
            assert p["GenerateSecretString"]["PasswordLength"] >= 48, name
    for task_definition, wanted in SECRET_VARS.items():
        c = container(resources, task_definition)
        injected = {s["Name"] for s in c["Secrets"]}
        assert injected == wanted, task_definition
        plain = {e["Name"] for e in c.get("Environment", []) if isinstance(e, dict) and "Name" in e}
        assert not plain & injected, task_definition
        assert PLAIN_VARS[task_definition] <= plain, task_definition
        for variable in plain - {"CORE_URL"}:  # an address, not a credential
            assert not re.search("SECRET|PASSWORD|TOKEN|_URL$", variable), variable
    assert container(resources, "CoreTaskDefinition")["Environment"][0] == {
        "Name": "ENVIRONMENT",
        "Value": "production",
    }


# --- C43, C49, C50: ECS Fargate ---------------------------------------------------------------


def test_c43_one_fargate_service_per_platform_service_with_a_circuit_breaker(
    resources: dict[str, dict[str, Any]],
) -> None:
    assert set(of_type(resources, "AWS::ECS::Service")) == set(SERVICES)
    for service, (task_definition, port) in SERVICES.items():
        p = props(resources, service)
        assert p["LaunchType"] == "FARGATE"
        assert p["Cluster"] == ref("Cluster")
        assert p["TaskDefinition"] == ref(task_definition)
        breaker = p["DeploymentConfiguration"]["DeploymentCircuitBreaker"]
        assert breaker == {"Enable": True, "Rollback": True}, service
        td = props(resources, task_definition)
        assert td["RequiresCompatibilities"] == ["FARGATE"]
        assert td["NetworkMode"] == "awsvpc"
        c = container(resources, task_definition)
        if port is None:
            assert "LoadBalancers" not in p
            assert "PortMappings" not in c
        else:
            assert [m["ContainerPort"] for m in c["PortMappings"]] == [port]
            (balanced,) = p["LoadBalancers"]
            assert balanced["ContainerPort"] == port
            assert balanced["ContainerName"] == c["Name"]
            assert p["HealthCheckGracePeriodSeconds"] >= 30
    for task_definition, command in WORKER_COMMANDS.items():
        assert container(resources, task_definition)["Command"] == command, task_definition
    migrate = container(resources, "MigrationTaskDefinition")["Command"]
    assert migrate[:2] == ["python", "-c"]
    assert 'os.execvp("python", ["python", "manage.py", "migrate", "--noinput"])' in migrate[2]
    assert "aws ecs run-task" in README.read_text()


def test_c49_web_services_run_at_least_two_tasks_across_both_zones(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    for service in SERVICES:
        p = props(resources, service)
        network = p["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["Subnets"] == [ref("PrivateSubnetA"), ref("PrivateSubnetB")]
        assert network["AssignPublicIp"] == "DISABLED"
        assert p["AvailabilityZoneRebalancing"] == "ENABLED"
        # Rolling deploys: the old tasks serve until the new ones are healthy.
        assert p["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
        assert p["DeploymentConfiguration"]["MaximumPercent"] == 200
    for service in WEB_SERVICES:
        count = props(resources, service)["DesiredCount"]["Ref"]
        parameter = template["Parameters"][count]
        assert parameter["Default"] >= 2, count
        assert parameter["MinValue"] >= 2, count
    # The workers: two by default (several are safe for each), one at least.
    for service, (count, _) in WORKER_SERVICES.items():
        assert props(resources, service)["DesiredCount"] == ref(count), service
        assert template["Parameters"][count]["Default"] >= 2, count
        assert template["Parameters"][count]["MinValue"] >= 1, count


def test_c50_every_task_has_2_vcpu_and_4_gb(resources: dict[str, dict[str, Any]]) -> None:
    task_definitions = of_type(resources, "AWS::ECS::TaskDefinition")
    assert set(task_definitions) == set(IMAGE_TAG_OF)
    for name in task_definitions:
        assert props(resources, name)["Cpu"] == "2048", name
        assert props(resources, name)["Memory"] == "4096", name


# --- C24: logs ----------------------------------------------------------------------------


def test_c24_every_container_logs_to_its_own_cloudwatch_log_group_with_retention(
    resources: dict[str, dict[str, Any]],
) -> None:
    groups = set()
    for task_definition in IMAGE_TAG_OF:
        logging = container(resources, task_definition)["LogConfiguration"]
        assert logging["LogDriver"] == "awslogs"
        group = logging["Options"]["awslogs-group"]["Ref"]
        groups.add(group)
        p = props(resources, group)
        assert resources[group]["Type"] == "AWS::Logs::LogGroup"
        assert p["RetentionInDays"] == ref("LogRetentionDays")
        assert p["KmsKeyId"] == getatt("PlatformKey", "Arn")
    assert len(groups) == len(IMAGE_TAG_OF)


# --- C44, C27, C11: load balancer, DNS ---------------------------------------------------------


def test_c44_the_load_balancer_terminates_tls_1_2_and_1_3_and_redirects_http(
    resources: dict[str, dict[str, Any]],
) -> None:
    lb = props(resources, "LoadBalancer")
    assert lb["Type"] == "application"
    assert lb["Scheme"] == "internet-facing"
    assert lb["Subnets"] == [ref("PublicSubnetA"), ref("PublicSubnetB")]
    attributes = {a["Key"]: a["Value"] for a in lb["LoadBalancerAttributes"]}
    assert 30 <= int(attributes["idle_timeout.timeout_seconds"]) <= 4000
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"

    https = props(resources, "HttpsListener")
    assert (https["Port"], https["Protocol"]) == (443, "HTTPS")
    assert https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    (certificate,) = https["Certificates"]
    assert certificate["CertificateArn"] == {
        "Fn::If": ["CreateCertificate", ref("Certificate"), ref("CertificateArn")]
    }
    http = props(resources, "HttpListener")
    (redirect,) = http["DefaultActions"]
    assert (http["Port"], redirect["Type"]) == (80, "redirect")
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"

    routes = {}
    for name in of_type(resources, "AWS::ElasticLoadBalancingV2::ListenerRule"):
        p = props(resources, name)
        assert p["ListenerArn"] == ref("HttpsListener")
        (condition,) = p["Conditions"]
        (action,) = p["Actions"]
        for path in condition["PathPatternConfig"]["Values"]:
            if action["Type"] == "forward":
                routes[path] = action["TargetGroupArn"]["Ref"]
            else:
                routes[path] = action["FixedResponseConfig"]["StatusCode"]
    # core's internal endpoints are for the services only: answered 404 ahead of core's /api/*
    # rule (the lowest priority number is matched first).
    assert routes["/api/v1/internal/*"] == "404"
    priority = {
        name: props(resources, name)["Priority"]
        for name in ("InternalApiListenerRule", "CoreListenerRule")
    }
    assert priority["InternalApiListenerRule"] < priority["CoreListenerRule"]
    for path in ("/api/*", "/admin/*", "/app/*"):
        assert routes[path] == "CoreTargetGroup", path
    assert routes["/ai/*"] == "AiTargetGroup"
    assert routes["/socket.io/*"] == "RealtimeTargetGroup"
    # Nothing else is public: the services' /metrics included.
    (fallback,) = https["DefaultActions"]
    assert fallback["Type"] == "fixed-response"
    assert fallback["FixedResponseConfig"]["StatusCode"] == "404"
    # Socket.IO's long-polling requests must reach the node that holds their session.
    realtime = {
        a["Key"]: a["Value"]
        for a in props(resources, "RealtimeTargetGroup")["TargetGroupAttributes"]
    }
    assert realtime["stickiness.enabled"] == "true"
    assert realtime["stickiness.type"] == "lb_cookie"


def test_c27_load_balancer_health_checks_probe_the_cheap_liveness_endpoint(
    resources: dict[str, dict[str, Any]],
) -> None:
    target_groups = of_type(resources, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert set(target_groups) == {"CoreTargetGroup", "AiTargetGroup", "RealtimeTargetGroup"}
    ports = {"CoreTargetGroup": 8000, "AiTargetGroup": 8001, "RealtimeTargetGroup": 3000}
    for name in target_groups:
        p = props(resources, name)
        assert p["TargetType"] == "ip"
        assert p["Port"] == ports[name]
        assert p["HealthCheckPath"] == "/health/live", name
        assert p["Matcher"] == {"HttpCode": "200"}
        assert p["HealthCheckTimeoutSeconds"] < p["HealthCheckIntervalSeconds"]
    # The containers' own health checks probe the same endpoint.
    for task_definition in ("CoreTaskDefinition", "AiTaskDefinition", "RealtimeTaskDefinition"):
        command = container(resources, task_definition)["HealthCheck"]["Command"]
        assert command[:3] == ["CMD", "python", "-c"]
        assert "/health/live" in sub_text(command[3])


def test_c11_the_domain_has_a_certificate_and_an_alias_to_the_load_balancer(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    certificate = resources["Certificate"]
    assert certificate["Condition"] == "CreateCertificate"
    assert certificate["Properties"]["DomainName"] == ref("DomainName")
    assert certificate["Properties"]["ValidationMethod"] == "DNS"
    records = of_type(resources, "AWS::Route53::RecordSet")
    # Exactly one of the two exists: in HostedZoneId when given, else in the zone named DomainName.
    assert {r["Condition"] for r in records.values()} == {"HasHostedZoneId", "NoHostedZoneId"}
    conditions = template["Conditions"]
    assert conditions["NoHostedZoneId"] == {"Fn::Equals": [ref("HostedZoneId"), ""]}
    assert conditions["HasHostedZoneId"] == {"Fn::Not": [conditions["NoHostedZoneId"]]}
    for name in records:
        p = props(resources, name)
        assert p["Name"] == ref("DomainName")
        assert p["Type"] == "A"
        assert p["AliasTarget"]["DNSName"] == getatt("LoadBalancer", "DNSName")
        assert p["AliasTarget"]["HostedZoneId"] == getatt("LoadBalancer", "CanonicalHostedZoneID")
    assert template["Outputs"]["Url"]["Value"] == {"Fn::Sub": "https://${DomainName}"}


# --- C15-C17: CDN and buckets -----------------------------------------------------------------


def test_c15_static_files_come_from_cloudfront_reading_a_private_bucket(
    resources: dict[str, dict[str, Any]],
) -> None:
    config = props(resources, "StaticDistribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == getatt("StaticBucket", "RegionalDomainName")
    assert origin["OriginAccessControlId"] == getatt("StaticOriginAccessControl", "Id")
    assert (
        props(resources, "StaticOriginAccessControl")["OriginAccessControlConfig"][
            "SigningBehavior"
        ]
        == "always"
    )
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["DefaultCacheBehavior"]["Compress"] is True
    (allow, _tls) = props(resources, "StaticBucketPolicy")["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert "AWS:SourceArn" in allow["Condition"]["StringEquals"]


@pytest.mark.parametrize("bucket", ["StaticBucket", "MediaBucket", "LogsBucket"])
def test_c16_c17_buckets_are_private_encrypted_versioned_and_tls_only(
    resources: dict[str, dict[str, Any]], bucket: str
) -> None:
    p = props(resources, bucket)
    assert p["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    policy = next(
        props(resources, name)["PolicyDocument"]
        for name in of_type(resources, "AWS::S3::BucketPolicy")
        if props(resources, name)["Bucket"] == ref(bucket)
    )
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in policy["Statement"]
    )


def test_c17_media_is_private_data_never_served_by_the_cdn(
    resources: dict[str, dict[str, Any]],
) -> None:
    distribution = json.dumps(props(resources, "StaticDistribution"))
    assert "MediaBucket" not in distribution
    media = props(resources, "MediaBucket")["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert media[0]["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == ref("PlatformKey")
    # Only the core may touch it.
    for role in of_type(resources, "AWS::IAM::Role"):
        if "MediaBucket" in json.dumps(resources[role]):
            assert role == "CoreTaskRole", role


def test_c17_attachments_go_to_the_media_bucket_under_media(
    resources: dict[str, dict[str, Any]],
) -> None:
    """core stores attachments with django-storages under `media/` (its settings' location):
    the bucket is named to core, and core's role may read, write and delete there only."""
    environment = env_of(container(resources, "CoreTaskDefinition"))
    assert environment["DJANGO_MEDIA_S3_BUCKET"] == ref("MediaBucket")
    settings = (ROOT / "services/core-django/config/settings.py").read_text()
    assert re.search(r'"location":\s*"media"', settings), "core's S3 location moved"
    statements = props(resources, "CoreTaskRole")["Policies"][0]["PolicyDocument"]["Statement"]
    objects = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert sorted(objects["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["Resource"] == {"Fn::Sub": "${MediaBucket.Arn}/media/*"}
    for task_definition in set(IMAGE_TAG_OF) - {"CoreTaskDefinition"}:
        assert "DJANGO_MEDIA_S3_BUCKET" not in env_of(container(resources, task_definition))


# --- The service credential and the internal address of core ----------------------------------


def env_of(definition: dict[str, Any]) -> dict[str, Any]:
    """A container's plain environment, name -> value as written (a !If for Sentry left out)."""
    return {e["Name"]: e["Value"] for e in definition.get("Environment", []) if "Name" in e}


def test_the_service_credential_is_generated_and_given_to_core_and_its_callers(
    resources: dict[str, dict[str, Any]],
) -> None:
    generated = props(resources, "ServiceTokenSecret")["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32  # core refuses a shorter one
    assert generated["ExcludePunctuation"] is True  # it travels in an Authorization header
    holders = {
        task_definition
        for task_definition in IMAGE_TAG_OF
        for secret in container(resources, task_definition)["Secrets"]
        if secret["Name"] == "HELPDESK_SERVICE_TOKEN"
    }
    assert holders == {"CoreTaskDefinition", *CORE_CALLERS}
    for task_definition in holders:
        (secret,) = [
            s
            for s in container(resources, task_definition)["Secrets"]
            if s["Name"] == "HELPDESK_SERVICE_TOKEN"
        ]
        assert secret["ValueFrom"] == ref("ServiceTokenSecret"), task_definition
    readable = props(resources, "TaskExecutionRole")["Policies"][0]["PolicyDocument"]
    assert ref("ServiceTokenSecret") in readable["Statement"][0]["Resource"]


def test_ai_and_realtime_reach_core_by_its_internal_name(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    """CORE_URL is core.<stack>.internal: a private DNS namespace of the VPC whose `core`
    records ECS keeps to the core service's healthy tasks."""
    namespace = props(resources, "ServiceDiscoveryNamespace")
    assert resources["ServiceDiscoveryNamespace"]["Type"] == (
        "AWS::ServiceDiscovery::PrivateDnsNamespace"
    )
    assert namespace == {**namespace, "Name": {"Fn::Sub": "${AWS::StackName}.internal"}}
    assert namespace["Vpc"] == ref("Vpc")
    discovery = props(resources, "CoreDiscoveryService")
    assert discovery["Name"] == "core"
    assert discovery["NamespaceId"] == ref("ServiceDiscoveryNamespace")
    assert discovery["DnsConfig"]["DnsRecords"] == [{"Type": "A", "TTL": 10}]
    assert "HealthCheckCustomConfig" in discovery  # ECS reports the tasks' health
    assert props(resources, "CoreService")["ServiceRegistries"] == [
        {"RegistryArn": getatt("CoreDiscoveryService", "Arn")}
    ]
    for task_definition in CORE_CALLERS:
        url = env_of(container(resources, task_definition))["CORE_URL"]
        assert url == {"Fn::Sub": CORE_INTERNAL_URL}, task_definition
    core = env_of(container(resources, "CoreTaskDefinition"))
    hosts = sub_text(core["DJANGO_ALLOWED_HOSTS"]).split(",")
    assert hosts == ["${DomainName}", "core.${AWS::StackName}.internal"]
    # core's HTTPS redirect stays on (its production default); it spares /api/v1/internal/.
    assert "DJANGO_SECURE_SSL_REDIRECT" not in core
    assert template["Outputs"]["CoreInternalUrl"]["Value"] == {"Fn::Sub": CORE_INTERNAL_URL}


def _resolve(value: Any, values: dict[str, str]) -> str:
    """A container environment value as CloudFormation would make it, for ``values``."""
    if isinstance(value, str | int | float):
        return str(value)
    if "Ref" in value:
        return values[value["Ref"]]
    text = sub_text(value)
    return re.sub(r"\$\{([A-Za-z0-9:.]+)\}", lambda m: values[m.group(1)], text)


def _vpc_cidr(template: dict[str, Any]) -> str:
    return str(template["Parameters"]["VpcCidr"]["Default"])


def _public_subnets(vpc_cidr: str) -> list[str]:
    """The public subnets' ranges for ``vpc_cidr``: the first two of four equal parts, as
    test_the_trusted_proxies_are_the_load_balancers_subnets checks the template cuts them."""
    return [str(s) for s in ipaddress.ip_network(vpc_cidr).subnets(prefixlen_diff=2)][:2]


def deployed_core_env(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """The core container's environment as ECS gives it, for the parameters' defaults and
    DomainName=helpdesk.example.com, its secrets filled with fresh random values."""
    values = {
        name: str(parameter.get("Default", ""))
        for name, parameter in template["Parameters"].items()
    }
    subnet_a, subnet_b = _public_subnets(values["VpcCidr"])
    values.update(
        {
            "DomainName": "helpdesk.example.com",
            "AWS::StackName": "helpdesk-platform",
            "AWS::Region": "eu-west-1",
            "MediaBucket": "helpdesk-platform-mediabucket-abc",
            "PublicSubnetA.CidrBlock": subnet_a,
            "PublicSubnetB.CidrBlock": subnet_b,
        }
    )
    core = {
        name: _resolve(value, values)
        for name, value in env_of(container(resources, "CoreTaskDefinition")).items()
    }
    core.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(48),
        REALTIME_TOKEN_SECRET=secrets.token_urlsafe(48),
        HELPDESK_SERVICE_TOKEN=secrets.token_urlsafe(48),
        DATABASE_URL="postgres://helpdesk_app:x@db.internal:5432/helpdesk?sslmode=require",
        REDIS_URL="rediss://:x@redis.internal:6379/0",
    )
    return core


def test_core_as_deployed_answers_its_callers_at_core_url(
    template: dict[str, Any], resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """core's production settings with the task definition's environment, asked the way ai and
    realtime ask it at their CORE_URL (plain HTTP, the internal name): answered by the endpoint
    (no DisallowedHost, and no redirect although core's HTTPS redirect is on), with the
    credential checked."""
    core = deployed_core_env(template, resources)
    token = core["HELPDESK_SERVICE_TOKEN"]
    values = {"AWS::StackName": "helpdesk-platform"}
    for caller in CORE_CALLERS:
        core_url = _resolve(env_of(container(resources, caller))["CORE_URL"], values)
        assert core_url == "http://core.helpdesk-platform.internal:8000"
    answers = core_internal_calls(core, core_url, token, tmp_path)
    assert {tuple(a) for a in answers.values()} == {(400, "validation_error", None)}, answers
    wrong = core_internal_calls(core, core_url, secrets.token_urlsafe(48), tmp_path)
    assert {a[0] for a in wrong.values()} == {401}
    # Anything else over plain HTTP is sent to HTTPS (seed C30; the ALB redirects port 80 too).
    (public,) = core_answers(core, core_url, token, ["/api/v1/me"], tmp_path).values()
    assert public == [301, None, "https://core.helpdesk-platform.internal:8000/api/v1/me"]


def test_c30_to_c37_core_as_deployed_passes_check_deploy_without_warnings(
    template: dict[str, Any], resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """`manage.py check --deploy` with the core task's environment: HTTPS redirect, HSTS,
    secure cookies and the rest hold as deployed, not only at core's defaults."""
    core_check_deploy(deployed_core_env(template, resources), tmp_path)


def test_the_trusted_proxies_are_the_load_balancers_subnets(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    """core believes a forwarded client address only from the ALB's nodes, which live in the
    two public subnets (alone there with the NAT gateways, which never connect to core), and
    the ALB appends the client's address to X-Forwarded-For."""
    environment = env_of(container(resources, "CoreTaskDefinition"))
    assert environment["RATE_LIMIT_TRUSTED_PROXIES"] == {
        "Fn::Sub": "${PublicSubnetA.CidrBlock},${PublicSubnetB.CidrBlock}"
    }
    assert props(resources, "LoadBalancer")["Subnets"] == [
        ref("PublicSubnetA"),
        ref("PublicSubnetB"),
    ]
    attributes = {
        a["Key"]: a["Value"] for a in props(resources, "LoadBalancer")["LoadBalancerAttributes"]
    }
    assert attributes["routing.http.xff_header_processing.mode"] == "append"
    # The subnets are cut as _public_subnets assumes: four equal parts, the public ones first.
    for index, name in enumerate(("PublicSubnetA", "PublicSubnetB")):
        assert props(resources, name)["CidrBlock"] == {
            "Fn::Select": [index, {"Fn::Cidr": [ref("VpcCidr"), 4, ref("AWS::NoValue")]}]
        }
    # Only core reads it; the per-address limits are core's own defaults (the seed's).
    for task_definition in set(IMAGE_TAG_OF) - {"CoreTaskDefinition"}:
        names = env_of(container(resources, task_definition))
        assert "RATE_LIMIT_TRUSTED_PROXIES" not in names, task_definition
    for task_definition in IMAGE_TAG_OF:
        names = env_of(container(resources, task_definition))
        assert not {"API_IP_RATE_LIMIT", "LOGIN_RATE_LIMIT"} & set(names), task_definition
    assert "CoreLoginRateLimit" not in template["Parameters"]


def test_c38_core_counts_each_client_behind_the_load_balancer(
    template: dict[str, Any], resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """With the core task's environment: a request the ALB forwards (from a node in a public
    subnet) is counted under the address the ALB appended, whatever a client wrote before it;
    a request from anywhere else (ai, realtime in the private subnets) under its own address;
    at core's default limits."""
    core = deployed_core_env(template, resources)
    node_a, node_b = (
        str(ipaddress.ip_network(s)[10]) for s in _public_subnets(_vpc_cidr(template))
    )
    private = str(ipaddress.ip_network(_vpc_cidr(template))[-20])  # in PrivateSubnetB
    answer = core_rate_limiting(
        core,
        [
            (node_a, {"X-Forwarded-For": "198.51.100.7"}),
            (node_b, {"X-Forwarded-For": "1.2.3.4, 198.51.100.7"}),  # a client's own entry first
            (node_b, {"X-Forwarded-For": f"198.51.100.8, {node_a}"}),  # a trusted hop is skipped
            (private, {"X-Forwarded-For": "203.0.113.9"}),
        ],
        tmp_path,
    )
    assert answer["clients"] == ["198.51.100.7", "198.51.100.7", "198.51.100.8", private]
    defaults = core_example_values()
    assert answer["API_IP_RATE_LIMIT"] == defaults["API_IP_RATE_LIMIT"] == "2400/minute"
    assert answer["LOGIN_RATE_LIMIT"] == defaults["LOGIN_RATE_LIMIT"] == "5/minute"
    assert answer["RATE_LIMITS_ENABLED"] is True


def test_c38_waf_refuses_a_client_set_x_real_ip(
    template: dict[str, Any], resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """core prefers X-Real-IP to X-Forwarded-For from a trusted peer, and the ALB passes a
    client's X-Real-IP on unchanged: WAF refuses such a request (400, the platform's error
    shape), so a client cannot pick the address core counts it under."""
    acl = props(resources, "WebAcl")
    (rule,) = [r for r in acl["Rules"] if r["Name"] == "client-set-x-real-ip"]
    assert rule["Statement"] == {
        "SizeConstraintStatement": {
            "FieldToMatch": {"SingleHeader": {"Name": "x-real-ip"}},
            "ComparisonOperator": "GT",
            "Size": 0,
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    }
    block = rule["Action"]["Block"]["CustomResponse"]
    assert block["ResponseCode"] == 400
    body = json.loads(acl["CustomResponseBodies"][block["CustomResponseBodyKey"]]["Content"])
    assert set(body) == {"code", "message", "details", "request_id"}
    assert body["code"] == "bad_request"
    # What the rule prevents: from the balancer, core would count the client as it says.
    node = str(ipaddress.ip_network(_public_subnets(_vpc_cidr(template))[0])[10])
    spoofed = core_rate_limiting(
        deployed_core_env(template, resources),
        [(node, {"X-Real-IP": "203.0.113.1", "X-Forwarded-For": "203.0.113.1, 198.51.100.7"})],
        tmp_path,
    )
    assert spoofed["clients"] == ["203.0.113.1"]


# --- The ai models on EFS ----------------------------------------------------------------------


def test_ai_and_its_worker_share_the_model_files_on_encrypted_efs(
    resources: dict[str, dict[str, Any]],
) -> None:
    fs = resources["ModelFileSystem"]
    assert fs["Type"] == "AWS::EFS::FileSystem"
    assert fs["Properties"]["Encrypted"] is True
    assert fs["Properties"]["KmsKeyId"] == ref("PlatformKey")
    assert fs["Properties"]["BackupPolicy"] == {"Status": "ENABLED"}
    assert fs["DeletionPolicy"] == "Retain"
    (deny,) = fs["Properties"]["FileSystemPolicy"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # A mount target in each private subnet, behind the NFS-from-ai-only group.
    targets = of_type(resources, "AWS::EFS::MountTarget")
    assert {props(resources, name)["SubnetId"]["Ref"] for name in targets} == {
        "PrivateSubnetA",
        "PrivateSubnetB",
    }
    for name in targets:
        assert props(resources, name)["FileSystemId"] == ref("ModelFileSystem")
        assert props(resources, name)["SecurityGroups"] == [ref("ModelFileSystemSecurityGroup")]
    # The access point: every client is the images' user (uid/gid 10001) in /ai-models.
    access = props(resources, "ModelAccessPoint")
    assert access["PosixUser"] == {"Uid": "10001", "Gid": "10001"}
    assert access["RootDirectory"]["CreationInfo"]["OwnerUid"] == "10001"
    assert re.search(r"^USER 10001:10001$", PYTHON_IMAGES["ai"][0].read_text(), re.M)
    # Both ai task definitions: the same volume, TLS and IAM, at the same path, AI_MODEL_DIR.
    for task_definition in ("AiTaskDefinition", "AiWorkerTaskDefinition"):
        td = props(resources, task_definition)
        (volume,) = td["Volumes"]
        assert volume["EFSVolumeConfiguration"] == {
            "FilesystemId": ref("ModelFileSystem"),
            "TransitEncryption": "ENABLED",
            "AuthorizationConfig": {"AccessPointId": ref("ModelAccessPoint"), "IAM": "ENABLED"},
        }
        c = container(resources, task_definition)
        assert c["MountPoints"] == [
            {"SourceVolume": volume["Name"], "ContainerPath": AI_MODEL_DIR, "ReadOnly": False}
        ]
        assert env_of(c)["AI_MODEL_DIR"] == AI_MODEL_DIR
        assert td["TaskRoleArn"] == getatt("AiTaskRole", "Arn")
    # The role mounts it read-write, through the access point only.
    (statement,) = props(resources, "AiTaskRole")["Policies"][0]["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == [
        "elasticfilesystem:ClientMount",
        "elasticfilesystem:ClientWrite",
    ]
    assert statement["Resource"] == getatt("ModelFileSystem", "Arn")
    assert statement["Condition"] == {
        "StringEquals": {"elasticfilesystem:AccessPointArn": getatt("ModelAccessPoint", "Arn")}
    }
    # The services start once the mount targets exist.
    for service in ("AiService", "AiWorkerService"):
        assert {"ModelMountTargetA", "ModelMountTargetB"} <= set(resources[service]["DependsOn"])


# --- C28, C29: alarms ----------------------------------------------------------------------


def test_c28_alarms_notify_an_sns_topic_with_an_email_subscription(
    resources: dict[str, dict[str, Any]],
) -> None:
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": ref("AlarmTopic"),
        "Protocol": "email",
        "Endpoint": ref("AlarmEmail"),
    }
    assert props(resources, "AlarmTopic")["KmsMasterKeyId"] == ref("PlatformKey")
    alarms = of_type(resources, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 12
    for name in alarms:
        assert props(resources, name)["AlarmActions"] == [ref("AlarmTopic")], name
        assert props(resources, name)["OKActions"] == [ref("AlarmTopic")], name
    readme = README.read_text()
    for name in alarms:
        assert name in readme, f"deploy/README.md must say what {name} means"


def _window(p: dict[str, Any]) -> int:
    """Seconds an alarm's condition must hold (every datapoint breaching)."""
    period = p.get("Period") or p["Metrics"][1]["MetricStat"]["Period"]
    assert p["DatapointsToAlarm"] == p["EvaluationPeriods"]
    return int(period) * int(p["EvaluationPeriods"])


def test_c29_alarm_thresholds_are_the_seeds(resources: dict[str, dict[str, Any]]) -> None:
    # 5xx error rate > 5 % for 5 minutes.
    errors = props(resources, "Http5xxRateAlarm")
    (expression,) = [m for m in errors["Metrics"] if m.get("ReturnData")]
    assert "elb5xx" in expression["Expression"]
    assert "target5xx" in expression["Expression"]
    assert "/ requests" in expression["Expression"]
    assert (errors["ComparisonOperator"], errors["Threshold"]) == ("GreaterThanThreshold", 5)
    assert _window(errors) == 300
    # p95 response time > 500 ms for 5 minutes (per target group: core and ai).
    for name in ("CoreLatencyAlarm", "AiLatencyAlarm"):
        p = props(resources, name)
        assert (p["MetricName"], p["ExtendedStatistic"]) == ("TargetResponseTime", "p95")
        assert (p["ComparisonOperator"], p["Threshold"]) == ("GreaterThanThreshold", 0.5)
        assert _window(p) == 300
    # CPU and memory > 90 % for 10 minutes, for every service.
    for service in SERVICES:
        prefix = service.removesuffix("Service")
        for metric in ("Cpu", "Memory"):
            p = props(resources, f"{prefix}{metric}Alarm")
            assert p["Namespace"] == "AWS/ECS"
            assert (
                p["MetricName"] == {"Cpu": "CPUUtilization", "Memory": "MemoryUtilization"}[metric]
            )
            assert {"Name": "ServiceName", "Value": getatt(service, "Name")} in p["Dimensions"]
            assert (p["ComparisonOperator"], p["Threshold"]) == ("GreaterThanThreshold", 90)
            assert _window(p) == 600


def test_c29_database_connections_alarm_at_90_percent_of_the_real_maximum(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    p = props(resources, "DatabaseConnectionsAlarm")
    assert (p["Namespace"], p["MetricName"]) == ("AWS/RDS", "DatabaseConnections")
    assert p["Dimensions"] == [{"Name": "DBClusterIdentifier", "Value": ref("AuroraCluster")}]
    assert p["Threshold"] == {
        "Fn::FindInMap": ["DatabaseConnections", ref("DatabaseInstanceClass"), "Alarm"]
    }
    maximum = props(resources, "DatabaseParameterGroup")["Parameters"]["max_connections"]
    assert maximum == {
        "Fn::FindInMap": ["DatabaseConnections", ref("DatabaseInstanceClass"), "Max"]
    }
    mapping = template["Mappings"]["DatabaseConnections"]
    assert set(mapping) == set(template["Parameters"]["DatabaseInstanceClass"]["AllowedValues"])
    for instance_class, limits in mapping.items():
        assert int(limits["Alarm"]) == int(limits["Max"]) * 9 // 10, instance_class


# --- C52 (with C41's intent): the migration task's bootstrap, against PostgreSQL -------------

FAKE_MANAGE_PY = """\
import os
import sys

import psycopg

assert sys.argv[1:] == ["migrate", "--noinput"], sys.argv
with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS deploy_probe (id integer)")
    (owner,) = conn.execute(
        "SELECT tableowner FROM pg_tables WHERE tablename = 'deploy_probe'"
    ).fetchone()
print("migrated as", owner)
"""


@pytest.fixture
def aurora_like_database() -> Iterator[dict[str, str]]:
    """A database owned by a non-superuser master with CREATEROLE, as Aurora's master is."""
    base = SERVER_URL.rsplit("/", 1)[0]
    try:
        admin = psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {base}: {exc}")
    suffix = secrets.token_hex(4)
    names = {
        "master": f"deploy_master_{suffix}",
        "app": f"deploy_app_{suffix}",
        "database": f"deploy_db_{suffix}",
        "master_password": secrets.token_urlsafe(16),
    }
    admin.execute(
        sql.SQL("CREATE ROLE {} WITH LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
            sql.Identifier(names["master"]), sql.Literal(names["master_password"])
        )
    )
    admin.execute(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(names["database"]), sql.Identifier(names["master"])
        )
    )
    try:
        yield names
    finally:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(names["database"])
            )
        )
        for role in (names["app"], names["master"]):
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.close()


def test_c52_migration_task_creates_the_app_role_then_migrates_as_it(
    resources: dict[str, dict[str, Any]], aurora_like_database: dict[str, str], tmp_path: Path
) -> None:
    script = container(resources, "MigrationTaskDefinition")["Command"][2]
    (tmp_path / "manage.py").write_text(FAKE_MANAGE_PY)
    names = aurora_like_database
    host_port = SERVER_URL.split("@", 1)[1].split("/", 1)[0]
    admin_url = SERVER_URL.rsplit("/", 1)[0] + "/postgres"

    def bootstrap(password: str) -> str:
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DATABASE_URL": f"postgres://{names['app']}:{password}@{host_port}/{names['database']}"
            "?sslmode=disable",
            "DB_MASTER_USERNAME": names["master"],
            "DB_MASTER_PASSWORD": names["master_password"],
        }
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"database role {names['app']} is ready; migrating" in done.stdout
        assert f"migrated as {names['app']}" in done.stdout  # the app role owns what it creates
        with psycopg.connect(admin_url, autocommit=True) as admin:
            row = admin.execute(
                "SELECT rolcanlogin, rolsuper, rolcreaterole, rolpassword FROM pg_authid"
                " WHERE rolname = %s",
                (names["app"],),
            ).fetchone()
        assert row is not None
        can_login, is_super, creates_roles, verifier = row
        assert (can_login, is_super, creates_roles) == (True, False, False)
        return str(verifier)

    first = bootstrap(secrets.token_urlsafe(24))
    assert first.startswith("SCRAM-SHA-256$")
    # Run again with a new password (the rotation runbook): the role is kept, its password set.
    second = bootstrap(secrets.token_urlsafe(24))
    assert second != first
