"""`dr restore`: register (and serve) a replicated model in the DR region, from the replica
alone.

In a regional outage the primary region's model registry is out of reach, so the restore
reads only what replication copied: each execution's `Evaluate/evaluation.json` (whose
`decision.register` says the model passed the quality gate and beat the champion) and its
`Train/<job>/output/model.tar.gz`. It registers the chosen model in the DR region's model
package group (created by the `<stack>-dr` stack) with the same inference specification the
pipeline's RegisterModel step uses, the DR region's image of the same scikit-learn version,
and the model data and quality report in the replica bucket. `--deploy` approves it and
puts it on an endpoint in the DR region with the deploy function's own code
(`lambdas/deploy_model.py`), as an approval would in the primary region.

Approval states live in the primary region's registry and are not replicated; the newest
model the replica proves registered is the default, `--execution ID` picks another (the
approval notification names the execution that registered each version).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

from pipelines.config import ProjectConfig
from pipelines.deploy.aws_deploy import deploy_module
from pipelines.errors import UsageError
from pipelines.settings.deployment import deploy_tags
from pipelines.stack.context import StackContext, build_context

Printer = Callable[[str], None]
EVALUATION_FILE = "evaluation.json"
# What Evaluate writes beside it (pipelines/definition.py MODEL_QUALITY_FILE; importing the
# definition module would load the SDK).
MODEL_QUALITY_FILE = "model_quality.json"
MODEL_FILE = "model.tar.gz"


@dataclass(frozen=True)
class Candidate:
    """An execution whose model the replica holds and whose evaluation registered it."""

    execution: str
    evaluated: Any  # the evaluation report's LastModified
    metric: str
    value: float | None
    model_uri: str
    quality_uri: str
    # The drift-check baseline's folder in the replica, when the execution wrote one.
    baseline_uri: str | None = None


def candidates(s3: Any, bucket: str, prefix: str) -> list[Candidate]:
    """Registered models in the replica, newest first."""
    root = f"{prefix.strip('/')}/executions/"
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=root, Delimiter="/"
    ):
        for folder in page.get("CommonPrefixes", []):
            candidate = _candidate(s3, bucket, folder["Prefix"])
            if candidate is not None:
                found.append(candidate)
    return sorted(found, key=lambda c: c.evaluated, reverse=True)


def _candidate(s3: Any, bucket: str, folder: str) -> Candidate | None:
    listed = [
        item
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder)
        for item in page.get("Contents", [])
    ]
    report = next((i for i in listed if i["Key"] == f"{folder}Evaluate/{EVALUATION_FILE}"), None)
    models = sorted(
        i["Key"]
        for i in listed
        if i["Key"].startswith(f"{folder}Train/") and i["Key"].endswith(f"/output/{MODEL_FILE}")
    )
    if report is None or not models:
        return None
    try:
        body = s3.get_object(Bucket=bucket, Key=report["Key"])["Body"].read()
        decision = json.loads(body).get("decision") or {}
    except ValueError:
        return None
    if not decision.get("register"):
        return None
    keys = {item["Key"] for item in listed}
    baseline = f"{folder}Baseline/"
    has_baseline = {f"{baseline}statistics.json", f"{baseline}constraints.json"} <= keys
    return Candidate(
        execution=folder.rstrip("/").rsplit("/", 1)[-1],
        evaluated=report["LastModified"],
        metric=str(decision.get("metric", "")),
        value=decision.get("challenger"),
        model_uri=f"s3://{bucket}/{models[-1]}",
        quality_uri=f"s3://{bucket}/{folder}Evaluate/{MODEL_QUALITY_FILE}",
        baseline_uri=f"s3://{bucket}/{baseline}" if has_baseline else None,
    )


def register_request(ctx: StackContext, candidate: Candidate, *, approve: bool) -> dict[str, Any]:
    """CreateModelPackage in the DR region: the pipeline's RegisterModel arguments with the
    DR region's image and the replica's model and quality report."""
    dr = ctx.settings.dr
    arguments = json.loads(json.dumps(_register_step(json.loads(ctx.definition))["Arguments"]))
    (container,) = arguments["InferenceSpecification"]["Containers"]
    container["Image"] = dr_image(ctx)
    container["ModelDataUrl"] = candidate.model_uri
    container.setdefault("Environment", {})["SAGEMAKER_REGION"] = dr.region
    arguments["ModelMetrics"] = {
        "ModelQuality": {
            "Statistics": {"ContentType": "application/json", "S3Uri": candidate.quality_uri}
        }
    }
    # The replica's copy of the model's drift-check baseline (the step's refers to its run).
    arguments.pop("DriftCheckBaselines", None)
    if candidate.baseline_uri:
        arguments["DriftCheckBaselines"] = {
            "ModelDataQuality": {
                kind: {"ContentType": "application/json", "S3Uri": candidate.baseline_uri + name}
                for kind, name in (
                    ("Statistics", "statistics.json"),
                    ("Constraints", "constraints.json"),
                )
            }
        }
    arguments["ModelApprovalStatus"] = "Approved" if approve else "PendingManualApproval"
    arguments["ModelPackageDescription"] = (
        f"Restored in {dr.region} from the replica of execution {candidate.execution} "
        f"({ctx.config.aws.region})"
    )
    arguments["CustomerMetadataProperties"] = {
        "restored-from-execution": candidate.execution,
        "source-region": ctx.config.aws.region,
    }
    arguments.pop("SkipModelValidation", None)
    return arguments


def _register_step(definition: dict[str, Any]) -> dict[str, Any]:
    pending = list(definition.get("Steps", []))
    while pending:
        step = pending.pop(0)
        if step.get("Type") == "RegisterModel":
            return step
        arguments = step.get("Arguments", {})
        pending += arguments.get("IfSteps", []) + arguments.get("ElseSteps", [])
    raise LookupError("the definition has no RegisterModel step")


def dr_image(ctx: StackContext) -> str:
    """The scikit-learn inference image of the configured version, in the DR region."""
    # Deferred: the SageMaker SDK (~1,700 modules, ~2 s of CPU), needed only once there is
    # a model to register (the context comes from the cached definition, without the SDK).
    from pipelines.sdk import image_uris, offline_environment

    region = ctx.settings.dr.region
    with offline_environment(region):
        return image_uris.retrieve(
            framework="sklearn",
            region=region,
            version=ctx.config.pipeline.sklearn_image_version,
            py_version="py3",
            instance_type=ctx.deployment.instance_type,
            image_scope="inference",
        )


def restore(
    config: ProjectConfig,
    *,
    execution: str | None = None,
    approve: bool = False,
    deploy: bool = False,
    list_only: bool = False,
    session: Any = None,
    out: Printer = print,
) -> int:
    ctx = build_context(config)
    dr = ctx.settings.dr
    if not dr.enabled:
        raise UsageError("dr restore needs [dr] in pipeline.toml (region and bucket)")
    session = session or boto3.Session(region_name=dr.region)
    s3 = session.client("s3", region_name=dr.region)
    found = candidates(s3, dr.bucket, ctx.s3_prefix)
    if list_only or not found:
        out(f"Registered models in the replica s3://{dr.bucket} ({dr.region}), newest first:")
        for c in found:
            value = "?" if c.value is None else f"{c.value:.4f}"
            out(f"  {c.execution:<16} {c.metric} {value}  evaluated {c.evaluated}  {c.model_uri}")
        if not found:
            out("  (none: no replicated execution holds a registered model yet)")
            return 0 if list_only else 1
        return 0
    if execution:
        chosen = next((c for c in found if c.execution == execution), None)
        if chosen is None:
            raise UsageError(
                f"execution {execution} has no registered model in s3://{dr.bucket}; "
                "`dr restore --list` shows those that do"
            )
    else:
        chosen = found[0]
    sagemaker = session.client("sagemaker", region_name=dr.region)
    request = register_request(ctx, chosen, approve=approve or deploy)
    arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
    out(
        f"Registered {arn} ({request['ModelApprovalStatus']}) in {dr.region} from execution "
        f"{chosen.execution}: {chosen.model_uri}"
    )
    if not deploy:
        return 0
    result = deploy_module(config).deploy(
        sagemaker,
        arn,
        group=config.pipeline.model_package_group,
        endpoint_name=dr.endpoint_name or ctx.deployment.endpoint_name,
        instance_type=ctx.deployment.instance_type,
        instance_count=ctx.deployment.initial_instance_count,
        role_arn=dr.role_arn or ctx.target.role_arn,
        tags=deploy_tags(config),
    )
    if result["action"] == "ignored":
        out(f"Not deployed: {result['reason']}")
        return 1
    out(
        f"Endpoint {result['endpoint']} in {dr.region}: {result['action']} with "
        f"{result['endpoint_config']}"
    )
    return 0
