"""EventBridge-shaped events, appended to a JSON Lines log that notification rules can read.

The envelopes and `detail` fields are the ones SageMaker publishes to EventBridge (see
"Automating Amazon SageMaker with Amazon EventBridge" in the SageMaker developer guide):
- "SageMaker Model Building Pipeline Execution Status Change"
- "SageMaker Model Building Pipeline Execution Step Status Change"
- "SageMaker Model Package State Change"
Appends take an exclusive `flock`, so several engine processes can share one log; readers
only ever consume whole lines and resume from a byte offset.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.local.records import StepStatus

SOURCE = "aws.sagemaker"
# The local engine's own warnings (no SageMaker event says them): a source of their own, so
# no rule written for SageMaker's events matches them.
LOCAL_SOURCE = "local.pipeline-engine"
EXECUTION_WARNING = "Local Pipeline Execution Warning"
LOCAL_ACCOUNT = "000000000000"
EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
STEP_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Step Status Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"


def iso_time(epoch: float | None) -> str | None:
    """EventBridge's time format: UTC, whole seconds, 'Z' suffix."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventLog:
    """Appends events to `path` (JSON Lines) for one region."""

    def __init__(self, path: Path | str, region: str) -> None:
        self.path = Path(path)
        self.region = region
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def envelope(
        self, detail_type: str, resources: list[str], detail: Mapping[str, Any], when: float
    ) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": SOURCE,
            "account": LOCAL_ACCOUNT,
            "time": iso_time(when),
            "region": self.region,
            "resources": resources,
            "detail": dict(detail),
        }

    def append(self, event: Mapping[str, Any]) -> None:
        line = (json.dumps(event, separators=(",", ":"), default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                os.write(fd, line)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def execution_status_change(
        self,
        *,
        pipeline_arn: str,
        execution_arn: str,
        current: str,
        previous: str | None,
        start_time: float,
        end_time: float | None,
        when: float,
        display_name: str | None = None,
        failure_reason: str | None = None,
        failure_detail: str | None = None,
        outcome_detail: str | None = None,
    ) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "currentPipelineExecutionStatus": current,
            "executionStartTime": iso_time(start_time),
            "pipelineArn": pipeline_arn,
            "pipelineExecutionArn": execution_arn,
        }
        if previous:
            detail["previousPipelineExecutionStatus"] = previous
        if end_time is not None:
            detail["executionEndTime"] = iso_time(end_time)
        if display_name:
            detail["pipelineExecutionDisplayName"] = display_name
        if failure_reason:
            # Not in AWS's sample; SageMaker carries it in DescribePipelineExecution. Handy for
            # local notification rules and harmless for patterns that do not mention it.
            detail["failureReason"] = failure_reason
        if failure_detail:
            # The local engine's explanation (which step failed and why) beside SageMaker's
            # generic FailureReason.
            detail["failureDetail"] = failure_detail
        if outcome_detail:
            # The project's words for how a succeeded execution ended (no drift: nothing
            # trained), which SageMaker's event does not carry either.
            detail["outcomeDetail"] = outcome_detail
        event = self.envelope(EXECUTION_STATUS_CHANGE, [pipeline_arn, execution_arn], detail, when)
        self.append(event)
        return event

    def step_status_change(
        self,
        *,
        pipeline_arn: str,
        execution_arn: str,
        step_name: str,
        step_type: str,
        current: str,
        previous: str | None,
        start_time: float | None,
        end_time: float | None,
        when: float,
        metadata: Mapping[str, Any] | None = None,
        failure_reason: str | None = None,
        cache_source_arn: str | None = None,
    ) -> dict[str, Any]:
        detail: dict[str, Any] = {
            "metadata": dict(metadata or {}),
            "stepName": step_name,
            "stepType": step_type,
            "currentStepStatus": current,
            "pipelineArn": pipeline_arn,
            "pipelineExecutionArn": execution_arn,
        }
        if previous:
            detail["previousStepStatus"] = previous
        if start_time is not None:
            detail["stepStartTime"] = iso_time(start_time)
        if end_time is not None:
            detail["stepEndTime"] = iso_time(end_time)
        if failure_reason and current == StepStatus.FAILED:
            detail["failureReason"] = failure_reason
        if cache_source_arn:
            detail["cacheHitResult"] = {"sourcePipelineExecutionArn": cache_source_arn}
        event = self.envelope(STEP_STATUS_CHANGE, [pipeline_arn, execution_arn], detail, when)
        self.append(event)
        return event

    def execution_warning(
        self,
        *,
        pipeline_arn: str,
        execution_arn: str,
        step_name: str,
        kind: str,
        message: str,
        when: float,
    ) -> dict[str, Any]:
        """Something the run did not do as asked (an injected fault that never fired)."""
        detail = {
            "pipelineArn": pipeline_arn,
            "pipelineExecutionArn": execution_arn,
            "stepName": step_name,
            "warning": kind,
            "message": message,
        }
        event = self.envelope(EXECUTION_WARNING, [pipeline_arn, execution_arn], detail, when)
        event["source"] = LOCAL_SOURCE
        self.append(event)
        return event

    def model_package_state_change(self, package: Mapping[str, Any], when: float) -> dict[str, Any]:
        """`package` is a DescribeModelPackage document; it becomes the event's detail."""
        event = self.envelope(
            MODEL_PACKAGE_STATE_CHANGE, [package["ModelPackageArn"]], package, when
        )
        self.append(event)
        return event


def read_events(path: Path | str, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events appended after byte `since_offset`, and the offset to resume from.

    A line still being written (no trailing newline yet) is left for the next call.
    """
    path = Path(path)
    if not path.exists():
        return [], since_offset
    with path.open("rb") as handle:
        handle.seek(since_offset)
        data = handle.read()
    complete = data.rfind(b"\n") + 1
    events = [json.loads(line) for line in data[:complete].splitlines() if line.strip()]
    return events, since_offset + complete
