"""boto3 calls, one handler per resource kind: read (in the shape of plan.py's specs),
create, update, delete, and list the resources that carry this pipeline's marker tag.

Handlers never touch a resource without the marker tag except the bucket's notification
configuration, which they merge into instead of replacing.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from pipelines.triggers import policies
from pipelines.triggers.plan import MARKER_KEY, S3_MARKER_KEY, Context, Resource

NOT_FOUND = {
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NotFoundException",
    "NotFound",
    "ResourceNotFound",
}
# IAM is eventually consistent: a role created a moment ago may not be assumable yet.
ROLE_RETRY_ATTEMPTS = 10
ROLE_RETRY_SECONDS = 3.0


def not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in NOT_FOUND


def tag_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict]:
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_dict(tags: list[Mapping[str, str]] | None, key: str = "Key", value: str = "Value") -> dict:
    return {t[key]: t[value] for t in tags or []}


@dataclass
class Clients:
    session: Any
    _cache: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._cache:
            # `lambda` is a keyword: the Lambda client is `clients.lambda_`.
            self._cache[service] = self.session.client(service.rstrip("_"))
        return self._cache[service]


class Handler:
    kind = ""

    def __init__(
        self, clients: Clients, context: Context, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.aws = clients
        self.context = context
        self.sleep = sleep

    def prefix(self) -> str:
        return f"{self.context.pipeline}-"

    def is_ours(self, tags: Mapping[str, str]) -> bool:
        return tags.get(MARKER_KEY) == self.context.pipeline

    def read(self, resource: Resource) -> dict[str, Any] | None:
        raise NotImplementedError

    def create(self, resource: Resource) -> None:
        raise NotImplementedError

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        raise NotImplementedError

    def delete(self, name: str) -> None:
        raise NotImplementedError

    def managed(self) -> list[str]:
        raise NotImplementedError

    def with_role_retry(self, call: Callable[[], Any]) -> Any:
        for attempt in range(ROLE_RETRY_ATTEMPTS):
            try:
                return call()
            except ClientError as exc:
                error = exc.response.get("Error", {})
                message = error.get("Message", "").lower()
                # IAM is eventually consistent: a role created moments ago is refused for a
                # while (ValidationException from most services, "cannot be assumed" from
                # Lambda). Only that is worth waiting out.
                retryable = (error.get("Code") == "ValidationException" and "role" in message) or (
                    error.get("Code") == "InvalidParameterValueException"
                    and "cannot be assumed" in message
                )
                if not retryable or attempt == ROLE_RETRY_ATTEMPTS - 1:
                    raise
                self.sleep(ROLE_RETRY_SECONDS)
        return None


class Queues(Handler):
    kind = "sqs-queue"
    _JSON = ("Policy", "RedrivePolicy")

    def _url(self, name: str) -> str | None:
        try:
            return self.aws.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as exc:
            if not_found(exc):
                return None
            raise

    def read(self, resource: Resource) -> dict[str, Any] | None:
        url = self._url(resource.name)
        if url is None:
            return None
        attributes = self.aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])[
            "Attributes"
        ]
        return {"Attributes": self._decode(attributes), "Tags": self.tags(url)}

    def tags(self, url: str) -> dict[str, str]:
        return self.aws.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})

    def _decode(self, attributes: Mapping[str, str]) -> dict[str, Any]:
        decoded: dict[str, Any] = dict(attributes)
        if "Policy" in decoded:
            decoded["Policy"] = policies.canonical(json.loads(decoded["Policy"]))
        if "RedrivePolicy" in decoded:
            redrive = json.loads(decoded["RedrivePolicy"])
            redrive["maxReceiveCount"] = int(redrive.get("maxReceiveCount", 0))
            decoded["RedrivePolicy"] = redrive
        return decoded

    @classmethod
    def _encode(cls, attributes: Mapping[str, Any]) -> dict[str, str]:
        return {
            k: json.dumps(v, sort_keys=True) if k in cls._JSON else str(v)
            for k, v in attributes.items()
        }

    def create(self, resource: Resource) -> None:
        self.aws.sqs.create_queue(
            QueueName=resource.name,
            Attributes=self._encode(resource.spec["Attributes"]),
            tags=dict(resource.spec["Tags"]),
        )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        url = self._url(resource.name)
        if "Attributes" in fields:
            self.aws.sqs.set_queue_attributes(
                QueueUrl=url, Attributes=self._encode(resource.spec["Attributes"])
            )
        if "Tags" in fields:
            self.aws.sqs.tag_queue(QueueUrl=url, Tags=dict(resource.spec["Tags"]))

    def delete(self, name: str) -> None:
        url = self._url(name)
        if url:
            self.aws.sqs.delete_queue(QueueUrl=url)

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.sqs.get_paginator("list_queues").paginate(
            QueueNamePrefix=self.prefix()
        ):
            for url in page.get("QueueUrls", []):
                if self.is_ours(self.tags(url)):
                    names.append(url.rsplit("/", 1)[-1])
        # Queues that redrive into the DLQ are deleted (deletion runs in reverse) first.
        dlq = self.context.name("triggers-dlq")
        return sorted(names, key=lambda name: (name != dlq, name))

    def depth(self, name: str) -> int | None:
        url = self._url(name)
        if url is None:
            return None
        attributes = self.aws.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0))

    def mark(self, name: str, key: str, value: str | None) -> None:
        """Set (or with None remove) one tag on a queue of ours."""
        url = self._url(name)
        if url is None:
            return
        if value is None:
            self.aws.sqs.untag_queue(QueueUrl=url, TagKeys=[key])
        else:
            self.aws.sqs.tag_queue(QueueUrl=url, Tags={key: value})


class Roles(Handler):
    kind = "iam-role"

    def read(self, resource: Resource) -> dict[str, Any] | None:
        try:
            role = self.aws.iam.get_role(RoleName=resource.name)["Role"]
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        inline = {}
        for policy_name in resource.spec.get("InlinePolicies", {}):
            try:
                document = self.aws.iam.get_role_policy(
                    RoleName=resource.name, PolicyName=policy_name
                )["PolicyDocument"]
            except ClientError as exc:
                if not_found(exc):
                    continue
                raise
            inline[policy_name] = policies.canonical(_policy_dict(document))
        return {
            "AssumeRolePolicyDocument": policies.canonical(
                _policy_dict(role["AssumeRolePolicyDocument"])
            ),
            "Description": role.get("Description", ""),
            "InlinePolicies": inline,
            "Tags": self.tags(resource.name),
        }

    def tags(self, name: str) -> dict[str, str]:
        pages = self.aws.iam.get_paginator("list_role_tags").paginate(RoleName=name)
        return {t["Key"]: t["Value"] for page in pages for t in page.get("Tags", [])}

    def create(self, resource: Resource) -> None:
        spec = resource.spec
        self.aws.iam.create_role(
            RoleName=resource.name,
            AssumeRolePolicyDocument=json.dumps(spec["AssumeRolePolicyDocument"]),
            Description=spec["Description"],
            Tags=tag_list(spec["Tags"]),
        )
        for policy_name, document in spec["InlinePolicies"].items():
            self.aws.iam.put_role_policy(
                RoleName=resource.name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
            )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        spec = resource.spec
        if "AssumeRolePolicyDocument" in fields:
            self.aws.iam.update_assume_role_policy(
                RoleName=resource.name, PolicyDocument=json.dumps(spec["AssumeRolePolicyDocument"])
            )
        if "Description" in fields:
            self.aws.iam.update_role(RoleName=resource.name, Description=spec["Description"])
        if "InlinePolicies" in fields:
            for policy_name, document in spec["InlinePolicies"].items():
                self.aws.iam.put_role_policy(
                    RoleName=resource.name,
                    PolicyName=policy_name,
                    PolicyDocument=json.dumps(document),
                )
        if "Tags" in fields:
            self.aws.iam.tag_role(RoleName=resource.name, Tags=tag_list(spec["Tags"]))

    def delete(self, name: str) -> None:
        iam = self.aws.iam
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy_name in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            for attached in page["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        iam.delete_role(RoleName=name)

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                name = role["RoleName"]
                if name.startswith(self.prefix()) and self.is_ours(self.tags(name)):
                    names.append(name)
        return names


def _policy_dict(document: Any) -> dict[str, Any]:
    # IAM returns URL-encoded JSON text on the wire; boto3 usually decodes it, not always.
    if isinstance(document, str):
        return json.loads(urllib.parse.unquote(document))
    return dict(document)


class ScheduleGroups(Handler):
    kind = "schedule-group"

    def read(self, resource: Resource) -> dict[str, Any] | None:
        try:
            group = self.aws.scheduler.get_schedule_group(Name=resource.name)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        return {"Tags": self.tags(group["Arn"]), "State": group.get("State")}

    def tags(self, arn: str) -> dict[str, str]:
        return tag_dict(self.aws.scheduler.list_tags_for_resource(ResourceArn=arn).get("Tags"))

    def create(self, resource: Resource) -> None:
        self.aws.scheduler.create_schedule_group(
            Name=resource.name, Tags=tag_list(resource.spec["Tags"])
        )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        if "Tags" in fields:
            self.aws.scheduler.tag_resource(
                ResourceArn=self.context.schedule_group_arn(resource.name),
                Tags=tag_list(resource.spec["Tags"]),
            )

    def delete(self, name: str) -> None:
        # Deleting a group deletes the schedules in it.
        self.aws.scheduler.delete_schedule_group(Name=name)

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.scheduler.get_paginator("list_schedule_groups").paginate(
            NamePrefix=self.prefix()
        ):
            for group in page["ScheduleGroups"]:
                if group.get("State", "ACTIVE") == "ACTIVE" and self.is_ours(
                    self.tags(group["Arn"])
                ):
                    names.append(group["Name"])
        return names


class Schedules(Handler):
    kind = "schedule"
    _FIELDS = (
        "GroupName",
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "FlexibleTimeWindow",
        "State",
        "Description",
        "Target",
    )

    def __init__(self, *args: Any, groups: ScheduleGroups, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups = groups

    def read(self, resource: Resource) -> dict[str, Any] | None:
        return self._get(resource.name, resource.spec["GroupName"])

    def _get(self, name: str, group: str) -> dict[str, Any] | None:
        try:
            schedule = self.aws.scheduler.get_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        return {k: schedule[k] for k in self._FIELDS if k in schedule}

    def create(self, resource: Resource) -> None:
        self.with_role_retry(
            lambda: self.aws.scheduler.create_schedule(Name=resource.name, **resource.spec)
        )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        # UpdateSchedule replaces the whole definition.
        self.with_role_retry(
            lambda: self.aws.scheduler.update_schedule(Name=resource.name, **resource.spec)
        )

    def delete(self, name: str) -> None:
        group = self.context.name("triggers")
        try:
            self.aws.scheduler.delete_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if not not_found(exc):
                raise

    def managed(self) -> list[str]:
        names = []
        for group in self.groups.managed():
            pages = self.aws.scheduler.get_paginator("list_schedules").paginate(GroupName=group)
            names.extend(s["Name"] for page in pages for s in page["Schedules"])
        return names

    def describe(self, name: str) -> dict[str, Any] | None:
        return self._get(name, self.context.name("triggers"))


class Rules(Handler):
    kind = "events-rule"
    _TARGET_FIELDS = (
        "Id",
        "Arn",
        "RoleArn",
        "InputTransformer",
        "RetryPolicy",
        "DeadLetterConfig",
        "SageMakerPipelineParameters",
    )

    def read(self, resource: Resource) -> dict[str, Any] | None:
        events = self.aws.events
        try:
            rule = events.describe_rule(Name=resource.name)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        return {
            "EventPattern": json.loads(rule.get("EventPattern") or "null"),
            "State": rule.get("State"),
            "Description": rule.get("Description", ""),
            "Targets": self.targets(resource.name),
            "Tags": self.tags(rule["Arn"]),
        }

    def targets(self, name: str) -> list[dict[str, Any]]:
        found = []
        for page in self.aws.events.get_paginator("list_targets_by_rule").paginate(Rule=name):
            for target in page["Targets"]:
                found.append({k: target[k] for k in self._TARGET_FIELDS if k in target})
        return sorted(found, key=lambda t: t["Id"])

    def tags(self, arn: str) -> dict[str, str]:
        return tag_dict(self.aws.events.list_tags_for_resource(ResourceARN=arn).get("Tags"))

    def create(self, resource: Resource) -> None:
        spec = resource.spec
        self.aws.events.put_rule(
            Name=resource.name,
            EventPattern=json.dumps(spec["EventPattern"], sort_keys=True),
            State=spec["State"],
            Description=spec["Description"],
            Tags=tag_list(spec["Tags"]),
        )
        self.aws.events.put_targets(Rule=resource.name, Targets=list(spec["Targets"]))

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        spec = resource.spec
        if {"EventPattern", "State", "Description"} & set(fields):
            self.aws.events.put_rule(
                Name=resource.name,
                EventPattern=json.dumps(spec["EventPattern"], sort_keys=True),
                State=spec["State"],
                Description=spec["Description"],
            )
        if "Targets" in fields:
            wanted = {t["Id"] for t in spec["Targets"]}
            stale = [t["Id"] for t in self.targets(resource.name) if t["Id"] not in wanted]
            if stale:
                self.aws.events.remove_targets(Rule=resource.name, Ids=stale)
            self.aws.events.put_targets(Rule=resource.name, Targets=list(spec["Targets"]))
        if "Tags" in fields:
            self.aws.events.tag_resource(
                ResourceARN=self.context.rule_arn(resource.name), Tags=tag_list(spec["Tags"])
            )

    def delete(self, name: str) -> None:
        ids = [t["Id"] for t in self.targets(name)]
        if ids:
            self.aws.events.remove_targets(Rule=name, Ids=ids)
        self.aws.events.delete_rule(Name=name)

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.events.get_paginator("list_rules").paginate(NamePrefix=self.prefix()):
            for rule in page["Rules"]:
                if self.is_ours(self.tags(rule["Arn"])):
                    names.append(rule["Name"])
        return names


class Functions(Handler):
    """Lambda functions (the approval deployer): code, configuration, tags, and which
    EventBridge rules may invoke them."""

    kind = "lambda-function"
    _FIELDS = ("Runtime", "Handler", "Role", "Timeout", "Description", "CodeSha256")
    _CONFIGURATION = ("Runtime", "Handler", "Role", "Timeout", "Description", "Environment")

    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.aws.lambda_.get_function(FunctionName=name)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise

    def read(self, resource: Resource) -> dict[str, Any] | None:
        found = self._get(resource.name)
        if found is None:
            return None
        configuration = found["Configuration"]
        current = {k: configuration[k] for k in self._FIELDS if k in configuration}
        current["Environment"] = {
            "Variables": configuration.get("Environment", {}).get("Variables", {})
        }
        current["InvokePermissions"] = self.invokers(resource.name)
        current["EventInvokeConfig"] = self.invoke_config(resource.name)
        current["Tags"] = found.get("Tags", {})
        current["Source"] = resource.spec["Source"]
        return current

    def invoke_config(self, name: str) -> dict[str, Any]:
        try:
            found = self.aws.lambda_.get_function_event_invoke_config(FunctionName=name)
        except ClientError as exc:
            if not_found(exc):
                return {}
            raise
        keys = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        return {k: found[k] for k in keys if k in found}

    def invokers(self, name: str) -> list[str]:
        """Source ARNs of the events.amazonaws.com grants in the function's policy."""
        try:
            policy = json.loads(self.aws.lambda_.get_policy(FunctionName=name)["Policy"])
        except ClientError as exc:
            if not_found(exc):
                return []
            raise
        return sorted(
            statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "")
            for statement in policy.get("Statement", [])
            if statement.get("Principal", {}).get("Service") == "events.amazonaws.com"
        )

    @staticmethod
    def _package(resource: Resource) -> bytes:
        from pipelines.code_assets import zip_asset

        return zip_asset(resource.name, Path(resource.spec["Source"])).data

    def create(self, resource: Resource) -> None:
        spec = resource.spec
        code = self._package(resource)
        self.with_role_retry(
            lambda: self.aws.lambda_.create_function(
                FunctionName=resource.name,
                Code={"ZipFile": code},
                Tags=dict(spec["Tags"]),
                **{k: spec[k] for k in self._CONFIGURATION},
            )
        )
        self.aws.lambda_.put_function_event_invoke_config(
            FunctionName=resource.name, **spec["EventInvokeConfig"]
        )
        self._grant(resource)

    def _grant(self, resource: Resource) -> None:
        for arn in resource.spec["InvokePermissions"]:
            self.aws.lambda_.add_permission(
                FunctionName=resource.name,
                StatementId=f"events-{arn.rsplit('/', 1)[-1]}",
                Action="lambda:InvokeFunction",
                Principal="events.amazonaws.com",
                SourceArn=arn,
                SourceAccount=self.context.account,
            )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        spec = resource.spec
        client = self.aws.lambda_
        if "CodeSha256" in fields:
            client.update_function_code(FunctionName=resource.name, ZipFile=self._package(resource))
            client.get_waiter("function_updated_v2").wait(FunctionName=resource.name)
        if set(fields) & set(self._CONFIGURATION):
            client.update_function_configuration(
                FunctionName=resource.name, **{k: spec[k] for k in self._CONFIGURATION}
            )
        if "Tags" in fields:
            client.tag_resource(
                Resource=self.context.arn("lambda", f"function:{resource.name}"),
                Tags=dict(spec["Tags"]),
            )
        if "EventInvokeConfig" in fields:
            client.put_function_event_invoke_config(
                FunctionName=resource.name, **spec["EventInvokeConfig"]
            )
        if "InvokePermissions" in fields:
            policy = json.loads(client.get_policy(FunctionName=resource.name)["Policy"])
            for statement in policy.get("Statement", []):
                if statement.get("Principal", {}).get("Service") == "events.amazonaws.com":
                    client.remove_permission(
                        FunctionName=resource.name, StatementId=statement["Sid"]
                    )
            self._grant(resource)

    def delete(self, name: str) -> None:
        try:
            self.aws.lambda_.delete_function(FunctionName=name)
        except ClientError as exc:
            if not not_found(exc):
                raise

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.lambda_.get_paginator("list_functions").paginate():
            for function in page["Functions"]:
                name = function["FunctionName"]
                if name.startswith(self.prefix()) and self.is_ours(
                    self.aws.lambda_.list_tags(Resource=function["FunctionArn"]).get("Tags", {})
                ):
                    names.append(name)
        return names


class Pipes(Handler):
    kind = "pipe"
    _FIELDS = (
        "Description",
        "DesiredState",
        "Source",
        "SourceParameters",
        "Target",
        "TargetParameters",
        "RoleArn",
        "Tags",
    )

    def _describe(self, name: str) -> dict[str, Any] | None:
        try:
            return self.aws.pipes.describe_pipe(Name=name)
        except ClientError as exc:
            if not_found(exc):
                return None
            raise

    def read(self, resource: Resource) -> dict[str, Any] | None:
        pipe = self._describe(resource.name)
        if pipe is None:
            return None
        return {k: pipe[k] for k in self._FIELDS if k in pipe}

    def create(self, resource: Resource) -> None:
        self.with_role_retry(
            lambda: self.aws.pipes.create_pipe(Name=resource.name, **resource.spec)
        )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        spec = dict(resource.spec)
        tags = spec.pop("Tags")
        # The source is the buffer queue named after the pipe, so it never changes (and
        # UpdatePipe could not change it).
        spec.pop("Source")
        if set(fields) - {"Tags"}:
            self.with_role_retry(lambda: self.aws.pipes.update_pipe(Name=resource.name, **spec))
        if "Tags" in fields:
            self.aws.pipes.tag_resource(
                resourceArn=self.context.pipe_arn(resource.name), tags=dict(tags)
            )

    def delete(self, name: str) -> None:
        try:
            self.aws.pipes.delete_pipe(Name=name)
        except ClientError as exc:
            if not not_found(exc):
                raise

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.pipes.get_paginator("list_pipes").paginate(NamePrefix=self.prefix()):
            for pipe in page["Pipes"]:
                described = self._describe(pipe["Name"]) or {}
                if self.is_ours(described.get("Tags", {})):
                    names.append(pipe["Name"])
        return names

    def state(self, name: str) -> str | None:
        pipe = self._describe(name)
        return pipe.get("CurrentState") if pipe else None


class Topics(Handler):
    kind = "sns-topic"

    def read(self, resource: Resource) -> dict[str, Any] | None:
        arn = self.context.topic_arn(resource.name)
        try:
            attributes = self.aws.sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        except ClientError as exc:
            if not_found(exc):
                return None
            raise
        decoded: dict[str, Any] = dict(attributes)
        if decoded.get("Policy"):
            decoded["Policy"] = policies.canonical(json.loads(decoded["Policy"]))
        return {"Attributes": decoded, "Tags": self.tags(arn)}

    def tags(self, arn: str) -> dict[str, str]:
        return tag_dict(self.aws.sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))

    def create(self, resource: Resource) -> None:
        attributes = resource.spec["Attributes"]
        self.aws.sns.create_topic(
            Name=resource.name,
            Attributes={
                "DisplayName": attributes["DisplayName"],
                "Policy": json.dumps(attributes["Policy"]),
            },
            Tags=tag_list(resource.spec["Tags"]),
        )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        arn = self.context.topic_arn(resource.name)
        if "Attributes" in fields:
            for name, value in resource.spec["Attributes"].items():
                text = json.dumps(value) if name == "Policy" else value
                self.aws.sns.set_topic_attributes(
                    TopicArn=arn, AttributeName=name, AttributeValue=text
                )
        if "Tags" in fields:
            self.aws.sns.tag_resource(ResourceArn=arn, Tags=tag_list(resource.spec["Tags"]))

    def delete(self, name: str) -> None:
        self.aws.sns.delete_topic(TopicArn=self.context.topic_arn(name))

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.sns.get_paginator("list_topics").paginate():
            for topic in page["Topics"]:
                arn = topic["TopicArn"]
                name = arn.rsplit(":", 1)[-1]
                if name.startswith(self.prefix()) and self.is_ours(self.tags(arn)):
                    names.append(name)
        return names


class Subscriptions(Handler):
    """Email subscriptions to the notification topic, one resource per address."""

    kind = "sns-subscription"
    PENDING = "PendingConfirmation"

    def _topic_arn(self) -> str:
        return self.context.topic_arn(self.context.name("notifications"))

    def _list(self) -> Iterator[dict[str, Any]]:
        try:
            pages = self.aws.sns.get_paginator("list_subscriptions_by_topic").paginate(
                TopicArn=self._topic_arn()
            )
            for page in pages:
                yield from page["Subscriptions"]
        except ClientError as exc:
            if not not_found(exc):
                raise

    def _find(self, endpoint: str) -> dict[str, Any] | None:
        return next(
            (
                s
                for s in self._list()
                if s["Protocol"] == "email" and s["Endpoint"].lower() == endpoint.lower()
            ),
            None,
        )

    def read(self, resource: Resource) -> dict[str, Any] | None:
        found = self._find(resource.name)
        if found is None:
            return None
        return {
            "TopicArn": found["TopicArn"],
            "Protocol": found["Protocol"],
            "Endpoint": resource.spec["Endpoint"],
        }

    def create(self, resource: Resource) -> None:
        self.aws.sns.subscribe(
            TopicArn=resource.spec["TopicArn"],
            Protocol=resource.spec["Protocol"],
            Endpoint=resource.spec["Endpoint"],
        )

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        self.create(resource)

    def delete(self, name: str) -> None:
        found = self._find(name)
        if found and found["SubscriptionArn"] != self.PENDING:
            self.aws.sns.unsubscribe(SubscriptionArn=found["SubscriptionArn"])

    def managed(self) -> list[str]:
        # Pending subscriptions cannot be removed (they expire after three days), so only
        # confirmed ones are offered for deletion; other protocols are not ours to manage.
        return [
            s["Endpoint"].lower()
            for s in self._list()
            if s["Protocol"] == "email" and s["SubscriptionArn"] != self.PENDING
        ]

    def pending(self, endpoint: str) -> bool:
        found = self._find(endpoint)
        return bool(found) and found["SubscriptionArn"] == self.PENDING


class Alarms(Handler):
    kind = "cloudwatch-alarm"
    _FIELDS = (
        "AlarmDescription",
        "ActionsEnabled",
        "AlarmActions",
        "Namespace",
        "MetricName",
        "Dimensions",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
    )

    def _describe(self, name: str) -> dict[str, Any] | None:
        alarms = self.aws.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return alarms[0] if alarms else None

    def read(self, resource: Resource) -> dict[str, Any] | None:
        alarm = self._describe(resource.name)
        if alarm is None:
            return None
        found = {k: alarm[k] for k in self._FIELDS if k in alarm}
        found["Tags"] = self.tags(alarm["AlarmArn"])
        return found

    def tags(self, arn: str) -> dict[str, str]:
        return tag_dict(self.aws.cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags"))

    def create(self, resource: Resource) -> None:
        spec = dict(resource.spec)
        tags = spec.pop("Tags")
        self.aws.cloudwatch.put_metric_alarm(AlarmName=resource.name, Tags=tag_list(tags), **spec)

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        spec = dict(resource.spec)
        tags = spec.pop("Tags")
        if set(fields) - {"Tags"}:
            self.aws.cloudwatch.put_metric_alarm(AlarmName=resource.name, **spec)
        if "Tags" in fields:
            self.aws.cloudwatch.tag_resource(
                ResourceARN=self.context.alarm_arn(resource.name), Tags=tag_list(tags)
            )

    def delete(self, name: str) -> None:
        self.aws.cloudwatch.delete_alarms(AlarmNames=[name])

    def managed(self) -> list[str]:
        names = []
        for page in self.aws.cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=self.prefix()
        ):
            for alarm in page["MetricAlarms"]:
                if self.is_ours(self.tags(alarm["AlarmArn"])):
                    names.append(alarm["AlarmName"])
        return names

    def state(self, name: str) -> str | None:
        alarm = self._describe(name)
        return alarm.get("StateValue") if alarm else None


class BucketEventBridge(Handler):
    """The bucket's EventBridge notifications, merged into its notification configuration."""

    kind = "s3-eventbridge"

    def __init__(self, *args: Any, queues: Queues, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queues = queues

    def _dlq(self) -> str:
        return self.context.name("triggers-dlq")

    def _configuration(self, bucket: str) -> dict[str, Any]:
        current = self.aws.s3.get_bucket_notification_configuration(Bucket=bucket)
        return {k: v for k, v in current.items() if k != "ResponseMetadata"}

    def read(self, resource: Resource) -> dict[str, Any] | None:
        current = self._configuration(resource.name)
        if "EventBridgeConfiguration" not in current:
            return None
        return {"EventBridgeConfiguration": current["EventBridgeConfiguration"]}

    def create(self, resource: Resource) -> None:
        current = self._configuration(resource.name)
        current["EventBridgeConfiguration"] = {}
        # Other destinations are passed back untouched; don't re-validate them.
        self.aws.s3.put_bucket_notification_configuration(
            Bucket=resource.name, NotificationConfiguration=current, SkipDestinationValidation=True
        )
        self.queues.mark(self._dlq(), S3_MARKER_KEY, resource.name)

    def update(self, resource: Resource, fields: tuple[str, ...]) -> None:
        self.create(resource)

    def delete(self, name: str) -> None:
        # Only called for a bucket whose EventBridge notifications this project turned on.
        current = self._configuration(name)
        current.pop("EventBridgeConfiguration", None)
        self.aws.s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration=current, SkipDestinationValidation=True
        )
        self.queues.mark(self._dlq(), S3_MARKER_KEY, None)

    def managed(self) -> list[str]:
        url = self.queues._url(self._dlq())
        if url is None:
            return []
        tags = self.queues.tags(url)
        if not self.is_ours(tags) or S3_MARKER_KEY not in tags:
            return []
        return [tags[S3_MARKER_KEY]]


def handlers(
    session: Any, context: Context, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Handler]:
    clients = Clients(session)
    queues = Queues(clients, context, sleep)
    groups = ScheduleGroups(clients, context, sleep)
    found: list[Handler] = [
        queues,
        Roles(clients, context, sleep),
        groups,
        Schedules(clients, context, sleep, groups=groups),
        Topics(clients, context, sleep),
        Subscriptions(clients, context, sleep),
        Functions(clients, context, sleep),
        Rules(clients, context, sleep),
        Pipes(clients, context, sleep),
        Alarms(clients, context, sleep),
        BucketEventBridge(clients, context, sleep, queues=queues),
    ]
    return {h.kind: h for h in found}
