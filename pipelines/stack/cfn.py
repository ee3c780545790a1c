"""CloudFormation template building blocks: intrinsic functions, ARNs and the template.

Templates are plain dictionaries in CloudFormation's JSON syntax (no object model in
between), checked against AWS's resource schemas by cfn-lint in the tests. ARNs are built
with the pseudo parameters (`${AWS::Partition}`, `${AWS::Region}`, `${AWS::AccountId}`),
so the partition is the one the stack is deployed in (aws, aws-cn, aws-us-gov, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = "2010-09-09"


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def arn(service: str, resource: str, *, regional: bool = True, account: bool = True) -> dict:
    """An ARN in the stack's own partition, region and account."""
    region = "${AWS::Region}" if regional else ""
    owner = "${AWS::AccountId}" if account else ""
    return sub(f"arn:${{AWS::Partition}}:{service}:{region}:{owner}:{resource}")


def sagemaker_arns(kind: str, name: str, *rest: str) -> list[dict]:
    """Both spellings of a SageMaker resource ARN for IAM: the name as given and lower-cased,
    because SageMaker writes names lower-cased in ARNs and IAM compares them as written
    (see pipelines/arns.py)."""
    spellings = sorted({name, name.lower()})
    return [arn("sagemaker", "/".join([kind, spelling, *rest])) for spelling in spellings]


def tag_list(tags: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def policy(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [dict(s) for s in statements]}


def service_trust(service: str, conditions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Only `service` may assume the role, under `conditions` (the confused-deputy guard:
    aws:SourceAccount and aws:SourceArn, where the service sets them)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if conditions:
        statement["Condition"] = dict(conditions)
    return policy(statement)


def from_this_account(source_arns: Sequence[Any]) -> dict[str, Any]:
    """A condition block: the calling service acts for these sources, in this account."""
    return {
        "ArnEquals": {"aws:SourceArn": list(source_arns)},
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    }


class TemplateError(ValueError):
    """A bug in a template builder (a duplicate or dangling logical ID)."""


@dataclass
class Template:
    """One CloudFormation template under construction."""

    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        logical_id: str,
        resource_type: str,
        properties: Mapping[str, Any],
        *,
        depends_on: Sequence[str] = (),
        deletion_policy: str | None = None,
    ) -> str:
        if logical_id in self.resources:
            raise TemplateError(f"logical ID {logical_id} is defined twice")
        resource: dict[str, Any] = {"Type": resource_type, "Properties": dict(properties)}
        if depends_on:
            resource["DependsOn"] = sorted(set(depends_on))
        if deletion_policy:
            # Stateful resources say what happens to their content when the stack goes:
            # "Retain" for what the project produced (registered models, replicas).
            resource["DeletionPolicy"] = deletion_policy
            resource["UpdateReplacePolicy"] = deletion_policy
        self.resources[logical_id] = resource
        return logical_id

    def output(self, name: str, value: Any, description: str) -> None:
        self.outputs[name] = {"Description": description, "Value": value}

    def body(self) -> dict[str, Any]:
        missing = {
            dependency
            for resource in self.resources.values()
            for dependency in resource.get("DependsOn", [])
            if dependency not in self.resources
        }
        if missing:
            raise TemplateError(f"DependsOn names undefined resources: {sorted(missing)}")
        body: dict[str, Any] = {"AWSTemplateFormatVersion": FORMAT_VERSION}
        body["Description"] = self.description
        for key, value in (
            ("Metadata", self.metadata),
            ("Parameters", self.parameters),
            ("Conditions", self.conditions),
            ("Resources", self.resources),
            ("Outputs", self.outputs),
        ):
            if value:
                body[key] = value
        return body

    def json(self) -> str:
        return json.dumps(self.body(), indent=1, sort_keys=False) + "\n"
