"""The template's resource types moto's CloudFormation does not deploy, and the API call each
stands for (what CloudFormation's resource handler sends for it).

moto 5.2 deploys AWS::IAM::Role, AWS::Lambda::Function and ::Permission, AWS::Logs::LogGroup,
AWS::SQS::Queue, AWS::SNS::Topic, AWS::Events::Rule, AWS::S3::Bucket and Custom::* resources;
it skips the types below with a warning. The tests check each of them twice instead:
- its properties against AWS's resource schema (cfn-lint, tests/stack/test_template_lint.py);
- the equivalent create call against botocore's request shape for that operation
  (tests/stack/test_unsupported_types.py), and, on moto, by making that call after the
  stack deployed (`complete_on_moto`), so the rest of the tests see the whole project.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

Call = tuple[str, str, dict[str, Any]]  # service, operation, request


def _pipeline(p: Mapping[str, Any]) -> list[Call]:
    request = {k: v for k, v in p.items() if k != "PipelineDefinition"}
    request["PipelineDefinition"] = p["PipelineDefinition"]["PipelineDefinitionBody"]
    request["ClientRequestToken"] = str(uuid.uuid4())
    return [("sagemaker", "CreatePipeline", request)]


def _queue_policy(p: Mapping[str, Any]) -> list[Call]:
    policy = json.dumps(p["PolicyDocument"])
    return [
        ("sqs", "SetQueueAttributes", {"QueueUrl": url, "Attributes": {"Policy": policy}})
        for url in p["Queues"]
    ]


def _topic_policy(p: Mapping[str, Any]) -> list[Call]:
    policy = json.dumps(p["PolicyDocument"])
    return [
        (
            "sns",
            "SetTopicAttributes",
            {"TopicArn": arn, "AttributeName": "Policy", "AttributeValue": policy},
        )
        for arn in p["Topics"]
    ]


def _same(service: str, operation: str) -> Callable[[Mapping[str, Any]], list[Call]]:
    """Types whose properties are the create request, member for member."""
    return lambda p: [(service, operation, dict(p))]


EQUIVALENTS: dict[str, Callable[[Mapping[str, Any]], list[Call]]] = {
    "AWS::SageMaker::ModelPackageGroup": _same("sagemaker", "CreateModelPackageGroup"),
    "AWS::SageMaker::Pipeline": _pipeline,
    "AWS::Scheduler::ScheduleGroup": _same("scheduler", "CreateScheduleGroup"),
    "AWS::Scheduler::Schedule": _same("scheduler", "CreateSchedule"),
    "AWS::Pipes::Pipe": _same("pipes", "CreatePipe"),
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::SNS::Subscription": _same("sns", "Subscribe"),
    "AWS::CloudWatch::Alarm": _same("cloudwatch", "PutMetricAlarm"),
    "AWS::Lambda::EventInvokeConfig": _same("lambda", "PutFunctionEventInvokeConfig"),
}


def calls(template: Mapping[str, Any], resolve: Callable[[Any], Any]) -> list[tuple[str, Call]]:
    """(logical ID, call) for every resource moto does not deploy, properties resolved."""
    found = []
    for logical_id, resource in template["Resources"].items():
        equivalent = EQUIVALENTS.get(resource["Type"])
        if equivalent:
            for call in equivalent(resolve(resource["Properties"])):
                found.append((logical_id, call))
    return found


class PlaceholderResolver:
    """Intrinsic functions resolved offline with the values CloudFormation would give them
    in `account` and `region` (Ref and GetAtt of the template's own resource types)."""

    def __init__(self, template: Mapping[str, Any], account: str, region: str) -> None:
        self.resources = template["Resources"]
        self.pseudo = {
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::Partition": "aws",
            "AWS::StackName": "stack",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = {
            k: v.get("Default", k) for k, v in template.get("Parameters", {}).items()
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn", attribute
            return self.arn(logical_id)
        if set(value) == {"Fn::Sub"}:
            text = re.sub(r"\$\{([^}!]+)\}", lambda m: str(self.ref(m.group(1))), value["Fn::Sub"])
            # "${!Literal}" is Fn::Sub's escape for the literal text "${Literal}".
            return text.replace("${!", "${")
        return {key: self(item) for key, item in value.items()}

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources[name]
        kind, p = resource["Type"], resource["Properties"]
        account, region = self.pseudo["AWS::AccountId"], self.pseudo["AWS::Region"]
        return {
            "AWS::SQS::Queue": lambda: (
                f"https://sqs.{region}.amazonaws.com/{account}/{p['QueueName']}"
            ),
            "AWS::SNS::Topic": lambda: f"arn:aws:sns:{region}:{account}:{p['TopicName']}",
            "AWS::Lambda::Function": lambda: p["FunctionName"],
            "AWS::Logs::LogGroup": lambda: p["LogGroupName"],
            "AWS::IAM::Role": lambda: p["RoleName"],
            "AWS::SageMaker::ModelPackageGroup": lambda: (
                f"arn:aws:sagemaker:{region}:{account}:model-package-group/{p['ModelPackageGroupName']}"
            ),
            "AWS::StepFunctions::StateMachine": lambda: self.arn(name),
        }[kind]()

    def arn(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        kind, p = resource["Type"], resource["Properties"]
        account, region = self.pseudo["AWS::AccountId"], self.pseudo["AWS::Region"]
        return {
            "AWS::SQS::Queue": lambda: f"arn:aws:sqs:{region}:{account}:{p['QueueName']}",
            "AWS::IAM::Role": lambda: f"arn:aws:iam::{account}:role/{p['RoleName']}",
            "AWS::Lambda::Function": lambda: (
                f"arn:aws:lambda:{region}:{account}:function:{p['FunctionName']}"
            ),
            "AWS::Events::Rule": lambda: f"arn:aws:events:{region}:{account}:rule/{p['Name']}",
            "AWS::StepFunctions::StateMachine": lambda: (
                f"arn:aws:states:{region}:{account}:stateMachine:{p['StateMachineName']}"
            ),
        }[kind]()


def complete_on_moto(stack_name: str, region: str, account: str) -> list[tuple[str, Call]]:
    """Make the equivalent call for every resource of the deployed stack that moto skipped,
    with its properties resolved by moto's own CloudFormation (Ref, GetAtt and Sub against
    the stack's real resources)."""
    import boto3
    from botocore import xform_name
    from moto.cloudformation import cloudformation_backends
    from moto.cloudformation.parsing import clean_json

    stack = next(
        s
        for s in cloudformation_backends[account][region].stacks.values()
        if s.name == stack_name and s.status != "DELETE_COMPLETE"
    )
    # A stack made by a change set keeps its template as text only.
    template = stack.parse_template(stack.template)
    made = calls(template, lambda value: clean_json(value, stack.resource_map))
    for _, (service, operation, request) in made:
        getattr(boto3.client(service, region_name=region), xform_name(operation))(**request)
    return made
