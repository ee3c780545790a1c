"""What both state machines share: retries and catches per integration, intrinsic-function
literals, and the checks a generated machine must pass before anyone deploys it.

Error names follow Step Functions' documented rules:
- AWS SDK integrations (`arn:aws:states:::aws-sdk:<service>:<action>`) report
  `<ServiceName>.<ErrorCode>` with an `Exception` suffix ("Learning to use AWS service SDK
  integrations in Step Functions": `S3.NoSuchKey` is caught as `S3.NoSuchKeyException`);
- Lambda's transient service errors are `Lambda.ServiceException`, `Lambda.AWSLambdaException`,
  `Lambda.SdkClientException`, `Lambda.ClientExecutionTimeoutException` and, at the
  concurrency limit, `Lambda.TooManyRequestsException` ("Handle Lambda service exceptions");
- optimized integrations (`arn:aws:states:::sagemaker:...`, `arn:aws:states:::sns:publish`)
  report the service SDK's exception class, `SageMaker.AmazonSageMakerException` and
  `SNS.AmazonSNSException`, for every service error: retrying those also retries a request
  the service refused, at most `MaxAttempts` times.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.config import RetrySettings

# Transient errors worth retrying with backoff, by integration.
TRANSIENT_ERRORS: dict[str, tuple[str, ...]] = {
    "aws-sdk:sagemaker": (
        "SageMaker.ThrottlingException",
        "SageMaker.InternalFailureException",
        "SageMaker.ServiceUnavailableException",
        "SageMaker.SdkClientException",
    ),
    "aws-sdk:s3": (
        "S3.SlowDownException",
        "S3.InternalErrorException",
        "S3.ServiceUnavailableException",
        "S3.SdkClientException",
    ),
    "sagemaker": ("SageMaker.AmazonSageMakerException", "SageMaker.SdkClientException"),
    "lambda": (
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ),
    "sns": (
        "SNS.ThrottledException",
        "SNS.InternalErrorException",
        "SNS.AmazonSNSException",
        "SNS.SdkClientException",
    ),
}
# A SageMaker job request refused for the account's limits: worth waiting out.
RESOURCE_LIMIT_ERROR = "SageMaker.ResourceLimitExceededException"
# S3 GetObject on a missing key (the idempotency marker not written yet).
NO_SUCH_KEY_ERROR = "S3.NoSuchKeyException"

SAGEMAKER_SDK = "arn:aws:states:::aws-sdk:sagemaker:"
S3_SDK = "arn:aws:states:::aws-sdk:s3:"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def integration(resource: str) -> str:
    """The TRANSIENT_ERRORS key of a Task's Resource."""
    tail = resource.removeprefix("arn:aws:states:::")
    if tail.startswith("aws-sdk:"):
        return ":".join(tail.split(":")[:2])
    return tail.split(":")[0]


def retry(resource: str, settings: RetrySettings, errors: Iterable[str] = ()) -> dict[str, Any]:
    """Exponential backoff for the integration's transient errors (plus `errors`)."""
    return {
        "ErrorEquals": [*TRANSIENT_ERRORS[integration(resource)], *errors],
        # ASL requires IntervalSeconds >= 1 and BackoffRate >= 1.
        "IntervalSeconds": max(1, settings.interval_seconds),
        "BackoffRate": max(1.0, settings.backoff_rate),
        "MaxAttempts": settings.max_attempts,
    }


def catch_all(next_state: str, result_path: str = "$.error") -> dict[str, Any]:
    """`States.ALL` to the notify-and-fail path, keeping the state's input beside the error."""
    return {"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}


def literal(value: Any) -> str:
    """A value as an intrinsic-function argument: strings quoted (with \\' and \\\\ escaped),
    numbers and booleans as JSON."""
    if isinstance(value, str):
        if any(char in value for char in "{}"):
            # States.Format would read them as placeholders; escaping them is not portable.
            raise ValueError(f"cannot use {value!r} in an intrinsic function: it contains braces")
        return quoted(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    raise ValueError(f"cannot pass {value!r} as an intrinsic-function literal")


def quoted(text: str) -> str:
    """A string literal for an intrinsic function (a States.Format template may hold {})."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def states(machine: Mapping[str, Any]) -> Iterable[tuple[str, Mapping[str, Any], bool]]:
    """(name, state, inside a Parallel branch) for every state, branches included."""

    def walk(
        group: Mapping[str, Any], nested: bool
    ) -> Iterable[tuple[str, Mapping[str, Any], bool]]:
        for name, state in group["States"].items():
            yield name, state, nested
            for branch in state.get("Branches", []):
                yield from walk(branch, True)

    yield from walk(machine, False)


def transition_targets(state: Mapping[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    if "Default" in state:
        targets.append(state["Default"])
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


def structure_problems(machine: Mapping[str, Any]) -> list[str]:
    """The project's rules for a generated machine, beyond what the ASL schema checks: every
    transition names a state of its own group, every state is reachable, each group can end,
    and every Task retries its integration's transient errors and (outside Parallel branches,
    where a Catch cannot leave the branch) catches `States.ALL`."""
    problems: list[str] = []

    def check_group(group: Mapping[str, Any], where: str, nested: bool) -> None:
        names = set(group["States"])
        if group.get("StartAt") not in names:
            problems.append(f"{where}: StartAt {group.get('StartAt')!r} is not a state")
            return
        reached, todo = set(), [group["StartAt"]]
        while todo:
            name = todo.pop()
            if name in reached:
                continue
            reached.add(name)
            for target in transition_targets(group["States"][name]):
                if target not in names:
                    problems.append(f"{where}: state {name!r} goes to unknown state {target!r}")
                else:
                    todo.append(target)
        for name in sorted(names - reached):
            problems.append(f"{where}: state {name!r} is never reached")
        ends = [
            name
            for name, state in group["States"].items()
            if state.get("End") or state["Type"] in ("Succeed", "Fail")
        ]
        if not ends:
            problems.append(f"{where}: no state ends the execution")
        for name, state in group["States"].items():
            if state["Type"] == "Task":
                retriers = state.get("Retry", [])
                if not any(r.get("BackoffRate", 1) > 1 for r in retriers):
                    problems.append(f"{where}: Task {name!r} has no Retry with backoff")
                catchers = [c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]]
                if not nested and not catchers:
                    problems.append(f"{where}: Task {name!r} does not catch States.ALL")
            if state["Type"] == "Parallel":
                if not any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])):
                    problems.append(f"{where}: Parallel {name!r} does not catch States.ALL")
                for index, branch in enumerate(state["Branches"]):
                    check_group(branch, f"{where}/{name}[{index}]", True)

    check_group(machine, "machine", False)
    return problems


def cfn_lint_problems(machine: Mapping[str, Any], region: str = "us-east-1") -> list[str]:
    """cfn-lint's checks of the machine as an AWS::StepFunctions::StateMachine Definition:
    AWS's ASL schema (rule E3601) and the resource's properties. AWS's own linter, offline."""
    from cfnlint.api import lint

    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineType": "STANDARD",
                    "RoleArn": "arn:aws:iam::123456789012:role/StateMachineRole",
                    "Definition": machine,
                },
            }
        },
    }
    matches = lint(json.dumps(template), regions=[region])
    return [
        f"{match.rule.id}: {match.message} ({'/'.join(map(str, match.path))})" for match in matches
    ]


def notify_state(
    topic_arn: str,
    pipeline: str,
    outcome: str,
    subject: str,
    next_state: str,
    settings: RetrySettings,
    on_error: str,
) -> dict[str, Any]:
    """SNS Publish of the whole state as JSON, with the outcome as a message attribute that
    subscriptions can filter on; its own failure goes to `on_error`."""
    return {
        "Type": "Task",
        "Resource": SNS_PUBLISH,
        "Parameters": {
            "TopicArn": topic_arn,
            # SNS subjects: at most 100 printable ASCII characters.
            "Subject": f"{pipeline}: {subject}"[:100],
            "Message.$": "States.JsonToString($)",
            "MessageAttributes": {
                "outcome": {"DataType": "String", "StringValue": outcome},
                "pipeline": {"DataType": "String", "StringValue": pipeline},
            },
        },
        "ResultSelector": {"MessageId.$": "$.MessageId"},
        "ResultPath": "$.notification",
        "Retry": [retry(SNS_PUBLISH, settings)],
        "Catch": [catch_all(on_error, "$.error" if on_error == "NotifyError" else "$.notifyError")],
        "Next": next_state,
    }
