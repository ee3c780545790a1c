"""The CreatePipeline / UpdatePipeline request for this project, without importing boto3.

The stack's AWS::SageMaker::Pipeline holds it (pipelines/stack/pipeline.py), `stack deploy`
checks it against botocore's shape before any change set, and so does a local start, so a
pipeline name SageMaker refuses (PipelineName: letters, digits and single hyphens) or a
definition over its size limit fails locally as it would on AWS.
"""

from __future__ import annotations

from typing import Any

from pipelines.config import ProjectConfig


def pipeline_request(config: ProjectConfig, definition: str, role_arn: str) -> dict[str, Any]:
    """The members CreatePipeline and UpdatePipeline share."""
    settings = config.pipeline
    return {
        "PipelineName": settings.name,
        "PipelineDisplayName": settings.name,
        "PipelineDefinition": definition,
        "PipelineDescription": (
            f"Retraining: preprocess, train, evaluate, register into "
            f"{settings.model_package_group} if {settings.metric} clears MetricThreshold."
        ),
        "RoleArn": role_arn,
        "ParallelismConfiguration": {"MaxParallelExecutionSteps": settings.max_parallel_steps},
    }
