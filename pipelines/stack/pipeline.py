"""The SageMaker pipeline and the model package group it registers into.

The pipeline's definition is `get_pipeline()`'s JSON, inline (`PipelineDefinitionBody`), so
the template a reviewer reads is the pipeline that runs. CreatePipeline's own refusals are
checked before any change set is created (`pipelines.conformance.preflight.check_upsert`).
The group is retained when the stack is deleted: it holds the registered models.
"""

from __future__ import annotations

from typing import Any

from pipelines.aws.pipeline_request import pipeline_request
from pipelines.stack import cfn
from pipelines.stack.context import StackContext
from pipelines.stack.lambdas import PIPELINE_STEPS, logical_id

PIPELINE = "Pipeline"
MODEL_PACKAGE_GROUP = "ModelPackageGroup"


def add_to(template: cfn.Template, ctx: StackContext) -> None:
    group = ctx.config.pipeline.model_package_group
    template.add(
        MODEL_PACKAGE_GROUP,
        "AWS::SageMaker::ModelPackageGroup",
        {
            "ModelPackageGroupName": group,
            "ModelPackageGroupDescription": f"Models registered by the {ctx.pipeline} pipeline",
            "Tags": cfn.tag_list(ctx.tags),
        },
        deletion_policy="Retain",
    )
    template.add(
        PIPELINE,
        "AWS::SageMaker::Pipeline",
        pipeline_properties(ctx),
        # The steps' functions exist before the pipeline can call them, and the pipeline is
        # deleted before them.
        depends_on=[MODEL_PACKAGE_GROUP, *(logical_id(p, "Function") for p in PIPELINE_STEPS)],
    )
    template.output("PipelineName", ctx.pipeline, "The SageMaker pipeline (start it by name)")
    template.output(
        "ModelPackageGroupArn", cfn.ref(MODEL_PACKAGE_GROUP), "Where approved models live"
    )


def pipeline_properties(ctx: StackContext) -> dict[str, Any]:
    """AWS::SageMaker::Pipeline's properties: CreatePipeline's request, in the template's
    spelling."""
    request = pipeline_request(ctx.config, ctx.definition, ctx.target.role_arn)
    return {
        "PipelineName": request["PipelineName"],
        "PipelineDisplayName": request["PipelineDisplayName"],
        "PipelineDescription": request["PipelineDescription"],
        "PipelineDefinition": {"PipelineDefinitionBody": request["PipelineDefinition"]},
        "RoleArn": request["RoleArn"],
        "ParallelismConfiguration": request["ParallelismConfiguration"],
        "Tags": cfn.tag_list(ctx.tags),
    }


def pipeline_arn(ctx: StackContext) -> dict:
    """The pipeline's ARN with its name as spelled (StartPipelineExecution accepts it
    whatever the case; IAM grants use both spellings, see cfn.sagemaker_arns)."""
    return cfn.arn("sagemaker", f"pipeline/{ctx.pipeline}")
