"""What the nightly schedule and the data-arrival pipe start: `[orchestrator].kind`.

Today the only kind is "pipeline": both triggers call StartPipelineExecution with pipeline
parameters. A Step Functions state machine wrapping the pipeline (issue 14) will be a second
`RunTarget`: its ARN (`Ref` of the state machine), `states:StartExecution` as the start
permission, the parameters as the execution's JSON input (Scheduler: `Input`; Pipes:
`StepFunctionStateMachineParameters` plus an `InputTemplate`), and the state machine's
logical ID to depend on. The triggers module only talks to this interface, so retargeting
them is a subclass here overriding the two target shapes, and one more case in
`run_target()`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.config import ConfigError
from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.pipeline import PIPELINE, pipeline_arn


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
    raise ConfigError(
        f'[orchestrator].kind = "{kind}": the stack does not deploy a state machine yet; '
        '`export stepfunctions` writes it (README, "Step Functions and MWAA")'
    )
