"""Create the template's tables, bucket, queues and SES sender in the local AWS, from template.yaml itself.

Nothing here lists resources by hand: each resource type the template uses is created from its
Properties, so a change to the template (a key, a GSI, a redrive policy) is what the tests exercise.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from syncjobs_local.cfn import Resolver, load_template

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "template.yaml"
STACK = "syncjobs-local"

LOCAL_PARAMETERS = {
    "SenderEmail": "syncjobs@example.com",
    "SourceBucketName": "syncjobs-local-source",
}


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module: str
    handler: str
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    timeout_s: float = 3.0  # Lambda's default Timeout
    memory_mb: int = 128
    event_invoke: dict[str, Any] = field(default_factory=dict)  # EventInvokeConfig, unresolved


@dataclass
class Provisioned:
    resolver: Resolver
    functions: dict[str, FunctionSpec] = field(default_factory=dict)

    def name(self, logical_id: str) -> str:
        return self.resolver.physical[logical_id]

    def attr(self, logical_id: str, attribute: str) -> str:
        return self.resolver.attributes[(logical_id, attribute)]

    @property
    def environment(self) -> dict[str, str]:
        """Every function's environment merged (they agree on every shared name)."""
        merged: dict[str, str] = {}
        for spec in self.functions.values():
            merged.update(spec.environment)
        return merged


def _parameters(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    values = {}
    for name, spec in template.get("Parameters", {}).items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise ValueError(f"template parameter {name} has no default and no local value")
    return values


def _physical_name(logical_id: str) -> str:
    return f"{STACK}-{logical_id}".lower()


def provision(
    template_path: Path = TEMPLATE,
    parameters: dict[str, str] | None = None,
    region: str = "us-east-1",
    known: dict[tuple[str, str], str] | None = None,
) -> Provisioned:
    """`known`: attributes the caller provides itself, e.g. the local function URLs."""
    template = load_template(template_path)
    resolver = Resolver(template, _parameters(template, {**LOCAL_PARAMETERS, **(parameters or {})}), region=region)
    resolver.attributes.update(known or {})
    resources = template["Resources"]
    out = Provisioned(resolver)
    ddb: Any = boto3.client("dynamodb")
    s3: Any = boto3.client("s3")
    sqs: Any = boto3.client("sqs")

    # Queues first without redrive (a redrive names another queue's ARN), then set redrive policies.
    queues = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    for logical_id in queues:
        url = sqs.create_queue(QueueName=_physical_name(logical_id))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        resolver.physical[logical_id] = url
        resolver.attributes[(logical_id, "Arn")] = arn
        resolver.attributes[(logical_id, "QueueName")] = _physical_name(logical_id)
        resolver.attributes[(logical_id, "QueueUrl")] = url
    for logical_id, resource in queues.items():
        props = resolver.resolve(resource.get("Properties", {}))
        attributes = {
            "VisibilityTimeout": props.get("VisibilityTimeout"),
            "MessageRetentionPeriod": props.get("MessageRetentionPeriod"),
            "RedrivePolicy": json.dumps(props["RedrivePolicy"]) if "RedrivePolicy" in props else None,
        }
        sqs.set_queue_attributes(
            QueueUrl=resolver.physical[logical_id],
            Attributes={k: str(v) for k, v in attributes.items() if v is not None},
        )

    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::DynamoDB::Table":
            _create_table(ddb, resolver, logical_id, resolver.resolve(resource.get("Properties", {})))
        elif resource["Type"] == "AWS::S3::Bucket":
            _create_bucket(s3, resolver, logical_id, resolver.resolve(resource.get("Properties", {})))
        elif resource["Type"] == "AWS::SecretsManager::Secret":
            arn = _create_secret(logical_id, resolver.resolve(resource.get("Properties", {})))
            resolver.physical[logical_id] = arn
        elif resource["Type"] == "AWS::Scheduler::ScheduleGroup":
            name = resolver.resolve(resource.get("Properties", {})).get("Name") or _physical_name(logical_id)
            boto3.client("scheduler").create_schedule_group(Name=name)
            resolver.physical[logical_id] = name
        elif resource["Type"] == "AWS::IAM::Role" and "Condition" not in resource:
            # not made in moto (the local IAM enforces the functions' roles itself): its name and ARN
            # only, for what names it (a schedule's target role)
            resolver.physical[logical_id] = _physical_name(logical_id)
            resolver.attributes[(logical_id, "Arn")] = (
                f"arn:aws:iam::{resolver.account}:role/{_physical_name(logical_id)}"
            )

    # AWS::S3::BucketPolicy is not applied locally: moto 5.2 evaluates a statement whose Condition
    # does not match as DENIED whatever its Effect, so the TLS-only Deny would refuse every request
    # (over HTTPS too). tests/unit/test_template.py checks the policy document instead.

    # The source bucket is the deployer's; locally we make it so the demo has somewhere to put exports.
    s3.create_bucket(Bucket=resolver.parameters["SourceBucketName"])
    boto3.client("sesv2").create_email_identity(EmailIdentity=resolver.parameters["SenderEmail"])

    globals_fn = template.get("Globals", {}).get("Function", {})
    globals_env = globals_fn.get("Environment", {}).get("Variables", {})
    functions = {k: r for k, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    for logical_id in functions:  # first every name, so an environment may refer to any function
        resolver.physical[logical_id] = _physical_name(logical_id)  # Ref of a function: its name
        resolver.attributes[(logical_id, "Arn")] = (
            f"arn:aws:lambda:{region}:{resolver.account}:function:{_physical_name(logical_id)}"
        )
    for logical_id, resource in functions.items():
        props = resource["Properties"]
        env = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
        module, handler = props["Handler"].rsplit(".", 1)
        out.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=(template_path.parent / props["CodeUri"]).resolve(),
            module=module,
            handler=handler,
            environment={k: str(v) for k, v in _resolve_env(resolver, env).items()},
            events=props.get("Events", {}),
            timeout_s=float(props.get("Timeout", globals_fn.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
            event_invoke=props.get("EventInvokeConfig", {}),
        )
        for event_name, event in props.get("Events", {}).items():
            if event.get("Type") == "Schedule":
                _create_schedule(logical_id, event_name, event["Properties"], resolver)
    return out


def _create_schedule(logical_id: str, event_name: str, props: dict[str, Any], resolver: Resolver) -> None:
    """A function's Schedule event, as SAM makes it: a rule (<stack>-<function><event>-<hash> there;
    its upper-case letters keep it apart from the job rules, syncjobs-<job id>) targeting the function."""
    events: Any = boto3.client("events")
    name = f"{logical_id}{event_name}"[:64]
    events.put_rule(Name=name, ScheduleExpression=props["Schedule"], State="ENABLED")
    target = {"Id": event_name, "Arn": resolver.attributes[(logical_id, "Arn")]}
    if "Input" in props:
        target["Input"] = props["Input"]
    events.put_targets(Rule=name, Targets=[target])


def _resolve_env(resolver: Resolver, env: dict[str, Any]) -> dict[str, Any]:
    resolved = {}
    for key, value in env.items():
        try:
            resolved[key] = resolver.resolve(value)
        except KeyError:
            # e.g. the admin API's URL: there is no API Gateway locally
            resolved[key] = ""
    return resolved


def _create_secret(logical_id: str, props: dict[str, Any]) -> str:
    """A generated secret, as CloudFormation makes one (Ref is its ARN)."""
    sm: Any = boto3.client("secretsmanager")
    generate = props.get("GenerateSecretString", {})
    value = secrets.token_urlsafe(int(generate.get("PasswordLength", 32)))[: int(generate.get("PasswordLength", 32))]
    name = _physical_name(logical_id)
    try:
        arn = sm.create_secret(Name=name, SecretString=value, Description=props.get("Description", ""))["ARN"]
    except sm.exceptions.ResourceExistsException:
        arn = sm.put_secret_value(SecretId=name, SecretString=value)["ARN"]
    return str(arn)


def _create_table(ddb: Any, resolver: Resolver, logical_id: str, props: dict[str, Any]) -> None:
    name = _physical_name(logical_id)
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if args["BillingMode"] == "PROVISIONED":
        args["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if "GlobalSecondaryIndexes" in props:
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if props.get("SSESpecification", {}).get("SSEEnabled"):
        args["SSESpecification"] = {"Enabled": True}
    table = ddb.create_table(**args)["TableDescription"]
    if "TimeToLiveSpecification" in props:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    resolver.physical[logical_id] = name
    resolver.attributes[(logical_id, "Arn")] = table["TableArn"]
    if "LatestStreamArn" in table:
        resolver.attributes[(logical_id, "StreamArn")] = table["LatestStreamArn"]


def _create_bucket(s3: Any, resolver: Resolver, logical_id: str, props: dict[str, Any]) -> None:
    name = _physical_name(logical_id)
    s3.create_bucket(Bucket=name)
    if "BucketEncryption" in props:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "LifecycleConfiguration" in props:
        rules = []
        for rule in props["LifecycleConfiguration"]["Rules"]:
            out: dict[str, Any] = {
                "ID": rule["Id"],
                "Status": rule["Status"],
                "Filter": {"Prefix": rule.get("Prefix", "")},
            }
            if "ExpirationInDays" in rule:
                out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
            if "AbortIncompleteMultipartUpload" in rule:
                out["AbortIncompleteMultipartUpload"] = {
                    "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
                }
            rules.append(out)
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    resolver.physical[logical_id] = name
    resolver.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
