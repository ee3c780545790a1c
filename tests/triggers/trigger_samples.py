"""The AWS-shaped sample events under samples/ (shapes from the SageMaker and S3 guides)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from toml_writer import dump_toml

SAMPLES = Path(__file__).resolve().parent / "samples"
AWS_ACCOUNT = "123456789012"  # the account in the sample events
NAMES = (
    "s3_object_created",
    "execution_failed",
    "execution_succeeded",
    "step_failed",
    "step_succeeded",
    "metric_below_threshold",
    "model_package_registered",
    "model_package_approved",
)


def load_sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def localize(event: dict[str, Any]) -> dict[str, Any]:
    """A sample as the local engine writes it: same shape, the local account in the ARNs."""
    return json.loads(json.dumps(event).replace(AWS_ACCOUNT, "000000000000"))


def write_config(directory: Path, **sections: dict[str, Any]) -> Path:
    """pipeline.toml in `directory`: the project's file with `sections` merged in and the
    local home inside `directory`."""
    import tomllib

    from pipelines.config import DEFAULT_CONFIG_PATH

    raw = tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    raw["local"]["home"] = str(directory / "home")
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path = directory / "pipeline.toml"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_toml(raw), encoding="utf-8")
    return path


# Which rule each AWS-shaped sample must trigger (and, implicitly, no other).
EXPECTED = {
    "s3_object_created": {"data-arrival"},
    "execution_failed": {"execution-failed"},
    "execution_succeeded": set(),
    "step_failed": {"step-failed"},
    "step_succeeded": set(),
    "metric_below_threshold": {"metric-below-threshold"},
    "model_package_registered": {"model-package"},
    # A notification, and the deployment rule of [deployment].deploy_on_approval.
    "model_package_approved": {"model-package", "model-approved"},
}


def near_misses() -> list[tuple[str, dict]]:
    """Events one field away from matching."""
    cases = []

    def variant(label, sample, change):
        event = copy.deepcopy(load_sample(sample))
        change(event)
        cases.append((label, event))

    variant(
        "other bucket",
        "s3_object_created",
        lambda e: e["detail"]["bucket"].update(name="other-bucket"),
    )
    variant(
        "outside the prefix",
        "s3_object_created",
        lambda e: e["detail"]["object"].update(
            key="fraud-detection-retraining/data/sample/transactions.csv"
        ),
    )
    variant(
        "sibling prefix",
        "s3_object_created",
        lambda e: e["detail"]["object"].update(key="fraud-detection-retraining/incoming-old/x.csv"),
    )
    variant(
        "object deleted", "s3_object_created", lambda e: e.update({"detail-type": "Object Deleted"})
    )
    variant(
        "other pipeline failed",
        "execution_failed",
        lambda e: e["detail"].update(
            pipelineArn="arn:aws:sagemaker:us-east-1:123456789012:pipeline/other-pipeline"
        ),
    )
    variant(
        "execution stopped",
        "execution_failed",
        lambda e: e["detail"].update(currentPipelineExecutionStatus="Stopped"),
    )
    variant(
        "step executing", "step_failed", lambda e: e["detail"].update(currentStepStatus="Executing")
    )
    variant(
        "other pipeline's step",
        "step_failed",
        lambda e: e["detail"].update(
            pipelineArn="arn:aws:sagemaker:us-east-1:123456789012:pipeline/other"
        ),
    )
    variant(
        "metric step succeeded",
        "metric_below_threshold",
        lambda e: e["detail"].update(currentStepStatus="Succeeded"),
    )
    variant(
        "other group",
        "model_package_registered",
        lambda e: e["detail"].update(ModelPackageGroupName="other-models"),
    )
    variant(
        "package in progress",
        "model_package_registered",
        lambda e: e["detail"].update(ModelPackageStatus="InProgress"),
    )
    variant(
        "wrong source", "model_package_registered", lambda e: e.update(source="custom.sagemaker")
    )
    variant(
        "approved in another group",
        "model_package_approved",
        lambda e: e["detail"].update(ModelPackageGroupName="someone-elses-models"),
    )
    variant(
        "approved while still in progress",
        "model_package_approved",
        lambda e: e["detail"].update(ModelPackageStatus="InProgress"),
    )
    return cases
