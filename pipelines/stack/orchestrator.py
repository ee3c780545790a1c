"""What the nightly schedule and the data-arrival pipe start: `[orchestrator].kind`.

  "pipeline"       StartPipelineExecution, the parameters as pipeline parameters
                   (Scheduler: SageMakerPipelineParameters; Pipes: the same, a parameter
                   value being a constant or a dynamic path into the SQS message)
  "stepfunctions"  StartExecution of the state machine state_machine.py adds, the
                   parameters as the execution's JSON input {"PipelineParameters": [...]}
                   (Scheduler: Input; Pipes: an InputTemplate, FIRE_AND_FORGET as a Standard
                   workflow requires)

The triggers module only talks to `RunTarget`: its ARN, the action its roles may call on
which resources, and the two target shapes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.pipeline import PIPELINE, pipeline_arn

# The state machine's logical ID (defined by state_machine.py, which imports this module).
STATE_MACHINE = "StateMachine"


@dataclass(frozen=True)
class RunTarget:
    """Something a trigger starts, and how it receives the run's parameters."""

    description: str
    arn: Any
    # IAM: what the trigger's role may call, on which resources.
    start_action: str
    start_resources: Sequence[Any]
    # Logical IDs the triggers must be created after (and deleted before).
    depends_on: Sequence[str]

    def permission(self) -> dict[str, Any]:
        return {
            "Sid": "StartRun",
            "Effect": "Allow",
            "Action": self.start_action,
            "Resource": list(self.start_resources),
        }

    def schedule_target(self, parameters: Mapping[str, str]) -> dict[str, Any]:
        """The Scheduler target's fields besides RoleArn, RetryPolicy and DeadLetterConfig."""
        raise NotImplementedError

    def pipe_target_parameters(self, parameters: Sequence[Mapping[str, str]]) -> dict[str, Any]:
        """The pipe's TargetParameters; a value may be a dynamic path into the SQS message
        ("$.body.InputDataUrl")."""
        raise NotImplementedError


class PipelineTarget(RunTarget):
    """StartPipelineExecution, the parameters as pipeline parameters."""

    def schedule_target(self, parameters: Mapping[str, str]) -> dict[str, Any]:
        return {
            "Arn": self.arn,
            "SageMakerPipelineParameters": {
                "PipelineParameterList": [
                    {"Name": name, "Value": value} for name, value in sorted(parameters.items())
                ]
            },
        }

    def pipe_target_parameters(self, parameters: Sequence[Mapping[str, str]]) -> dict[str, Any]:
        return {
            "SageMakerPipelineParameters": {"PipelineParameterList": [dict(p) for p in parameters]}
        }


class StateMachineTarget(RunTarget):
    """StartExecution, the parameters as the execution's input."""

    def schedule_target(self, parameters: Mapping[str, str]) -> dict[str, Any]:
        listed = [{"Name": name, "Value": value} for name, value in sorted(parameters.items())]
        return {"Arn": self.arn, "Input": json.dumps(execution_input(listed))}

    def pipe_target_parameters(self, parameters: Sequence[Mapping[str, str]]) -> dict[str, Any]:
        # A dynamic path becomes the template's placeholder for that value, in quotes: the
        # value is a string ("Amazon EventBridge Pipes input transformation").
        listed = [
            {"Name": p["Name"], "Value": _placeholder(p["Value"]) if _dynamic(p) else p["Value"]}
            for p in parameters
        ]
        return {
            # Standard workflows take asynchronous starts only.
            "StepFunctionStateMachineParameters": {"InvocationType": "FIRE_AND_FORGET"},
            "InputTemplate": json.dumps(execution_input(listed)),
        }


def execution_input(parameters: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """The state machine's input (pipelines/orchestrators/stepfunctions.py)."""
    return {"PipelineParameters": [dict(p) for p in parameters]}


def _dynamic(parameter: Mapping[str, str]) -> bool:
    return parameter["Value"].startswith("$.")


def _placeholder(path: str) -> str:
    return f"<{path}>"


def run_target(ctx: StackContext) -> RunTarget:
    kind = ctx.settings.orchestrator.kind
    if kind == "pipeline":
        return PipelineTarget(
            description=f"SageMaker pipeline {ctx.pipeline}",
            arn=pipeline_arn(ctx),
            start_action="sagemaker:StartPipelineExecution",
            start_resources=cfn.sagemaker_arns("pipeline", ctx.pipeline),
            depends_on=(PIPELINE,),
        )
    if kind == "stepfunctions":
        machine = cfn.ref(STATE_MACHINE)
        name = ctx.settings.orchestrator.state_machine_name
        return StateMachineTarget(
            description=f"Step Functions state machine {name}",
            arn=machine,
            start_action="states:StartExecution",
            start_resources=[machine],
            # The Ref orders the triggers after the state machine.
            depends_on=(),
        )
    raise ValueError(f"no run target for [orchestrator].kind {kind!r}")
