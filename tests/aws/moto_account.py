"""moto's server as the tests' AWS account, and what moto lacks, added from AWS's docs.

Imported by tests/aws/conftest.py and by test modules that need a module-wide account
(one shared deployment) or these fixes outside a fixture.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from waiting import FAILSAFE_SECONDS

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
BUCKET = "retraining-test-bucket"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"


def create_execution_role() -> None:
    """The SageMaker execution role the README lists as a prerequisite of `stack deploy` (the
    stack attaches the drift metrics permission to it, so it must exist, as on AWS)."""
    import boto3

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    boto3.client("iam").create_role(
        RoleName=ROLE_ARN.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(trust)
    )


def reset(moto_endpoint: str) -> None:
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=FAILSAFE_SECONDS).close()


def account_environment(moto_endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PIPELINE_BUCKET": BUCKET,
        "PIPELINE_ROLE_ARN": ROLE_ARN,
    }


def enter_account(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Reset moto and point this process's AWS environment at it."""
    reset(moto_endpoint)
    env = account_environment(moto_endpoint)
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def run_lambda_without_docker(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto runs Lambda functions in Docker containers, and there is no Docker here. This
    runs a function's handler the way the Lambda Python runtime does, in a process of its
    own: the function's zip unpacked as the working directory, its environment variables,
    credentials and region, `handler(event, None)`, the JSON result; AWS calls go to moto.
    moto then completes what depends on an invocation, e.g. a CloudFormation custom
    resource (whose handler PUTs its outcome to the response URL moto hands it)."""
    import moto.settings
    from moto.awslambda.models import LambdaFunction

    host, _, port = moto_endpoint.rpartition(":")
    monkeypatch.setattr(moto.settings, "moto_server_host", lambda: host)
    monkeypatch.setenv("MOTO_PORT", port)

    def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
        with tempfile.TemporaryDirectory(prefix="lambda-") as task:
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(task)
            module, name = function.handler.rsplit(".", 1)
            environment = {
                "PATH": os.environ.get("PATH", ""),
                **account_environment(moto_endpoint),
                "AWS_REGION": function.region,
                "AWS_DEFAULT_REGION": function.region,
                "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
                **function.environment_vars,
            }
            run = subprocess.run(
                [sys.executable, "-c", _RUNTIME, module, name],
                cwd=task,
                input=json.dumps(event if event is not None else {}),
                env=environment,
                capture_output=True,
                text=True,
                timeout=FAILSAFE_SECONDS,
            )
        if run.returncode:
            return json.dumps({"errorMessage": run.stderr[-2000:]}), True, run.stderr
        return run.stdout.strip().splitlines()[-1], False, run.stderr

    monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke)


_RUNTIME = (
    "import importlib, json, sys\n"
    "handler = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])\n"
    "print(json.dumps(handler(json.loads(sys.stdin.read()), None)))\n"
)


@contextlib.contextmanager
def cloudformation_rolls_back() -> Iterator[None]:
    """moto executes a change set in one go and, when a resource fails, leaves the stack
    half-created with an error on ExecuteChangeSet (its source: "TODO: handle execution
    errors and implement rollback"); its stack events are the stack's own only. This gives
    it what CloudFormation documents for a failed creation ("Stack failure options"): each
    resource's CREATE_IN_PROGRESS / CREATE_COMPLETE events, CREATE_FAILED with the
    service's error as the reason, then ROLLBACK_IN_PROGRESS, every resource created so far
    deleted, and ROLLBACK_COMPLETE. ExecuteChangeSet itself succeeds, as it does on AWS
    (execution is asynchronous there). Only creations are covered."""
    from moto.cloudformation import models, parsing

    created = parsing.parse_and_create_resource
    execute = models.CloudFormationBackend.execute_change_set

    def event(stack: Any, logical_id: str, kind: str, status: str, reason: Any = None) -> None:
        physical = getattr(
            stack.resource_map._parsed_resources.get(logical_id), "physical_resource_id", ""
        )
        stack.events.append(
            models.Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=logical_id,
                physical_resource_id=physical or "",
                resource_type=kind,
                resource_status=status,
                resource_status_reason=reason,
                resource_properties=None,
            )
        )

    state: dict[str, Any] = {}

    def create(logical_id: str, resource_json: dict, resources_map: Any, **kwargs: Any) -> Any:
        stack = state["stack"]
        kind = resource_json["Type"]
        try:
            resource = created(logical_id, resource_json, resources_map, **kwargs)
        except Exception as exc:
            event(stack, logical_id, kind, "CREATE_IN_PROGRESS")
            event(stack, logical_id, kind, "CREATE_FAILED", str(exc))
            raise
        if resource is not None:  # None: a type moto does not deploy (no events)
            resources_map._parsed_resources[logical_id] = resource
            event(stack, logical_id, kind, "CREATE_IN_PROGRESS")
            event(stack, logical_id, kind, "CREATE_COMPLETE")
        return resource

    def execute_change_set(self: Any, change_set_name: str, stack_name: Any = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        if change_set.change_set_type != "CREATE":
            return execute(self, change_set_name, stack_name)
        state["stack"] = stack
        try:
            execute(self, change_set_name, stack_name)
        except Exception:
            failed = [
                e.logical_resource_id for e in stack.events if e.resource_status == "CREATE_FAILED"
            ]
            stack._add_stack_event(
                "ROLLBACK_IN_PROGRESS",
                resource_status_reason=(
                    f"The following resource(s) failed to create: [{', '.join(failed)}]. "
                    "Rollback requested by user."
                ),
            )
            done = [
                e
                for e in stack.events
                if e.resource_status == "CREATE_COMPLETE" and e.logical_resource_id != stack.name
            ]
            stack.resource_map.delete()
            for done_event in reversed(done):
                event(
                    stack,
                    done_event.logical_resource_id,
                    done_event.resource_type,
                    "DELETE_COMPLETE",
                )
            stack._add_stack_event("ROLLBACK_COMPLETE")
            stack.status = "ROLLBACK_COMPLETE"
            change_set.execution_status = "EXECUTE_FAILED"
        finally:
            state.pop("stack", None)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsing, "parse_and_create_resource", create)
        patch.setattr(models.CloudFormationBackend, "execute_change_set", execute_change_set)
        yield


def s3_reports_bucket_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 stores a bucket's EventBridgeConfiguration (and sends S3 events to
    EventBridge with it) but leaves it out of GetBucketNotificationConfiguration, and it
    stores each replication rule's Filter and DeleteMarkerReplication but reports every
    rule with an empty prefix. This reports both from moto's own state, as AWS does."""
    from moto.core.responses import ActionResult
    from moto.s3.exceptions import ReplicationConfigurationNotFoundError
    from moto.s3.responses import S3Response

    notifications = S3Response.get_bucket_notification

    def get_bucket_notification(self: Any) -> Any:
        status, headers, body = notifications(self)
        found = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if found is None or found.event_bridge is None:
            return status, headers, body
        text = body.decode() if isinstance(body, bytes) else body
        closing = "</NotificationConfiguration>"
        # An otherwise empty configuration is one self-closing element.
        text = re.sub(
            r"<NotificationConfiguration([^>]*)/>", r"<NotificationConfiguration\1>" + closing, text
        )
        text = text.replace(closing, "<EventBridgeConfiguration/>" + closing)
        return status, headers, text

    def get_bucket_replication(self: Any) -> Any:
        self.data["Action"] = "GetBucketReplication"
        replication = self.backend.get_bucket_replication(self.bucket_name)
        if not replication:
            raise ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
        rules = [
            {
                "ID": rule["ID"],
                "Priority": int(rule["Priority"]),
                "Status": rule["Status"],
                "DeleteMarkerReplication": rule.get("DeleteMarkerReplication")
                or {"Status": "Disabled"},
                "Filter": rule.get("Filter") or {"Prefix": ""},
                "Destination": rule["Destination"],
            }
            for rule in replication["Rule"]
        ]
        return self.serialized(
            ActionResult(
                {"ReplicationConfiguration": {"Role": replication["Role"], "Rules": rules}}
            )
        )

    monkeypatch.setattr(S3Response, "get_bucket_notification", get_bucket_notification)
    monkeypatch.setattr(S3Response, "get_bucket_replication", get_bucket_replication)
