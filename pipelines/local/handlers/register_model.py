"""RegisterModel steps: a new version in a model package group of the local registry."""

from __future__ import annotations

import json
from typing import Any

from pipelines.local.step import Outcome, StepFailed, StepRun
from pipelines.local.storage import StoreError
from pipelines.model_metadata import MODEL_CONTENT_DIGEST

_HANDLED = {
    "ModelPackageGroupName",
    "InferenceSpecification",
    "ModelApprovalStatus",
    "ModelMetrics",
    "ModelPackageDescription",
    "CustomerMetadataProperties",
}


class RegisterModelHandler:
    resolve_arguments = True
    job_kind = None

    def run(self, run: StepRun) -> Outcome:
        arguments = run.arguments or {}
        group = arguments.get("ModelPackageGroupName")
        if not group:
            raise StepFailed("RegisterModel needs ModelPackageGroupName (versioned packages only)")
        specification = arguments.get("InferenceSpecification") or {}
        store = run.services.store
        for container in specification.get("Containers") or []:
            url = container.get("ModelDataUrl")
            if url and not store.exists(url):
                raise StepFailed(
                    f"ValidationException: model data {url} does not exist in the local store"
                )
        metrics = _drop_empty(arguments.get("ModelMetrics") or {})
        evaluation = None
        statistics = ((metrics.get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri")
        if statistics:
            try:
                evaluation = json.loads(store.read_bytes(statistics))
            except (StoreError, ValueError):
                evaluation = None  # SageMaker does not read the file either; the summary says so
        extra = {
            k: v
            for k, v in arguments.items()
            if k not in _HANDLED and v not in (None, "None", {}, [])
        }
        described, created = run.services.registry.register_once(
            group,
            inference_specification=specification,
            approval_status=arguments.get("ModelApprovalStatus") or "PendingManualApproval",
            model_metrics=metrics,
            evaluation_metrics=evaluation,
            description=arguments.get("ModelPackageDescription"),
            customer_metadata=arguments.get("CustomerMetadataProperties"),
            source_execution_arn=run.services.execution_arn,
            extra=extra,
        )
        metadata: dict[str, Any] = {"RegisterModel": {"Arn": described["ModelPackageArn"]}}
        if not created:
            metadata["AlreadyRegistered"] = {"Message": _already_registered(described)}
        return Outcome(described, metadata)


def _already_registered(described: dict[str, Any]) -> str:
    # Another execution registered these very files after FindRegisteredModel looked, past
    # its claim. Only the local registry's lock catches that; say SageMaker would not.
    source = (described.get("MetadataProperties") or {}).get("GeneratedBy", "")
    return (
        f"version {described['ModelPackageVersion']} already holds this model "
        f"(the same {MODEL_CONTENT_DIGEST}, registered by execution "
        f"{source.rsplit('/', 1)[-1] or 'unknown'} while this one ran): nothing new "
        "was registered. On SageMaker, where no lock spans executions and only "
        "FindRegisteredModel's claim stands in the way, this run would have "
        "registered a duplicate version"
    )


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in ({}, [], None)}
    return value
